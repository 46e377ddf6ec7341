"""Admin API of reconciliation (admin bearer token; served by the gateway process; spec envelope).

- ``GET  /admin/reconciliation/runs[?date=YYYY-MM-DD | ?from=…&to=…][&limit=N]``: runs, newest day first.
- ``POST /admin/reconciliation/runs`` ``{"date": "YYYY-MM-DD"}``: reconcile that day in the background
  (a rerun when it is done): ``202`` with the run and ``started`` (false: already running somewhere).
- ``GET  /admin/reconciliation/runs/{id}``: the run (summary, status) with its ``mismatches``
  (``?items=all``: every item).
- ``GET  /admin/reconciliation/runs/{id}/report.csv`` and ``…/report.json``: the run's report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from backoffice.reconcile.days import parse_day
from backoffice.reconcile.report import report_csv, report_json
from backoffice.reconcile.runner import Reconciler
from backoffice.reconcile.schedule import DailyReconciliation
from backoffice.reconcile.schemas import (
    RunDetail,
    RunPath,
    RunQuery,
    RunReport,
    RunsQuery,
    RunView,
    TriggeredRun,
    TriggerRun,
)
from hub.apidoc.declare import Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.domain.reconciliation import ReconItem, ReconRun
from hub.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import ok
from hub.http.path import path_id

MAX_LIMIT = 1000


@dataclass
class ReconciliationDeps:
    reconciler: Reconciler
    daily: DailyReconciliation
    auth: Authenticator


def _day(value: Any, field: str) -> date:
    try:
        return parse_day(value)
    except ValueError as exc:
        raise BadRequest("Invalid date", details=[{"field": field, "message": str(exc)}]) from None


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 4 and 1 <= int(raw) <= MAX_LIMIT):
        raise BadRequest("Invalid limit", details=[{"field": "limit", "message": f"an integer from 1 to {MAX_LIMIT}"}])
    return int(raw)


_ADMIN = roles("admin")
_READ_ERRORS = (Unauthorized, Forbidden, NotFound, ServiceUnavailable)

# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    Operation(
        "GET",
        "/admin/reconciliation/runs",
        "Reconciliation runs, newest day first",
        "operators",
        (Reply(model=RunView, many=True),),
        security=_ADMIN,
        query=RunsQuery,
        errors=(BadRequest, Unauthorized, Forbidden, ServiceUnavailable),
    ),
    Operation(
        "POST",
        "/admin/reconciliation/runs",
        "Reconcile a day in the background (a rerun when it is done)",
        "operators",
        (Reply(202, "Started, or already running", TriggeredRun),),
        description="A day that has not begun (Asia/Phnom_Penh) or before 2000 is 400; 503 while this process "
        "runs its maximum of reconciliations.",
        security=_ADMIN,
        body=TriggerRun,
        body_example={"date": "2025-10-07"},
        errors=(BadRequest, Unauthorized, Forbidden, ServiceUnavailable),
    ),
    Operation(
        "GET",
        "/admin/reconciliation/runs/{run_id}",
        "A run with its mismatches (or every item)",
        "operators",
        (Reply(model=RunDetail),),
        security=_ADMIN,
        path_params=RunPath,
        query=RunQuery,
        errors=_READ_ERRORS,
    ),
    Operation(
        "GET",
        "/admin/reconciliation/runs/{run_id}/report.csv",
        "A run's report as CSV (cells safe for spreadsheets)",
        "operators",
        (Reply(schema={"type": "string"}, media_type="text/csv", envelope=False),),
        security=_ADMIN,
        path_params=RunPath,
        errors=_READ_ERRORS,
    ),
    Operation(
        "GET",
        "/admin/reconciliation/runs/{run_id}/report.json",
        "A run's report as JSON",
        "operators",
        (Reply(model=RunReport),),
        security=_ADMIN,
        path_params=RunPath,
        errors=_READ_ERRORS,
    ),
)


def routes(d: ReconciliationDeps) -> list[BaseRoute]:
    async def list_runs(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        q = request.query_params
        first = last = None
        if "date" in q:
            first = last = _day(q["date"], "date")
        if "from" in q:
            first = _day(q["from"], "from")
        if "to" in q:
            last = _day(q["to"], "to")
        runs = await d.reconciler.runs(first, last, _limit(q.get("limit")))
        return ok([r.as_json() for r in runs])

    async def trigger(request: Request) -> Response:
        who = await authenticate(request, d.auth, "admin", query=False)
        body = parse_json_object(await read_body(request, 4096))
        run, started = await d.daily.trigger(_day(body.get("date"), "date"), f"admin:{who.sub}"[:100])
        return ok({**run.as_json(), "started": started}, status_code=202)

    async def found(request: Request) -> tuple[ReconRun, list[ReconItem]]:
        await authenticate(request, d.auth, "admin", query=False)
        run_id = path_id(request, "run_id")
        result = await d.reconciler.get(run_id)
        if result is None:
            raise NotFound(f"No reconciliation run {run_id}")
        return result

    async def show(request: Request) -> Response:
        run, items = await found(request)
        every = request.query_params.get("items") == "all"
        chosen = [i for i in items if every or (i.outcome is not None and i.outcome != "matched")]
        key = "items" if every else "mismatches"
        return ok({**run.as_json(), key: [i.as_json() for i in chosen]})

    async def csv_report(request: Request) -> Response:
        run, items = await found(request)
        return Response(
            report_csv(run, items),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="reconciliation-{run.day}.csv"'},
        )

    async def json_report(request: Request) -> Response:
        run, items = await found(request)
        return ok(report_json(run, items))

    return [
        Route("/admin/reconciliation/runs", list_runs, methods=["GET"]),
        Route("/admin/reconciliation/runs", trigger, methods=["POST"]),
        Route("/admin/reconciliation/runs/{run_id:str}", show, methods=["GET"]),
        Route("/admin/reconciliation/runs/{run_id:str}/report.csv", csv_report, methods=["GET"]),
        Route("/admin/reconciliation/runs/{run_id:str}/report.json", json_report, methods=["GET"]),
    ]
