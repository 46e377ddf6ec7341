"""The bank's premium inquiry (``GET /AMK/payments``) as one call, for the route and for the sandbox bank.

The route authenticates the caller and reads its requester from the request, then asks
:func:`answer_inquiry`: the caller's rate limit (PayHub's own services are not limited here), the
inquiry service (cache, breaker, integration service, fraud rules, payment opened), and the
``payhub_inquiries_total`` outcome. :class:`LocalBills` asks the same function as the sandbox bank of
this process: profiles of ``simulate/pay`` (docs/perf/webhooks.md) showed the in-process HTTP hop
(``httpx.ASGITransport``, the whole middleware stack, a token minted and checked, JSON written and read
back, an access line) costing twice the look-up itself.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.inquiry import InquiryService
from hub.auth import Principal
from hub.errors import NotFound, PayHubError, ServiceUnavailable
from hub.fraud.requester import Requester
from hub.json_codec import dumps_bytes, loads_object
from hub.logs import correlation_id
from hub.metrics import Metrics
from hub.ports import RateLimiter

log = logging.getLogger("payhub.sandbox")


def count_inquiry(metrics: Metrics | None, outcome: str) -> None:
    """One ``payhub_inquiries_total{outcome}``: ``found``, an error code in lower case, or ``error``."""
    if metrics is not None:
        metrics.inquiries.labels(outcome).inc()


async def answer_inquiry(
    inquiry: InquiryService,
    limiter: RateLimiter,
    metrics: Metrics | None,
    query: str,
    who: Principal,
    ip: str,
    correlation: str,
    asking: Requester,
) -> dict[str, Any]:
    """What ``GET /AMK/payments?query=`` answers in ``data`` to ``who`` (already authenticated) from
    ``ip``. Raises what the route answers: ``RateLimitExceeded`` (429), ``BadRequest``, ``NotFound``,
    ``FraudDetected`` (403), ``ServiceUnavailable``."""
    outcome = "error"
    try:
        if who.role != "service":
            # PayHub's own services (the KHQR service asking for each of its customers) are not
            # limited here: the customer was limited where the request came in, per user and per IP.
            await limiter.hit(user=who.sub, ip=ip)
        data = await inquiry.inquire(query, who, ip, correlation, asking)
        outcome = "found"
        return data
    except PayHubError as exc:
        outcome = exc.code.lower()
        raise
    finally:
        count_inquiry(metrics, outcome)


class LocalBills:
    """The sandbox bank's bill look-up when the gateway serves in this process (no ``PAYHUB_GATEWAY_URL``):
    the gateway's own inquiry, asked as the HTTP hop asked it (subject ``sandbox-amk``, role ``amk``, from
    the in-process transport's address 127.0.0.1, the current correlation id), and its answer read as the
    simulator read the HTTP one (written to JSON and read back, so amounts have the same types)."""

    SUBJECT = "sandbox-amk"
    ADDRESS = "127.0.0.1"  # httpx.ASGITransport's client address, which the hop's limits and rules saw

    def __init__(self, inquiry: InquiryService, limiter: RateLimiter, metrics: Metrics | None) -> None:
        self._inquiry = inquiry
        self._limiter = limiter
        self._metrics = metrics

    async def bill(self, bill_number: str) -> dict[str, Any]:
        """The premium due for ``bill_number`` as the route's ``data``. ``NotFound`` when none is due; the
        gateway's other refusals (4xx) as they are; its failures as ``ServiceUnavailable``, as the simulator
        reads a 5xx."""
        who = Principal(self.SUBJECT, "amk")
        try:
            data = await answer_inquiry(
                self._inquiry,
                self._limiter,
                self._metrics,
                bill_number,
                who,
                self.ADDRESS,
                correlation_id.get(),
                Requester(True, counted=False),  # hub.fraud.requester: what an ``amk`` caller is
            )
        except NotFound as exc:
            raise NotFound(f"No premium due for {bill_number}") from exc
        except PayHubError as exc:
            if exc.status_code < 500:
                raise
            raise ServiceUnavailable(f"gateway answered {exc.status_code}", details=exc.message) from exc
        except Exception as exc:  # the route's error middleware would have answered 500
            log.exception("bill look-up failed")
            raise ServiceUnavailable("gateway answered 500", details=repr(exc)) from exc
        answer: dict[str, Any] = loads_object(dumps_bytes(data))
        return answer
