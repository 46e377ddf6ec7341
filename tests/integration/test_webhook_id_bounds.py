"""Ids beyond 64 bits are bad input (400 naming the field), never a database error."""

from __future__ import annotations

import httpx

from payhub.bootstrap import Container
from tests.conftest import bill_body, khqr_body, signed


async def test_bill_id_beyond_64_bits_is_bad_request(container: Container, client: httpx.AsyncClient) -> None:
    raw, headers = signed(container, {**bill_body(), "id": 2**63})
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 400, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == ["id"]


async def test_invoice_number_beyond_64_bits_is_bad_request(container: Container, client: httpx.AsyncClient) -> None:
    raw, headers = signed(container, {**khqr_body(1), "invoice_number": "9" * 19})
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 400, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == ["invoice_number"]
    largest, headers = signed(container, {**khqr_body(1), "invoice_number": "9" * 18})
    r = await client.post("/AMK/khqr", content=largest, headers=headers)
    assert r.status_code == 404, r.text  # valid shape, no such payment: RESOURCE_NOT_FOUND, not a 500


async def test_path_ids_beyond_64_bits_are_not_found(container: Container, client: httpx.AsyncClient) -> None:
    from tests.conftest import auth_header

    huge = str(2**64)
    r = await client.get(f"/api/payments/{huge}", headers=auth_header(container, "admin"))
    assert r.status_code == 404, r.text
    r = await client.get(f"/integration/premiums/{huge}", headers=auth_header(container, "service"))
    assert r.status_code == 404, r.text


async def test_path_ids_past_python_int_digit_limit_are_not_found(
    container: Container, client: httpx.AsyncClient
) -> None:
    # Starlette's ``int`` path convertor calls int() on any run of digits: past 4,300 digits that raises
    # ValueError while routing, a 500 with a traceback.
    from tests.conftest import auth_header

    for digits in ("9" * 5000, "0" * 5000 + "1"):
        for path, role in (
            (f"/api/payments/{digits}", "admin"),
            (f"/api/payments/{digits}/events", "admin"),
            (f"/integration/premiums/{digits}", "service"),
        ):
            r = await client.get(path, headers=auth_header(container, role))
            assert r.status_code == 404, (path[:40], r.text)
            assert r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
