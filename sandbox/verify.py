"""The sandbox bank's payment-verify: its answer to one form, and a wire to it inside one process.

``answer`` is what ``POST /sandbox/amk/amkpayway/v1/api/payment/payment-verify`` answers (``sandbox.app``
serves it over HTTP). :class:`InProcessVerify` hands the same answer to the gateway's AMK client in the
embedded process (``payhub run``: gateway and sandbox bank in one process) without an HTTP hop: the
client still signs the form, the bank still checks merchant, timestamp and hash, and the answer is still
JSON read by ``hub.adapters.amk.client.classify``; only ``httpx`` and the ASGI stack are skipped, which
profiles of the webhook path showed costing more than the rest of the verification (docs/perf/webhooks.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Histogram

from hub.adapters.amk.hashing import VERIFY_FIELDS, hash_matches
from hub.http.client_metrics import outcome_of
from hub.json_codec import dumps_bytes
from sandbox.state import SandboxState


@dataclass(frozen=True)
class VerifyBank:
    """Who the sandbox bank knows (the sandbox merchant) and what it holds (``state``)."""

    state: SandboxState
    merchant_id: str
    store_id: str
    terminal_id: str
    secret_key: str


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message}


async def answer(bank: VerifyBank, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of payment-verify for ``form`` (its fields as text; missing ones empty).

    400 BAD_REQUEST (a field missing, timestamp outside 5 minutes), 403 MERCHANT_NOT_BIND, 401
    INVALID_HASH, 503 SERVER_UNAVAILABLE (switched off), 404 NOT_FOUND, else 200 with the transaction."""
    fields = {name: str(form.get(name, "")) for name in (*VERIFY_FIELDS, "hash")}
    missing = [name for name, value in fields.items() if not value]
    if missing:
        return _error(400, "BAD_REQUEST", f"missing: {', '.join(missing)}")
    if (fields["merchantId"], fields["storeId"], fields["terminalId"]) != (
        bank.merchant_id,
        bank.store_id,
        bank.terminal_id,
    ):
        return _error(403, "MERCHANT_NOT_BIND", "Unknown merchant, store or terminal")
    if not fields["timestamp"].isdigit() or abs(time.time() * 1000 - int(fields["timestamp"])) > 300_000:
        return _error(400, "BAD_REQUEST", "timestamp outside 5 minutes")
    if not hash_matches(bank.secret_key, fields, fields["hash"]):
        return _error(401, "INVALID_HASH", "Hash does not match")
    state = bank.state
    if not state.verify_available:
        return _error(503, "SERVER_UNAVAILABLE", "Sandbox verify switched off")
    if state.verify_delay_s:
        await asyncio.sleep(state.verify_delay_s)
    tx = state.transactions.get(fields["txId"])
    if tx is None:
        return _error(404, "NOT_FOUND", f"No transaction {fields['txId']}")
    data = {"txId": tx.tx_id, "status": tx.status, "amount": tx.amount, "currency": tx.currency}
    return 200, {"code": "00", "message": "OK", "data": data}


class InProcessVerify:
    """``hub.adapters.amk.client.VerifyWire`` to the sandbox bank of this process: each call is timed into
    ``histogram`` (labels ``endpoint``, ``outcome``) as ``hub.http.client_metrics.TimedTransport`` times
    a call over HTTP, so ``payhub_amk_request_duration_seconds`` reads the same either way."""

    def __init__(self, bank: Callable[[], VerifyBank], histogram: Histogram | None = None) -> None:
        self._bank = bank  # read per call: the sandbox is built after the AMK client
        self._histogram = histogram

    async def post_form(self, endpoint: str, form: Mapping[str, str]) -> tuple[int, bytes]:
        started = time.perf_counter()
        status, body = await answer(self._bank(), form)
        if self._histogram is not None:
            self._histogram.labels(endpoint, outcome_of(status)).observe(time.perf_counter() - started)
        return status, dumps_bytes(body)
