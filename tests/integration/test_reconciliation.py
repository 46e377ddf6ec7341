"""Issue 9, reconciliation: a day with every outcome, on SQLite and PostgreSQL, through the admin API.

The sandbox bank pays through its real webhooks; its statement and payment-verify are then altered
(``POST /sandbox/amk/control`` ``statement.drop|add|alter``) so each outcome happens end to end. Every
clock of the process is frozen, so the payments, the bank's paid times and the run share one day.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from backoffice.reconcile.days import local_day
from backoffice.reconcile.runner import Reconciler
from backoffice.reconcile.schedule import DailyReconciliation
from hub.adapters.store.sql import Tx
from hub.domain.money import Currency
from hub.domain.records import Premium
from hub.domain.timezones import PHNOM_PENH
from hub.errors import ServiceUnavailable
from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, make_settings, running, signed
from tests.integration.test_khqr_sessions import BANK, FakeClock

EXTRA_PREMIUM = Premium(150005, "P500000005", "Keo Vanna", Decimal("20.00"), Currency.USD, date(2027, 2, 1))


def freeze(c: Container, clock: FakeClock) -> None:
    for service in (c.webhooks, c.reverifier, c.inquiry, c.khqr, c.expiry, c.premiums, c.reconciler):
        service.clock = clock
    c.daily_reconciliation.clock = clock
    c.sandbox_state.clock = lambda: clock.now.timestamp()


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient, FakeClock]]:
    settings = make_settings(db_url, reports_dir=str(tmp_path / "reports"), reconcile_stuck_after_s=3600)
    async with running(settings) as c:
        clock = FakeClock()
        freeze(c, clock)
        async with c.store.transaction() as tx:
            await tx.upsert_premium(EXTRA_PREMIUM, clock.now)
        assert c.app is not None
        transport = httpx.ASGITransport(app=c.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield c, client, clock


async def pay_bill(client: httpx.AsyncClient, policy: str) -> str:
    r = await client.post("/sandbox/amk/simulate/pay", json={"billNumber": policy, "method": "BILL"})
    assert r.status_code == 200, r.text
    tx_id: str = r.json()["data"]["transactionId"]
    return tx_id


async def pay_khqr(c: Container, client: httpx.AsyncClient, policy: str) -> str:
    r = await client.get("/khqr", params={"bankCode": BANK, "billNumber": policy}, headers=auth_header(c))
    assert r.status_code == 200, r.text
    payment_id = r.json()["data"]["paymentId"]
    r = await client.post("/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["webhooks"][0]["attempts"][-1]["status"] == 200
    return str(payment_id)


async def control(client: httpx.AsyncClient, **body: Any) -> None:
    r = await client.post("/sandbox/amk/control", json=body)
    assert r.status_code == 200, r.text


async def reconcile(c: Container, client: httpx.AsyncClient, day: date) -> dict[str, Any]:
    """POST a run, wait for it, and return ``GET /admin/reconciliation/runs/{id}?items=all``."""
    admin = auth_header(c, "admin")
    r = await client.post("/admin/reconciliation/runs", json={"date": day.isoformat()}, headers=admin)
    assert r.status_code == 202, r.text
    assert r.json()["data"]["started"] is True
    await c.daily_reconciliation.wait_idle()
    r = await client.get(f"/admin/reconciliation/runs/{r.json()['data']['id']}?items=all", headers=admin)
    assert r.status_code == 200, r.text
    run: dict[str, Any] = r.json()["data"]
    return run


def outcomes(run: dict[str, Any]) -> dict[str, str]:
    return {i["txRef"]: i["outcome"] for i in run["items"]}


def alerts(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.levelno == logging.ERROR and r.getMessage().startswith("ALERT reconciliation")
    ]


async def reconcile_reviews(c: Container) -> list[dict[str, Any]]:
    async with c.store.transaction() as tx:
        return [r for r in await tx.reviews(limit=1000) if r["key"].startswith("reconcile:")]


async def mismatch_metric(c: Container, client: httpx.AsyncClient) -> dict[str, float]:
    r = await client.get("/metrics", headers=auth_header(c, "admin"))
    prefix = "payhub_reconciliation_mismatches_total{outcome="
    return {
        line[len(prefix) + 1 : line.index('"}')]: float(line.split()[-1])
        for line in r.text.splitlines()
        if line.startswith(prefix)
    }


async def test_a_day_with_every_outcome_then_a_rerun_updates_and_never_duplicates(
    world: tuple[Container, httpx.AsyncClient, FakeClock], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    c, client, clock = world
    day = local_day(clock.now)
    matched = await pay_bill(client, "P123456789")  # 150.00 USD
    dropped = await pay_bill(client, "P987654321")  # 600000 KHR: the bank then forgets it
    altered = await pay_khqr(c, client, "P555000111")  # 75.50 USD by KHQR: the bank then holds 75.00
    recurrency = await pay_bill(client, "P500000005")  # 20.00 USD: the bank then holds 20 KHR
    await control(client, verifyAvailable=False)
    stuck = await pay_bill(client, "P444000222")  # 250000 KHR, recorded PROCESSING (AMK unreachable)
    await control(client, verifyAvailable=True)
    await control(
        client,
        statement={
            "drop": [dropped],
            "add": [{"txId": "AMK-UNSEEN-1", "channel": "BILL", "amount": "10.00", "currency": "USD"}],
            "alter": [{"txId": altered, "amount": "75.00"}, {"txId": recurrency, "currency": "KHR"}],
        },
    )
    statement = await client.get(f"/sandbox/amk/statements/{day}.csv")
    assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
    assert dropped not in statement.text and "AMK-UNSEEN-1" in statement.text
    clock.advance(hours=2)  # the PROCESSING payment is now past the one-hour threshold

    caplog.set_level(logging.INFO)
    run = await reconcile(c, client, day)

    assert run["status"] == "COMPLETED", run
    assert outcomes(run) == {
        matched: "matched",
        dropped: "missing_at_amk",
        altered: "amount_mismatch",
        recurrency: "amount_mismatch",
        stuck: "stuck_processing",
        "AMK-UNSEEN-1": "missing_in_payhub",
    }
    summary = run["summary"]
    assert summary["counts"] == {
        "matched": 1,
        "missing_in_payhub": 1,
        "amount_mismatch": 2,
        "missing_at_amk": 1,
        "stuck_processing": 1,
    }
    assert (summary["transactions"], summary["mismatches"], summary["undecided"]) == (6, 5, 0)
    # PayHub holds 150.00 + 75.50 + 20.00 USD and 600000 + 250000 KHR; AMK reports 150 + 75 + 10 USD, 250000 + 20 KHR.
    assert summary["totals"] == {
        "payhub": {"KHR": "850000", "USD": "245.50"},
        "amk": {"KHR": "250020", "USD": "235.00"},
    }
    assert run["statement"]["source"] == "fetched"

    reviews = await reconcile_reviews(c)
    assert sorted(r["key"] for r in reviews) == sorted(
        [
            f"reconcile:missing_at_amk:BILL:{dropped}",
            f"reconcile:amount_mismatch:KHQR:{altered}",
            f"reconcile:amount_mismatch:BILL:{recurrency}",
            f"reconcile:stuck_processing:BILL:{stuck}",
            "reconcile:missing_in_payhub:BILL:AMK-UNSEEN-1",
        ]
    )
    unseen = next(r for r in reviews if "AMK-UNSEEN-1" in r["key"])
    assert unseen["paymentId"] is None and unseen["payload"]["statement"]["amount"] == "10.00"
    fired = alerts(caplog)
    assert len(fired) == 5
    assert {r.getMessage() for r in fired} == {
        "ALERT reconciliation: AMK reports money PayHub never recorded",
        "ALERT reconciliation: amount or currency differs from AMK",
        "ALERT reconciliation: PayHub recorded money AMK does not report",
        "ALERT reconciliation: payment stuck in PROCESSING",
    }
    assert {r.__dict__["outcome"] for r in fired} == {
        "missing_in_payhub",
        "amount_mismatch",
        "missing_at_amk",
        "stuck_processing",
    }
    counted = c.metrics.registry.get_sample_value  # each ALERT also counted in the process's /metrics
    assert counted("payhub_alerts_total", {"kind": "reconcile_amount_mismatch"}) == 2
    assert counted("payhub_alerts_total", {"kind": "reconcile_missing_in_payhub"}) == 1
    assert await mismatch_metric(c, client) == {
        "amount_mismatch": 2.0,
        "missing_at_amk": 1.0,
        "missing_in_payhub": 1.0,
        "stuck_processing": 1.0,
    }

    # The report, as files and through the API: one row per transaction.
    reports = tmp_path / "reports"
    written = json.loads((reports / f"reconciliation-{day}.json").read_text())
    assert {i["txRef"]: i["outcome"] for i in written["items"]} == outcomes(run)
    assert written["summary"] == summary
    csv_lines = (reports / f"reconciliation-{day}.csv").read_text().splitlines()
    assert len(csv_lines) == 7 and csv_lines[0].startswith("date,channel,tx_ref,outcome")
    api_csv = await client.get(f"/admin/reconciliation/runs/{run['id']}/report.csv", headers=auth_header(c, "admin"))
    assert api_csv.text.splitlines() == csv_lines
    api_json = await client.get(f"/admin/reconciliation/runs/{run['id']}/report.json", headers=auth_header(c, "admin"))
    assert api_json.json()["data"]["summary"] == summary

    # Rerun of the same day: same run row, a new generation, nothing flagged twice.
    caplog.clear()
    again = await reconcile(c, client, day)
    assert (again["id"], again["generation"], again["status"]) == (run["id"], 2, "COMPLETED")
    assert outcomes(again) == outcomes(run) and again["summary"] == summary
    assert len(await reconcile_reviews(c)) == 5 and alerts(caplog) == []
    assert (await mismatch_metric(c, client))["amount_mismatch"] == 2.0

    # AMK answers again: the re-verifier confirms the stuck payment; a rerun updates the day's result.
    assert await c.reverifier.run_once() == 1
    updated = await reconcile(c, client, day)
    assert outcomes(updated)[stuck] == "matched"
    assert updated["summary"]["counts"]["stuck_processing"] == 0 and updated["summary"]["counts"]["matched"] == 2
    listed = await client.get(f"/admin/reconciliation/runs?date={day}", headers=auth_header(c, "admin"))
    assert [r["id"] for r in listed.json()["data"]] == [run["id"]]
    assert len(await reconcile_reviews(c)) == 5  # the stuck review stays: what happened is history


async def test_two_processes_never_work_one_day_at_once(world: tuple[Container, httpx.AsyncClient, FakeClock]) -> None:
    c, client, clock = world
    await pay_bill(client, "P123456789")
    await control(
        client, statement={"add": [{"txId": "AMK-ONLY-2", "channel": "KHQR", "amount": "5", "currency": "KHR"}]}
    )
    day = local_day(clock.now)

    def another_process() -> Reconciler:
        r = c.reconciler
        return Reconciler(r.store, r.verifier, r.statement_format, r.source, r.reports_dir, clock=clock)

    first, second = another_process(), another_process()
    results = await asyncio.gather(first.run(day, "a"), second.run(day, "b"), return_exceptions=True)
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(done) == 1 and done[0].status == "COMPLETED"
    assert len(refused) == 1 and isinstance(refused[0], ServiceUnavailable), refused
    assert len(await reconcile_reviews(c)) == 1


async def test_a_run_left_by_a_dead_process_resumes_once_its_lease_expires(
    world: tuple[Container, httpx.AsyncClient, FakeClock],
) -> None:
    c, client, clock = world
    await pay_bill(client, "P123456789")
    day = local_day(clock.now)
    dead, _owner = await c.reconciler.start(day, "killed")  # claimed, never worked: as after kill -9
    with pytest.raises(ServiceUnavailable, match="running in another process"):
        await c.reconciler.run(day, "cli")
    clock.advance(seconds=c.reconciler.lease_s + 1)
    run = await c.reconciler.run(day, "cli")
    assert (run.id, run.generation, run.status) == (dead.id, 1, "COMPLETED")
    assert run.summary["counts"]["matched"] == 1


async def test_undecidable_transactions_fail_the_run_and_the_next_run_resumes_them(
    world: tuple[Container, httpx.AsyncClient, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    c, client, clock = world
    on_statement = await pay_bill(client, "P123456789")
    # Money the bank knows (payment-verify) but lists on no statement, e.g. settled on another day.
    body = bill_body(150002, "P987654321", "600000", "KHR", tx="AMK-OTHER-DAY")
    bank_paid(c, "AMK-OTHER-DAY", "600000", "KHR")
    raw, headers = signed(c, body)
    assert (await client.post("/AMK/payments", content=raw, headers=headers)).status_code == 200
    day = local_day(clock.now)
    await control(client, verifyAvailable=False)

    failed = await c.reconciler.run(day, "cli")
    assert failed.status == "FAILED" and failed.error is not None and "BILL:AMK-OTHER-DAY" in failed.error
    assert failed.summary["undecided"] == 1 and failed.summary["counts"]["matched"] == 1  # the statement decided it
    async with c.store.transaction() as tx:
        decided_at = {i.tx_ref: i.decided_at for i in await tx.reconciliation.items(failed.id)}
    assert decided_at[on_statement] is not None and decided_at["AMK-OTHER-DAY"] is None

    await control(client, verifyAvailable=True)
    resumed = await c.reconciler.run(day, "cli")
    assert (resumed.status, resumed.generation) == ("COMPLETED", 1)
    async with c.store.transaction() as tx:
        items = {i.tx_ref: i for i in await tx.reconciliation.items(resumed.id)}
    assert items[on_statement].decided_at == decided_at[on_statement]  # not decided twice
    assert items["AMK-OTHER-DAY"].outcome == "matched"
    assert "payment-verify (not on this day's statement)" in items["AMK-OTHER-DAY"].detail


async def test_a_malformed_statement_from_amk_fails_the_run_and_changes_nothing(
    world: tuple[Container, httpx.AsyncClient, FakeClock],
) -> None:
    c, client, clock = world
    await pay_bill(client, "P123456789")
    day = local_day(clock.now)

    class BadSource:
        async def fetch(self, day: date) -> bytes:
            header = "settlement_date,tx_id,channel,amount,currency,paid_at\n"
            return f"{header}{day},X1,BILL,1.234,USD,{day}T10:00:00\n".encode()

    c.reconciler.source = BadSource()
    run = await c.reconciler.run(day, "cli")
    assert run.status == "FAILED" and run.error is not None
    assert "line 2, column amount" in run.error
    async with c.store.transaction() as tx:
        assert await tx.reconciliation.statement(day) is None
        assert await tx.reconciliation.items(run.id) == []
    assert await reconcile_reviews(c) == []


async def test_admin_api_refuses_bad_input_in_the_envelope(
    world: tuple[Container, httpx.AsyncClient, FakeClock],
) -> None:
    c, client, clock = world
    admin = auth_header(c, "admin")
    for body in ({"date": "2026-13-01"}, {"date": "27/11/2026"}, {"date": 20261127}, {}):
        r = await client.post("/admin/reconciliation/runs", json=body, headers=admin)
        assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "date", r.text
    future = (local_day(clock.now) + timedelta(days=1)).isoformat()
    r = await client.post("/admin/reconciliation/runs", json={"date": future}, headers=admin)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST"
    r = await client.post("/admin/reconciliation/runs", json={"date": "1999-12-31"}, headers=admin)
    assert r.status_code == 400 and "before 2000" in r.text
    r = await client.post("/admin/reconciliation/runs", json={"date": "2026-11-01"}, headers=auth_header(c))
    assert r.status_code == 403
    assert (await client.get("/admin/reconciliation/runs")).status_code == 401
    for path in ("/admin/reconciliation/runs/999", "/admin/reconciliation/runs/x/report.csv"):
        r = await client.get(path, headers=admin)
        assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    r = await client.get("/admin/reconciliation/runs?limit=0", headers=admin)
    assert r.status_code == 400
    async with c.store.transaction() as tx:
        assert await tx.reconciliation.runs() == []


async def test_the_daily_run_catches_up_missed_days_once(world: tuple[Container, httpx.AsyncClient, FakeClock]) -> None:
    c, client, clock = world
    installed = local_day(clock.now)
    await pay_bill(client, "P123456789")
    daily = c.daily_reconciliation
    assert await daily.due_days() == []  # nothing before the database existed, today is not over

    # The next morning after the configured time (02:00): the install day is due, and runs once.
    clock.now = datetime.combine(installed + timedelta(days=1), daily.at, tzinfo=UTC) + timedelta(hours=1)
    assert daily.latest_due(clock.now) == installed
    assert [r.day for r in await daily.tick()] == [installed]
    assert await daily.tick() == []

    # Every gateway was down for three days: the restarted schedule runs each missed day, once.
    clock.advance(days=3)
    restarted = DailyReconciliation(c.reconciler, daily.at, catch_up_days=7, clock=clock)
    ran = await restarted.tick()
    assert [r.day for r in ran] == [installed + timedelta(days=n) for n in (1, 2, 3)]
    assert all(r.status == "COMPLETED" for r in ran)
    assert await restarted.tick() == []
    async with c.store.transaction() as tx:
        assert len(await tx.reconciliation.runs()) == 4


async def test_the_gateway_process_runs_the_daily_reconciliation_in_the_background(tmp_path: Path) -> None:
    """Wiring: ``payhub run``'s gateway starts the schedule, which catches up the days since install."""
    url = f"sqlite:///{tmp_path}/payhub.db"
    settings = make_settings(url, reports_dir=str(tmp_path / "reports"), reconcile_catch_up_days=2)
    async with running(settings) as c:  # migrated; pretend the database was created ten days ago
        async with c.store.transaction() as tx:
            assert isinstance(tx, Tx)
            await tx._c.execute("UPDATE schema_migrations SET applied_at = $1", datetime.now(UTC) - timedelta(days=10))
    async with running(settings, background=True) as c:
        last = c.daily_reconciliation.latest_due(datetime.now(UTC))
        for _ in range(200):
            async with c.store.transaction() as tx:
                done = await tx.reconciliation.completed_days(last - timedelta(days=5), last)
            if len(done) == 2:
                break
            await asyncio.sleep(0.05)
        assert done == {last - timedelta(days=1), last}
        assert (tmp_path / "reports" / f"reconciliation-{last}.csv").is_file()


