"""Schemathesis over the OpenAPI document a live ``payhub run`` serves (sandbox mode, its own SQLite file).

One parametrized test per operation of ``/openapi.json``: the document's examples, then generated
requests, positive and negative (schemathesis' coverage and fuzzing phases), on a fixed budget
(``MAX_EXAMPLES`` per operation, a fixed seed, deterministic generation). Every answer must pass
schemathesis' checks: no 5xx, a status the document lists, a body and headers that fit the schema
(the models forbid extra properties), schema-violating requests refused, and more. Valid credentials
are supplied for the operation's first security alternative we hold (customer, amk or admin tokens
minted by ``payhub token``; the sandbox's own AMK sign-in), and webhook bodies are signed as AMK
signs them (X-AMK-Timestamp, X-AMK-Signature over the exact bytes sent), so the fuzzing reaches past
authentication.

And a refused request changes nothing: every table of the database (except the audit logs that
record refusals on purpose: ``inquiries``, every inquiry with its outcome; ``reviews`` and ``review_events``, notices
kept for a person, with their history; ``amk_answers``, AMK's answers as they came) is read before and
after each answer of 4xx, and must be identical.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from hub.adapters.amk.signature import signature_header
from hub.apidoc import declare
from hub.auth import Authenticator
from hub.secrets_policy import (
    SANDBOX_AMK_PASSWORD,
    SANDBOX_AMK_USERNAME,
    SANDBOX_JWT_SECRET,
    SANDBOX_WEBHOOK_SECRET,
)
from hub.settings import Settings
from payhub.api_docs import Documents
from payhub.app import create_app
from tests.e2e.payhub_process import Server, start_server

MAX_EXAMPLES = 15
SEED = 20251007
# Audit logs that record refused requests by design (see the module docstring): every inquiry and its
# outcome, the notices kept for a person with their history, and AMK's answers as they came.
AUDIT_TABLES = {"inquiries", "reviews", "review_events", "amk_answers"}
# Where a schema-valid request may still be refused with 400 or 422, for rules a JSON Schema cannot state:
# amounts with more decimals than their currency has or past its bounds, calendar dates (a 31st of
# February), timestamps within 5 minutes of now, HMAC hashes, a premium's own amount (422 mismatch), a
# KHQR's field lengths; and the WebSocket upgrade, which plain HTTP cannot make (426). Schemathesis'
# "schema-valid request rejected" check is not run there; every other check is.
SEEN: dict[str, Counter[int]] = {}  # operation -> statuses answered (see the last test)
SEMANTIC_RULES = {
    ("POST", "/AMK/payments"),
    ("POST", "/AMK/khqr"),
    ("POST", "/sandbox/amk/amkpayway/v1/api/payment/payment-verify"),
    ("POST", "/sandbox/amk/qr/generator"),
    ("POST", "/sandbox/amk/simulate/pay"),
    ("POST", "/sandbox/amk/control"),
    ("GET", "/ws/payments"),
    # calendar dates: a 30th of February; a day that has not begun (Asia/Phnom_Penh) or before 2000
    ("GET", "/admin/reconciliation/runs"),
    ("POST", "/admin/reconciliation/runs"),
    ("GET", "/sandbox/amk/statements/{day}.csv"),
    # a blocklist value in its kind's form (an IP network, a policy number), a reason of printable
    # characters, an expiry in the future
    ("POST", "/admin/blocklist"),
    # notification hours: an end after the start
    ("PUT", "/admin/policies/{policy}/notification-preferences"),
    # ids written as JSON integers: JSON Schema's "integer" also takes 5755.0, which PayHub refuses for an id
    ("POST", "/admin/notifications/retry"),
    # filters: repeatable or comma-separated lists, instants with offsets, ranges whose end follows their start
    ("GET", "/admin/analytics"),
    ("GET", "/admin/analytics/stream"),
    ("GET", "/admin/reviews"),
    ("GET", "/admin/payments"),
    # notes of printable characters
    ("POST", "/admin/reviews/{review_id}/resolve"),
    ("POST", "/admin/reviews/{review_id}/escalate"),
    ("POST", "/admin/reviews/{review_id}/reopen"),
}


@dataclass
class Live:
    server: Server
    credentials: dict[str, str]  # security scheme -> bearer token
    db: Path
    http: requests.Session

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table but the audit logs, read in one transaction."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            con.execute("BEGIN")
            tables = [
                name
                for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
                if name not in AUDIT_TABLES and not name.startswith("sqlite_")
            ]
            return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
        finally:
            con.close()

    def settled(self) -> dict[str, list[tuple[Any, ...]]]:
        """The state once work started by an accepted request (settlement, fan-out) has finished."""
        before = self.snapshot()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.snapshot()
            if now == before:
                return now
            before = now
        return before


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    server = start_server(
        workdir,
        # Fuzzing sends thousands of requests from one address: the limits would answer 429 to most.
        PAYHUB_RATE_USER_PER_MIN="10000000",
        PAYHUB_RATE_IP_PER_MIN="10000000",
        # Nor the fraud rules' velocity limits (scripted traffic is what they stop); the blocklist stays.
        PAYHUB_FRAUD_RULES='[{"kind": "blocklist", "name": "blocklist", "surfaces": ["inquiry", "qr", "webhook"]}]',
        # No background re-verification while the database is compared around refused requests.
        PAYHUB_REVERIFY_INTERVAL_S="3600",
        PAYHUB_LOG_LEVEL="WARNING",
        # Event streams that never end are read to their first event or heartbeat (_read_sse).
        PAYHUB_PUSH_HEARTBEAT_S="1",
    )
    try:
        sign_in = httpx.post(
            f"{server.url}/sandbox/amk/auth/sign-in",
            json={"username": SANDBOX_AMK_USERNAME, "password": SANDBOX_AMK_PASSWORD},
        )
        credentials = {declare.SANDBOX_AMK_SESSION: sign_in.json()["access_token"]}
        with requests.Session() as http:
            yield Live(server, credentials, workdir / "payhub.db", http)
    finally:
        server.stop()


def _document() -> dict[str, Any]:
    """The document ``payhub run`` serves, built in-process (the same routes and declarations; a test
    below checks the live one is identical), so that pytest can collect one test per operation."""
    settings = Settings.from_env({"PAYHUB_DATABASE_URL": "sqlite:///unused-at-build-time.db"})
    return Documents(settings).openapi(create_app(settings, background=False).router.routes)


def _tokens() -> dict[str, str]:
    """Valid credentials for the security schemes, minted with the sandbox key ``payhub run`` uses (its
    published default), so that schemathesis applies them itself and knows what valid auth is."""
    auth = Authenticator(secret=SANDBOX_JWT_SECRET, subscribe_secret="unused")
    return {
        declare.CUSTOMER: auth.issue("fuzz-customer", "customer", 7200),
        declare.AMK: auth.issue("fuzz-amk", "amk", 7200),
        declare.ADMIN: auth.issue("fuzz-admin", "admin", 7200),
    }


def _schema() -> Any:
    openapi_auth: dict[str, Any] = {name: {"bearer": token} for name, token in _tokens().items()}
    # Replaced per request: the signature covers the exact body (see ``_send``), the sandbox's AMK session
    # comes from its sign-in.
    openapi_auth[declare.AMK_TIMESTAMP] = {"api_key": "0"}
    openapi_auth[declare.AMK_SIGNATURE] = {"api_key": "v1=0"}
    openapi_auth[declare.SANDBOX_AMK_SESSION] = {"bearer": "signed-in-at-run-time"}
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "request-timeout": 10,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "auth": {"openapi": openapi_auth},
        }
    )
    return schemathesis.openapi.from_dict(json.loads(json.dumps(_document(), default=str)), config=config)


schema = _schema()


def test_the_live_document_is_the_one_fuzzed(live: Live) -> None:
    assert httpx.get(f"{live.server.url}/openapi.json").json() == json.loads(json.dumps(_document(), default=str))


def _signs(case: Any) -> bool:
    return any(declare.AMK_SIGNATURE in alt for alt in case.operation.definition.raw.get("security", []))


def _send(case: Any, live: Live) -> requests.Response:
    kwargs = case.as_transport_kwargs(base_url=live.server.url)
    auth = kwargs["headers"].get("Authorization", "")
    if auth == "Bearer signed-in-at-run-time":
        kwargs["headers"]["Authorization"] = f"Bearer {live.credentials[declare.SANDBOX_AMK_SESSION]}"
    if "json" in kwargs:
        # Serialized here, so that the signature covers exactly the bytes sent.
        kwargs["data"] = json.dumps(kwargs.pop("json"), allow_nan=False).encode()
    if _signs(case) and "X-AMK-Signature" in kwargs["headers"]:  # negative cases may leave it out
        raw = kwargs.get("data") or b""
        raw = raw.encode() if isinstance(raw, str) else raw
        stamp = int(time.time())
        kwargs["headers"] = {
            **kwargs["headers"],
            "X-AMK-Timestamp": str(stamp),
            "X-AMK-Signature": signature_header([SANDBOX_WEBHOOK_SECRET], stamp, raw),
        }
    # Streamed: an event stream is read only to its first frame (_read_sse); any other body is read whole.
    return live.http.request(**kwargs, timeout=10, stream=True, allow_redirects=False)


def _await_reconciliation(live: Live, run_id: int) -> None:
    """Until the run started in the background is no longer RUNNING (its writes would otherwise land
    during a later request's comparison)."""
    admin = {"Authorization": f"Bearer {_tokens()[declare.ADMIN]}"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run = live.http.get(f"{live.server.url}/admin/reconciliation/runs/{run_id}", headers=admin, timeout=10)
        if run.json()["data"]["status"] != "RUNNING":
            return
        time.sleep(0.05)
    raise AssertionError(f"reconciliation run {run_id} still RUNNING after 20 s")


def _withdraw(live: Live, entry_id: int) -> None:
    """An accepted blocklist entry is withdrawn at once: left in place, it would bar the demo policy or
    this client from every operation fuzzed after it (403 FRAUD_DETECTED, documented, but no reach)."""
    admin = {"Authorization": f"Bearer {_tokens()[declare.ADMIN]}"}
    gone = live.http.delete(f"{live.server.url}/admin/blocklist/{entry_id}", headers=admin, timeout=10)
    assert gone.status_code == 200, gone.text


def _read_sse(response: requests.Response) -> None:
    """A live SSE stream does not end while the payment is open: keep its first frame, then hang up."""
    body = b""
    for chunk in response.iter_content(chunk_size=None):
        body += chunk
        if b"\ndata: " in body or b"\n\n: heartbeat" in body:
            break
    response.close()
    response._content = body  # what the checks see: the stream's start
    response._content_consumed = True


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_openapi_operation(case: Any, live: Live) -> None:
    before = live.snapshot()
    response = _send(case, live)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        _read_sse(response)
    SEEN.setdefault(f"{case.method.upper()} {case.path}", Counter())[response.status_code] += 1
    refused = 400 <= response.status_code < 500
    if response.status_code == 202 and case.path == "/admin/reconciliation/runs":
        _await_reconciliation(live, response.json()["data"]["id"])  # it works in the background
    if response.status_code == 201 and case.path == "/admin/blocklist":
        _withdraw(live, response.json()["data"]["id"])
    after = live.snapshot() if refused else live.settled()
    excluded = [positive_data_acceptance] if (case.method.upper(), case.path) in SEMANTIC_RULES else []
    case.validate_response(
        response, transport_kwargs={"base_url": live.server.url, "timeout": 10}, excluded_checks=excluded
    )
    if refused:
        changed = {t: (before.get(t), rows) for t, rows in after.items() if before.get(t) != rows}
        assert not changed, f"{case.method} {case.formatted_path} refused with {response.status_code} changed {changed}"


def test_the_fuzzing_reached_past_authentication() -> None:
    """Runs after the operations (pytest keeps definition order): with valid credentials and signatures,
    the operations that need them were answered 2xx at least once, not only 401/403."""
    if len(SEEN) < len(schema.raw_schema["paths"]):
        pytest.skip("only some operations ran")
    print({op: dict(statuses) for op, statuses in sorted(SEEN.items())})
    for op in (
        "GET /AMK/payments",
        "GET /khqr",
        "GET /admin/reviews",
        "GET /metrics",
        "POST /sandbox/amk/simulate/pay",
    ):
        assert any(200 <= s < 300 for s in SEEN[op]), (op, SEEN[op])
    for op in ("POST /AMK/payments", "POST /AMK/khqr"):  # signed: refused for what they say, not for auth
        assert set(SEEN[op]) - {401, 403}, (op, SEEN[op])
