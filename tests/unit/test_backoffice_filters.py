"""What the back office's admin API and CLI accept (``backoffice.filters``): any input is either a
valid filter or body, or a BAD_REQUEST naming its fields, never another error; dates are days in
Asia/Phnom_Penh."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backoffice.filters import NoteBody, PaymentFilter, ResolveBody, ReviewFilter, query_dict, validate
from hub.domain.payment import PaymentStatus
from hub.domain.reviews import ReviewOutcome, ReviewState
from hub.errors import BadRequest

NAMES = ["state", "kind", "outcome", "from", "to", "policy", "payment", "limit", "before"]
PAYMENT_NAMES = ["transactionId", "policy", "payer", "status", "from", "to", "limit", "before"]
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["2026-11-27", "2026-11-27T10:00:00+07:00", "9999-12-31", "0001-01-01", "OPEN", "-1", "1" * 30]),
    st.integers(-(2**70), 2**70).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
)


def _refused_well(exc: BadRequest) -> None:
    assert exc.status_code == 400 and exc.code == "BAD_REQUEST"
    assert exc.details and all(set(d) == {"field", "message"} and d["field"] for d in exc.details)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.sampled_from([*NAMES, *PAYMENT_NAMES, "x"]), TEXT),
        max_size=6,
    )
)
def test_any_query_is_a_filter_or_a_bad_request(items: list[tuple[str, str]]) -> None:
    for model, multi in ((ReviewFilter, ("state", "kind", "outcome")), (PaymentFilter, ("status",))):
        try:
            query = validate(model, query_dict(items, multi), "query").query()  # type: ignore[attr-defined]
        except BadRequest as exc:
            _refused_well(exc)
            continue
        start, end = query.created_from, query.created_to
        assert start is None or start.tzinfo is not None
        assert start is None or end is None or start < end
        assert 1 <= query.limit <= 500


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.sampled_from(["note", "outcome", "x"]), st.one_of(TEXT, st.integers(), st.none())))
def test_any_body_is_an_action_or_a_bad_request(body: dict[str, Any]) -> None:
    for model in (ResolveBody, NoteBody):
        try:
            done = validate(model, body, "body")
        except BadRequest as exc:
            _refused_well(exc)
            continue
        assert done.note == done.note.strip() and 1 <= len(done.note) <= 2000
        assert done.note.encode("utf-8")  # storable as UTF-8


def test_days_are_whole_days_in_phnom_penh() -> None:
    q = validate(ReviewFilter, {"from": "2026-11-27", "to": "2026-11-27"}, "query").query()
    assert q.created_from == datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    assert q.created_to == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # the day included
    q = validate(ReviewFilter, {"from": "2026-11-27T08:00:00", "to": "2026-11-27T09:00:00Z"}, "query").query()
    assert q.created_from == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # no offset: Phnom Penh
    assert q.created_to == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"from": "2026-11-28", "to": "2026-11-27"}, "to"),
        ({"from": "27/11/2026"}, "from"),
        ({"from": "0001-01-01"}, "from"),  # would overflow in a time zone
        ({"to": "9999-12-31"}, "to"),  # the day after would overflow
        ({"state": "OPEN,CLOSED"}, "state"),
        ({"kind": "double payment"}, "kind"),
        ({"payment": "0"}, "payment"),
        ({"before": str(2**63)}, "before"),
        ({"limit": "1.5"}, "limit"),
        ({"policy": "P12;DROP"}, "policy"),
        ({"unknown": "1"}, "unknown"),
    ],
)
def test_bad_review_filters_name_their_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        validate(ReviewFilter, data, "query")
    assert field in [d["field"] for d in refused.value.details]


def test_filter_values_are_read_leniently_where_it_is_safe() -> None:
    q = validate(
        ReviewFilter,
        query_dict([("state", "open, escalated"), ("state", "OPEN"), ("kind", "Fraud")], ["state", "kind"]),
        "query",
    ).query()
    assert q.states == (ReviewState.OPEN, ReviewState.ESCALATED) and q.kinds == ("fraud",)
    assert validate(ReviewFilter, {"outcome": "Refund-Required"}, "query").query().outcomes == (
        ReviewOutcome.REFUND_REQUIRED,
    )
    p = validate(PaymentFilter, {"status": "confirmed,failed", "payer": "  Jane  "}, "query").query()
    assert p.statuses == (PaymentStatus.CONFIRMED, PaymentStatus.FAILED) and p.payer == "Jane"


def test_notes_keep_lines_and_refuse_control_characters() -> None:
    assert validate(NoteBody, {"note": "  line 1\nline 2\tend  "}, "body").note == "line 1\nline 2\tend"
    for bad in ("a\x00b", "a\x1bb", "\ud800", "", "   ", "x" * 2001):
        with pytest.raises(BadRequest):
            validate(NoteBody, {"note": bad}, "body")
    assert validate(ResolveBody, {"note": "n", "outcome": "ACCEPTED"}, "body").outcome is ReviewOutcome.ACCEPTED
    with pytest.raises(BadRequest) as refused:
        validate(NoteBody, {"note": "n", "outcome": "accepted"}, "body")  # reopen/escalate take no outcome
    assert refused.value.details == [{"field": "outcome", "message": "unknown field"}]
