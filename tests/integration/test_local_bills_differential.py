"""``gateway.bank_inquiry.LocalBills`` (simulate/pay's bill look-up without HTTP) answers as the bank's
inquiry over HTTP read by the simulator (``sandbox.simulate.Simulator._target``): the same data, the same
refusal (status, code, message, details), the same ``payhub_inquiries_total`` outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.bank_inquiry import LocalBills
from hub.errors import NotFound, PayHubError
from sandbox.simulate import Simulator
from tests.conftest import auth_header, sqlite_process


def _as_compared(result: dict[str, Any] | PayHubError) -> tuple[Any, ...]:
    if isinstance(result, PayHubError):
        return ("refused", result.status_code, result.code, result.message, result.details)
    # A fresh subscribe token per answer: its iat/exp are the second it was minted in.
    data = dict(result)
    token = data.pop("subscribeToken", None)
    return ("answered", data, token is not None)


def _counts(c: Any) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for metric in c.metrics.inquiries.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    }


async def test_local_bills_answer_as_the_http_inquiry(tmp_path: Path) -> None:
    async with sqlite_process(tmp_path) as (c, client):
        local = LocalBills(c.inquiry, c.limiter, c.metrics)
        headers = auth_header(c, "amk", "sandbox-amk")
        for query in ["P123456789", "P999999999", "not a bill!", "", "X" * 40]:
            before = _counts(c)
            response = await client.get("/AMK/payments", params={"query": query}, headers=headers)
            over_http: dict[str, Any] | PayHubError
            try:
                if response.status_code == 404:
                    raise NotFound(f"No premium due for {query}")
                over_http = Simulator._data((response.status_code, response.content))
            except PayHubError as exc:
                over_http = exc
            between = _counts(c)
            direct: dict[str, Any] | PayHubError
            try:
                direct = await local.bill(query)
            except PayHubError as exc:
                direct = exc
            after = _counts(c)
            assert _as_compared(direct) == _as_compared(over_http), query
            http_delta = {k: v - before.get(k, 0) for k, v in between.items() if v != before.get(k, 0)}
            direct_delta = {k: v - between.get(k, 0) for k, v in after.items() if v != between.get(k, 0)}
            assert direct_delta == http_delta, query
