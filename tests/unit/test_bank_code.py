"""``GET /khqr``'s ``bankCode`` in the spec's two forms: the bare code of the flow diagram (``AMK``) and the JSON
object of GenerateKhqrReqDto (``{"id":"AMK","bank":"AMK"}``) are read by the same rules (a differential property)."""

from __future__ import annotations

import simplejson as json
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import BadRequest, BankNotFound, PayHubError
from khqr.service import parse_bank_code


def outcome(raw: str) -> tuple[str, object]:
    try:
        return "ok", parse_bank_code(raw)
    except PayHubError as exc:
        return exc.code, exc.status_code


CODES = st.one_of(
    st.sampled_from(["AMK", "amk", "Amk", "ABA", "ACLEDA", "AMK-1", "A_B", "X" * 32, "X" * 33]),
    st.text(st.characters(codec="utf-8"), max_size=40),
)


@given(CODES)
def test_the_bare_code_and_the_json_object_are_one_rule(code: str) -> None:
    bare = outcome(code)
    as_object = outcome(json.dumps({"id": code, "bank": code}))
    as_string = outcome(json.dumps(code))
    stripped = code.strip()
    if stripped.startswith(("{", '"')) or stripped != code:
        return  # text that is itself JSON, or padded: only the JSON forms carry it unchanged
    assert bare == as_object == as_string or (not code and bare[0] == "BAD_REQUEST")


def test_the_flow_diagram_form_names_amk_in_any_case() -> None:
    for raw in ("AMK", "amk", " AMK ", '"AMK"', '{"id":"AMK","bank":"AMK"}'):
        value = parse_bank_code(raw)
        assert value["id"].upper() == value["bank"].upper() == "AMK"


def test_unknown_bank_is_bank_not_found_naming_what_is_supported() -> None:
    for raw in ("ABA", '{"id":"ABA","bank":"ABA"}', '"ABA"'):
        try:
            parse_bank_code(raw)
        except BankNotFound as exc:
            assert exc.status_code == 404
            assert exc.details["supported"] == ["AMK"]
            assert "ABA" in exc.message
        else:
            raise AssertionError(raw)


def test_what_is_no_bank_code_is_a_400_naming_both_forms() -> None:
    for raw in ("", "AMK!", "A MK", "{", '{"id":"AMK"}', "[1]", '{"id":"A K","bank":"A K"}', "X" * 33):
        try:
            parse_bank_code(raw)
        except BadRequest as exc:
            assert [d["field"] for d in exc.details] == ["bankCode"], raw
            if raw in ("", "AMK!"):
                assert "AMK" in exc.details[0]["message"] and "{" in exc.details[0]["message"]
        else:
            raise AssertionError(raw)
