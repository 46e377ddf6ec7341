"""``GET /admin/analytics`` over real HTTP (uvicorn on a loopback port), on SQLite and PostgreSQL.

Known attempts with chosen times give exact expected figures, ends of the range included (start) and
excluded (end); a payment made through the real webhook path shows in the default range; every bad
range is a 400 in the spec's envelope naming the parameter; only an admin token is let in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.domain.analytics import hour_label
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, bank_paid, bill_body, make_settings, running, signed
from tests.integration.analytics_data import add_attempt

ICT = "+07:00"
DAY = {"from": f"2026-11-01T00:00:00{ICT}", "to": f"2026-11-02T00:00:00{ICT}"}
S, M, C = PaymentStatus, PaymentMethod, Currency


def at(text: str) -> datetime:
    """A Phnom Penh wall-clock time on 1 November 2026 (or a full ISO instant)."""
    return datetime.fromisoformat(text if "T" in text else f"2026-11-01T{text}{ICT}")


async def seed_day(c: Container) -> None:
    """The attempts whose figures ``EXPECTED_DAY`` states."""
    s = c.store
    await add_attempt(s, S.CONFIRMED, M.KHQR, "150.00", C.USD, at("10:00:00"), at("10:00:02.500000"))
    await add_attempt(s, S.CONFIRMED, M.KHQR, "0.10", C.USD, at("10:30:00"), at("10:30:01.500000"))
    await add_attempt(s, S.CONFIRMED, M.BILL, "600000", C.KHR, at("14:00:00"), at("14:00:03"))
    await add_attempt(s, S.FAILED, M.KHQR, "99.99", C.USD, at("11:00:00"), at("11:00:04"))
    await add_attempt(s, S.EXPIRED, M.KHQR, "20.00", C.USD, at("09:00:00"), at("09:30:00"))
    await add_attempt(s, S.PENDING, None, "30.00", C.USD, at("15:00:00"))
    await add_attempt(s, S.PROCESSING, M.BILL, "40.00", C.USD, at("16:00:00"), at("16:00:01"))
    # on the range's ends: ended exactly at its start (in), exactly at its end (out)
    await add_attempt(s, S.CONFIRMED, M.KHQR, "49.90", C.USD, at("2026-10-31T23:59:58+07:00"), at("00:00:00"))
    await add_attempt(s, S.CONFIRMED, M.BILL, "1.00", C.USD, at("23:59:59"), at("2026-11-02T00:00:00+07:00"))
    # open, but created before the range
    await add_attempt(s, S.PENDING, M.KHQR, "5.00", C.USD, at("2026-10-31T23:59:59.999999+07:00"))


EXPECTED_DAY = {
    "realTimeMetrics": {
        "activePayments": 2,
        "successRate": 0.6667,  # 4 CONFIRMED of 6 ended
        "averageProcessingTime": "2.6 seconds",  # (2.5 + 1.5 + 3 + 2 + 4) / 5, EXPIRED left out
        "averageProcessingTimeSeconds": 2.6,
        "peakHours": ["10:00-11:00", "00:00-01:00", "14:00-15:00"],
        "terminalPayments": {"CONFIRMED": 4, "FAILED": 1, "EXPIRED": 1},
        "transactionsByHour": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    },
    "businessMetrics": {
        "totalVolume": {"USD": "200.00", "KHR": "600000"},
        "transactionCount": 4,
        "popularPaymentMethods": {"KHQR": 0.75, "BILL_PAYMENT": 0.25},
        "transactionsByMethod": {"KHQR": 3, "BILL_PAYMENT": 1},
    },
}


@pytest.fixture
async def http(live: LiveServer) -> Any:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


async def get(c: Container, http: httpx.AsyncClient, params: Any = None, role: str = "admin") -> httpx.Response:
    return await http.get("/admin/analytics", params=params, headers=auth_header(c, role))


async def test_known_attempts_give_exact_figures(container: Container, http: httpx.AsyncClient) -> None:
    await seed_day(container)
    r = await get(container, http, DAY)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["success"] is True
    analytics = r.json()["data"]["analytics"]
    assert analytics["range"] == {
        "from": "2026-11-01T00:00:00+07:00",
        "to": "2026-11-02T00:00:00+07:00",
        "timeZone": "Asia/Phnom_Penh",
    }
    assert {k: analytics[k] for k in EXPECTED_DAY} == EXPECTED_DAY
    # The same range written in UTC, with Z: the same figures.
    utc = await get(container, http, {"from": "2026-10-31T17:00:00Z", "to": "2026-11-01T17:00:00.000000Z"})
    assert {k: utc.json()["data"]["analytics"][k] for k in EXPECTED_DAY} == EXPECTED_DAY


async def test_an_empty_range_has_no_rates(container: Container, http: httpx.AsyncClient) -> None:
    await seed_day(container)
    r = await get(container, http, {"from": "2026-12-01T00:00:00+07:00", "to": "2026-12-02T00:00:00+07:00"})
    assert r.status_code == 200, r.text
    analytics = r.json()["data"]["analytics"]
    assert analytics["realTimeMetrics"] == {
        "activePayments": 0,
        "successRate": None,
        "averageProcessingTime": None,
        "averageProcessingTimeSeconds": None,
        "peakHours": [],
        "terminalPayments": {"CONFIRMED": 0, "FAILED": 0, "EXPIRED": 0},
        "transactionsByHour": [0] * 24,
    }
    assert analytics["businessMetrics"] == {
        "totalVolume": {"USD": "0.00", "KHR": "0"},
        "transactionCount": 0,
        "popularPaymentMethods": {},
        "transactionsByMethod": {},
    }


async def test_a_payment_made_over_http_shows_in_the_default_range(
    container: Container, http: httpx.AsyncClient
) -> None:
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    raw, headers = signed(container, body)
    paid = await http.post("/AMK/payments", content=raw, headers=headers)
    assert paid.json()["data"]["status"] == "CONFIRMED", paid.text
    r = await get(container, http)  # no range: the last 24 hours
    analytics = r.json()["data"]["analytics"]
    start = datetime.fromisoformat(analytics["range"]["from"])
    end = datetime.fromisoformat(analytics["range"]["to"])
    assert end - start == timedelta(days=1)
    assert abs(end - datetime.now(UTC)) < timedelta(seconds=30)
    business = analytics["businessMetrics"]
    assert (business["transactionCount"], business["totalVolume"]["USD"]) == (1, "150.00")
    assert business["popularPaymentMethods"] == {"BILL_PAYMENT": 1.0}
    assert analytics["realTimeMetrics"]["successRate"] == 1.0
    by_hour = analytics["realTimeMetrics"]["transactionsByHour"]
    assert sum(by_hour) == 1
    assert analytics["realTimeMetrics"]["peakHours"] == [hour_label(by_hour.index(1))]
    # A window of one hour, and a range whose "+" was sent unencoded (so it arrives as a space).
    short = await get(container, http, {"window": "3600"})
    assert short.json()["data"]["analytics"]["businessMetrics"]["transactionCount"] == 1
    frm = (datetime.now(UTC) - timedelta(hours=2)).astimezone(timezone(timedelta(hours=7))).isoformat()
    assert "+07:00" in frm
    spaced = await http.get(f"/admin/analytics?from={frm}", headers=auth_header(container, "admin"))
    assert spaced.status_code == 200, spaced.text
    assert spaced.json()["data"]["analytics"]["businessMetrics"]["transactionCount"] == 1


BAD_RANGES: list[tuple[Any, str, str]] = [
    ({"from": "2026-11-01T00:00:00"}, "from", "UTC offset"),
    ({"from": "2026-11-01"}, "from", "UTC offset"),
    ({"from": "yesterday"}, "from", "ISO 8601"),
    ({"from": ""}, "from", "ISO 8601"),
    ({"to": "2026-13-01T00:00:00Z"}, "to", "ISO 8601"),
    ({"from": "2026-11-01T00:00:00Z" + " " * 80}, "from", "at most 64"),
    ({"from": "0001-01-01T00:00:00+01:00"}, "from", "1970 to 9998"),
    ({"to": "9999-12-31T23:59:59-05:00"}, "to", "1970 to 9998"),
    ({"from": "1969-12-31T23:00:00Z", "to": "1970-01-02T00:00:00Z"}, "from", "1970 to 9998"),
    ({"from": "2026-11-02T00:00:00+07:00", "to": "2026-11-01T00:00:00+07:00"}, "to", "after from"),
    ({"from": "2026-11-01T00:00:00+07:00", "to": "2026-10-31T17:00:00Z"}, "to", "after from"),  # same instant
    ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-02T00:00:00.000001Z"}, "to", "366 days"),
    ({"from": "2999-01-01T00:00:00Z"}, "from", "before now"),
    ({"from": "2020-01-01T00:00:00Z"}, "from", "366 days"),  # to absent: now
    ({"window": "0"}, "window", "whole number"),
    ({"window": "-60"}, "window", "whole number"),
    ({"window": "1.5"}, "window", "whole number"),
    ({"window": "31622401"}, "window", "whole number"),
    ({"window": "٣٦٠٠"}, "window", "whole number"),  # Arabic-Indic digits: isdigit() but not ASCII
    ({"window": "3600", "from": "2026-11-01T00:00:00Z"}, "window", "not both"),
    ({"start": "2026-11-01T00:00:00Z"}, "start", "unknown parameter"),
    ([("from", "2026-11-01T00:00:00Z"), ("from", "2026-11-01T01:00:00Z")], "from", "more than once"),
]


@pytest.fixture
async def sqlite_http(tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """For what the database does not change: one process on SQLite, over real HTTP."""
    async with running(make_settings(f"sqlite:///{tmp_path}/payhub.db")) as c:
        assert c.app is not None
        async with LiveServer(c.app) as server, httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield c, client


async def test_bad_ranges_are_refused_with_the_parameter_named(
    sqlite_http: tuple[Container, httpx.AsyncClient],
) -> None:
    c, http = sqlite_http
    for params, field, says in BAD_RANGES:
        for path in ("/admin/analytics", "/admin/analytics/stream"):
            r = await http.get(path, params=params, headers=auth_header(c, "admin"))
            assert r.status_code == 400, (params, path, r.text)
            body = r.json()
            assert body["success"] is False and body["error"]["code"] == "BAD_REQUEST", body
            assert body["error"]["details"] == [{"field": field, "message": body["error"]["details"][0]["message"]}]
            assert says in body["error"]["details"][0]["message"], (params, body)
            assert r.headers["x-correlation-id"] == body["error"]["correlationId"]


async def test_only_an_admin_token_is_let_in(sqlite_http: tuple[Container, httpx.AsyncClient]) -> None:
    c, http = sqlite_http
    for role, status in ((None, 401), ("customer", 403), ("amk", 403)):
        for path in ("/admin/analytics", "/admin/analytics/stream"):
            headers = auth_header(c, role) if role else {}
            r = await http.get(path, params={"from": "nonsense"}, headers=headers)  # checked before the range
            assert r.status_code == status, (role, path, r.text)
            assert r.json()["success"] is False
    # The token goes in the header only (the dashboard reads the stream with fetch): ?token= is refused
    token = auth_header(c, "admin")["Authorization"].removeprefix("Bearer ")
    async with http.stream("GET", "/admin/analytics/stream", params={"token": token}) as r:
        assert r.status_code == 401 and (await r.aread()) and r.json()["error"]["code"] == "UNAUTHORIZED"
    async with http.stream("GET", "/admin/analytics/stream", headers=auth_header(c, "admin")) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
