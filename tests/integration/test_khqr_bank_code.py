"""``GET /khqr?bankCode=AMK&billNumber=…`` (the spec's flow diagram) beside the JSON form, over HTTP: the same
session, the same validation, the same envelope; a refused request changes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import auth_header, sqlite_process, table_counts

TABLES = ("payments", "khqr_sessions", "payment_events")


async def test_bare_and_json_bank_codes_give_the_same_session(tmp_path: Path) -> None:
    async with sqlite_process(tmp_path) as (c, client):
        headers = auth_header(c)
        bare = await client.get("/khqr?bankCode=AMK&billNumber=P123456789", headers=headers)
        assert bare.status_code == 200, bare.text
        as_json = await client.get(
            "/khqr", params={"bankCode": '{"id":"AMK","bank":"AMK"}', "billNumber": "P123456789"}, headers=headers
        )
        lower = await client.get("/khqr?bankCode=amk&billNumber=P123456789", headers=headers)
        sessions = {r.json()["data"]["sessionId"] for r in (bare, as_json, lower)}
        assert len(sessions) == 1
        assert bare.json()["data"]["qrString"] == as_json.json()["data"]["qrString"]


async def test_refusals_are_enveloped_and_change_nothing(tmp_path: Path) -> None:
    async with sqlite_process(tmp_path) as (c, client):
        before = await table_counts(c, TABLES)
        for query, status, code in (
            ("bankCode=ABA", 404, "BANK_NOT_FOUND"),
            ('bankCode={"id":"ABA","bank":"ABA"}', 404, "BANK_NOT_FOUND"),
            ("bankCode=AMK%21", 400, "BAD_REQUEST"),
            ("bankCode=", 400, "BAD_REQUEST"),
        ):
            r = await client.get(f"/khqr?{query}&billNumber=P123456789", headers=auth_header(c))
            assert r.status_code == status, (query, r.text)
            error = r.json()["error"]
            assert r.json()["success"] is False
            assert error["code"] == code
            assert error["correlationId"] == r.headers["x-correlation-id"]
            if code == "BAD_REQUEST":
                assert error["details"][0]["field"] == "bankCode"
            else:
                assert error["details"]["supported"] == ["AMK"]
        assert await table_counts(c, TABLES) == before