async def test_an_alert_lost_to_a_crash_is_logged_when_the_run_resumes(
    world: tuple[Container, httpx.AsyncClient, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    c, client, clock = world
    added = [{"txId": f"AMK-{n}", "channel": "BILL", "amount": "1.00", "currency": "USD"} for n in "AB"]
    await control(client, statement={"add": added})
    day = local_day(clock.now)

    class Crash(BaseException):
        """The process dies right after the first review committed, before its ALERT was logged."""

    async def crash(run: object, item: object) -> None:
        raise Crash

    c.reconciler._alert = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await c.reconciler.run(day, "cli")
    del c.reconciler._alert
    async with c.store.transaction() as tx:
        killed = await tx.reconciliation.run_for_day(day)
        assert killed is not None and killed.status == "RUNNING"
        assert [i.tx_ref for i in await tx.reconciliation.unalerted(killed.id)] == ["AMK-A"]
    assert len(await reconcile_reviews(c)) == 1

    caplog.set_level(logging.INFO)
    clock.advance(seconds=c.reconciler.lease_s + 1)
    run = await c.reconciler.run(day, "cli")
    assert run.status == "COMPLETED" and run.summary["counts"]["missing_in_payhub"] == 2
    assert sorted(r.__dict__["txRef"] for r in alerts(caplog)) == ["AMK-A", "AMK-B"]
    async with c.store.transaction() as tx:
        assert await tx.reconciliation.unalerted(run.id) == []


async def test_operators_start_a_bounded_number_of_runs_at_once(
    world: tuple[Container, httpx.AsyncClient, FakeClock],
) -> None:
    c, client, clock = world
    await pay_bill(client, "P123456789")
    await control(client, verifyDelayS=0.2)  # a slow bank keeps the first run going
    c.daily_reconciliation.max_parallel = 1
    admin = auth_header(c, "admin")
    day = local_day(clock.now)
    first = await client.post("/admin/reconciliation/runs", json={"date": day.isoformat()}, headers=admin)
    again = await client.post("/admin/reconciliation/runs", json={"date": day.isoformat()}, headers=admin)
    other = await client.post("/admin/reconciliation/runs", json={"date": "2026-01-01"}, headers=admin)
    assert first.status_code == 202 and first.json()["data"]["started"] is True
    assert other.status_code == 503 and other.json()["error"]["retryAfter"] == 30
    assert again.status_code == 503  # the bound is checked first: nothing is claimed
    await c.daily_reconciliation.wait_idle()
    again = await client.post("/admin/reconciliation/runs", json={"date": day.isoformat()}, headers=admin)
    assert again.status_code == 202 and again.json()["data"]["generation"] == 2
    await c.daily_reconciliation.wait_idle()


async def test_a_statement_imported_after_a_failed_run_is_the_one_the_next_run_reconciles(
    world: tuple[Container, httpx.AsyncClient, FakeClock],
) -> None:
    """Found by breaking it: a FAILED run resumed with the items it had collected, so a statement imported
    after it (the operator's fix for a day AMK's payment-verify could not decide) was stored and reported
    as imported but never read: money only the statement lists was never found."""
    c, client, clock = world
    c.reconciler.source = None  # production without a statement URL: statements are imported
    paid = await pay_bill(client, "P123456789")
    day = local_day(clock.now)
    await control(client, verifyAvailable=False)
    failed = await c.reconciler.run(day, "cli")
    assert failed.status == "FAILED" and failed.error is not None and f"BILL:{paid}" in failed.error

    statement = (
        "settlement_date,tx_id,channel,amount,currency,paid_at\n"
        f"{day},{paid},BILL,150.00,USD,{day}T09:00:00\n"
        f"{day},AMK-ONLY-9,BILL,42.00,USD,{day}T09:30:00\n"
    )
    await c.reconciler.import_statement(statement.encode(), "amk.csv")
    run = await c.reconciler.run(day, "cli")  # AMK's payment-verify still down: the statement decides
    assert run.status == "COMPLETED", run.error
    assert run.statement_source == "file:amk.csv"
    async with c.store.transaction() as tx:
        items = {i.tx_ref: i.outcome for i in await tx.reconciliation.items(run.id)}
    assert items == {paid: "matched", "AMK-ONLY-9": "missing_in_payhub"}
    assert [r["key"] for r in await reconcile_reviews(c)] == ["reconcile:missing_in_payhub:BILL:AMK-ONLY-9"]

    # The same statement imported again changes nothing: a resumed or repeated run is not redone for it.
    await c.reconciler.import_statement(statement.encode(), "amk.csv")
    again = await c.reconciler.run(day, "cli")
    assert again.generation == run.generation + 1  # a COMPLETED day is rerun, as always
    assert len(await reconcile_reviews(c)) == 1


async def test_a_payment_settled_across_midnight_is_one_review_whatever_the_days_that_list_it(
    world: tuple[Container, httpx.AsyncClient, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    """Found by review: the key held the day, so a mismatching payment at 23:59 that AMK settles on the
    next day's statement (both days reconcile it) opened two reviews and two ALERTs, and the mismatch
    metric counted it twice. One review per (outcome, channel, txRef); another outcome is another review."""
    c, client, clock = world
    day = local_day(clock.now) - timedelta(days=2)
    clock.now = datetime.combine(day, time(23, 59), PHNOM_PENH).astimezone(UTC)
    altered = await pay_bill(client, "P123456789")  # 150.00 USD: the bank then holds 149.00
    await control(client, verifyAvailable=False)
    stuck = await pay_bill(client, "P444000222")  # 250000 KHR, recorded PROCESSING (AMK unreachable)
    await control(client, verifyAvailable=True)
    await control(client, statement={"alter": [{"txId": altered, "amount": "149.00"}]})
    clock.advance(hours=2)  # past midnight, and the PROCESSING payment past the one-hour threshold

    caplog.set_level(logging.INFO)
    first = await reconcile(c, client, day)  # the bank's statement of the day lists both
    assert outcomes(first) == {altered: "amount_mismatch", stuck: "stuck_processing"}
    assert len(await reconcile_reviews(c)) == 2 and len(alerts(caplog)) == 2

    # AMK settles them again on the next day's statement (imported): decided again, flagged once.
    caplog.clear()
    nxt = day + timedelta(days=1)

    def statement(stuck_amount: str) -> bytes:
        return (
            "settlement_date,tx_id,channel,amount,currency,paid_at\n"
            f"{nxt},{altered},BILL,149.00,USD,{nxt}T00:01:00\n"
            f"{nxt},{stuck},BILL,{stuck_amount},KHR,{nxt}T00:02:00\n"
        ).encode()

    await c.reconciler.import_statement(statement("250000"), "amk-next.csv")
    second = await reconcile(c, client, nxt)
    assert outcomes(second) == outcomes(first)
    assert len(await reconcile_reviews(c)) == 2 and alerts(caplog) == []
    keys = {f"reconcile:amount_mismatch:BILL:{altered}", f"reconcile:stuck_processing:BILL:{stuck}"}
    assert {r["key"] for r in await reconcile_reviews(c)} == keys
    assert {i["txRef"]: i["reviewKey"] for i in second["items"]} == {i["txRef"]: i["reviewKey"] for i in first["items"]}
    async with c.store.transaction() as tx:
        assert await tx.reconciliation.unalerted(second["id"]) == []  # linked, never ALERTed on resume
    assert await mismatch_metric(c, client) == {
        "amount_mismatch": 1.0,
        "missing_at_amk": 0.0,
        "missing_in_payhub": 0.0,
        "stuck_processing": 1.0,
    }
    assert c.metrics.registry.get_sample_value("payhub_alerts_total", {"kind": "reconcile_amount_mismatch"}) == 1

    # Another outcome for the same transaction on another day is another finding: its own review.
    assert await c.reverifier.run_once() == 1  # AMK confirms the stuck payment (250000 KHR)
    await c.reconciler.import_statement(statement("240000"), "amk-next-corrected.csv")
    third = await reconcile(c, client, nxt)
    assert outcomes(third) == {altered: "amount_mismatch", stuck: "amount_mismatch"}
    assert {r["key"] for r in await reconcile_reviews(c)} == keys | {f"reconcile:amount_mismatch:BILL:{stuck}"}
    assert [r.__dict__["txRef"] for r in alerts(caplog)] == [stuck]
    assert (await mismatch_metric(c, client))["amount_mismatch"] == 2.0
