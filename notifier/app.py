"""The notifier's HTTP routes: what was sent for a payment, customers' preferences, dead letters, and
``/sandbox/notifications`` (sandbox mode: what the sandbox channels would have sent).

Admin routes need an admin bearer token and answer in the contract's envelope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from hub.adapters.notify.sandbox import SandboxOutbox
from hub.apidoc.declare import Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.domain.notification import CUSTOMER_CHANNELS, Channel, Hours, NotificationState, Preferences
from hub.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import ok
from hub.http.path import MAX_ID, path_id
from hub.json_codec import dumps
from hub.ports import Store
from notifier.schemas import (
    ListQuery,
    Notification,
    PaymentNotifications,
    PaymentPath,
    PolicyPath,
    PreferencesIn,
    PreferencesOut,
    Retried,
    RetryIn,
    SandboxQuery,
    SentRecord,
)

MAX_PREFERENCES_BODY = 4096
POLICY_NUMBER_RULE = re.compile(r"^[A-Za-z0-9]{9,10}$")  # the spec's policyNumber: 9-10 characters


@dataclass
class NotifierDeps:
    store: Store
    auth: Authenticator
    outbox: SandboxOutbox | None  # sandbox mode only
    wake: Any = None  # the dispatcher's wake-up, after a retry


_ADMIN = roles("admin")
_AUTH_ERRORS = (Unauthorized, Forbidden, ServiceUnavailable)
_PREFS = "/admin/policies/{policy}/notification-preferences"

# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    Operation(
        "GET",
        "/admin/payments/{payment_id}/notifications",
        "What was sent (or is to be sent) for a payment",
        "operators",
        (Reply(model=PaymentNotifications),),
        security=_ADMIN,
        path_params=PaymentPath,
        errors=(NotFound, *_AUTH_ERRORS),
    ),
    Operation(
        "GET",
        _PREFS,
        "A customer's notification channels and hours for a policy",
        "operators",
        (Reply(model=PreferencesOut),),
        security=_ADMIN,
        path_params=PolicyPath,
        errors=(NotFound, *_AUTH_ERRORS),
    ),
    Operation(
        "PUT",
        _PREFS,
        "Set a customer's notification channels and hours for a policy",
        "operators",
        (Reply(model=PreferencesOut),),
        security=_ADMIN,
        path_params=PolicyPath,
        body=PreferencesIn,
        body_example={"channels": ["push", "sms", "email"], "hours": {"start": "09:00", "end": "18:00"}},
        errors=(BadRequest, NotFound, *_AUTH_ERRORS),
    ),
    Operation(
        "GET",
        "/admin/notifications",
        "Notifications by state (default: DEAD, given up)",
        "operators",
        (Reply(model=Notification, many=True),),
        security=_ADMIN,
        query=ListQuery,
        errors=(BadRequest, *_AUTH_ERRORS),
    ),
    Operation(
        "POST",
        "/admin/notifications/retry",
        "Send DEAD notifications again",
        "operators",
        (Reply(model=Retried),),
        security=_ADMIN,
        body=RetryIn,
        body_required=False,
        errors=(BadRequest, *_AUTH_ERRORS),
    ),
    Operation(
        "GET",
        "/sandbox/notifications",
        "What the sandbox channels would have sent (sandbox mode)",
        "sandbox",
        (
            Reply(
                model=SentRecord,
                many=True,
                also=("text/html",),
                description="The records: JSON with ?format=json or Accept: application/json, else an HTML page",
            ),
        ),
        description="Without ?format=json (or Accept: application/json) an HTML page of the same records.",
        query=SandboxQuery,
    ),
)


def routes(d: NotifierDeps) -> list[BaseRoute]:
    async def payment_notifications(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        payment_id = path_id(request, "payment_id")
        async with d.store.transaction() as tx:
            if await tx.payment(payment_id) is None:
                raise NotFound(f"No payment {payment_id}")
            rows = await tx.notifications.for_payment(payment_id)
        return ok({"paymentId": payment_id, "notifications": [n.json() for n in rows]})

    async def get_preferences(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        policy = _policy(request)
        async with d.store.transaction() as tx:
            prefs = await tx.notifications.preferences(policy)
        return ok({**(prefs or Preferences(policy)).json(), "stored": prefs is not None})

    async def put_preferences(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        policy = _policy(request)
        prefs = parse_preferences(policy, parse_json_object(await read_body(request, MAX_PREFERENCES_BODY)))
        async with d.store.transaction() as tx:
            await tx.notifications.set_preferences(prefs, datetime.now(UTC))
        return ok({**prefs.json(), "stored": True})

    async def listing(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        raw = request.query_params.get("state", "DEAD").upper()
        try:
            states = [NotificationState(s) for s in raw.split(",") if s]
        except ValueError:
            raise BadRequest(
                details=[{"field": "state", "message": "PENDING, SENT, FAILED, DEAD or CANCELLED"}]
            ) from None
        async with d.store.transaction() as tx:
            rows = await tx.notifications.listing(states, limit=_limit(request))
        return ok([n.json() for n in rows])

    async def retry(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        body = parse_json_object(await read_body(request, MAX_PREFERENCES_BODY) or b"{}")
        ids = body.get("ids")
        if ids is not None and not (isinstance(ids, list) and all(type(i) is int and 0 < i <= MAX_ID for i in ids)):
            raise BadRequest(details=[{"field": "ids", "message": "a list of notification ids, or absent for all"}])
        async with d.store.transaction() as tx:
            revived = await tx.notifications.revive(ids, datetime.now(UTC))
        if revived and d.wake is not None:
            d.wake()
        return ok({"retried": revived})

    chosen: list[BaseRoute] = [
        Route("/admin/payments/{payment_id:str}/notifications", payment_notifications, methods=["GET"]),
        Route("/admin/policies/{policy:str}/notification-preferences", get_preferences, methods=["GET"]),
        Route("/admin/policies/{policy:str}/notification-preferences", put_preferences, methods=["PUT"]),
        Route("/admin/notifications", listing, methods=["GET"]),
        Route("/admin/notifications/retry", retry, methods=["POST"]),
    ]
    if d.outbox is not None:
        chosen += sandbox_routes(d.outbox)
    return chosen


def sandbox_routes(outbox: SandboxOutbox) -> list[BaseRoute]:
    env = Environment(loader=PackageLoader("notifier", "templates"), autoescape=select_autoescape(["html"]))
    page = env.get_template("sandbox_notifications.html")

    async def notifications(request: Request) -> Response:
        raw = request.query_params.get("paymentId", "")
        payment_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else None
        records = outbox.records(payment_id=payment_id)
        wants_json = request.query_params.get("format") == "json" or "application/json" in request.headers.get(
            "accept", ""
        )
        if wants_json:
            return ok(records)
        shown = [{**r, "wireText": dumps(r["wire"])} for r in records]  # the one JSON codec, for the wire shown
        return HTMLResponse(page.render(records=shown))

    return [Route("/sandbox/notifications", notifications, methods=["GET"])]


def parse_preferences(policy: str, body: dict[str, Any]) -> Preferences:
    """``{"channels": ["push", "sms", "email"], "hours": {"start": "09:00", "end": "18:00"} | null}``;
    BadRequest naming each bad field."""
    problems: list[dict[str, str]] = []
    channels: frozenset[Channel] = frozenset(CUSTOMER_CHANNELS)
    raw_channels = body.get("channels", [c.value for c in CUSTOMER_CHANNELS])
    allowed = {c.value for c in CUSTOMER_CHANNELS}
    if not isinstance(raw_channels, list) or not all(isinstance(c, str) and c in allowed for c in raw_channels):
        problems.append({"field": "channels", "message": "a list of push, sms, email"})
    else:
        channels = frozenset(Channel(c) for c in raw_channels)
    hours: Hours | None = None
    raw_hours = body.get("hours")
    if raw_hours is not None:
        try:
            if not isinstance(raw_hours, dict):
                raise ValueError("hours is {start, end}")
            hours = Hours.parse(str(raw_hours.get("start", "")), str(raw_hours.get("end", "")))
        except ValueError as exc:
            problems.append({"field": "hours", "message": f'{exc}: {{"start": "HH:MM", "end": "HH:MM"}}'})
    unknown = set(body) - {"channels", "hours"}
    if unknown:
        problems.append({"field": sorted(unknown)[0], "message": "unknown field"})
    if problems:
        raise BadRequest(details=problems)
    return Preferences(policy, channels, hours)


def _policy(request: Request) -> str:
    policy: str = request.path_params["policy"]
    if not POLICY_NUMBER_RULE.match(policy):
        raise NotFound("No such policy number")
    return policy


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw[:6]) <= 1000):
        raise BadRequest(details=[{"field": "limit", "message": "1 to 1000"}])
    return int(raw)
