"""The integration service's premiums for a gateway in the same process (the embedded default).

``hub.ports.PremiumSource`` without HTTP: when one process serves both the gateway and the integration
service (``payhub run``, no ``PAYHUB_INTEGRATION_URL``), the gateway asks :class:`PremiumService`
directly. Profiles of the webhook path (docs/perf/webhooks.md) showed the in-process HTTP hop
(``httpx.ASGITransport`` through the whole middleware stack, a service token checked, JSON written and
read back) costing more than the rest of the premium look-up; the contract is the client's
(``hub.adapters.integration.IntegrationClient``): the same premium, with its contact, or ``NotFound``,
or ``ServiceUnavailable``.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hub.domain.records import Premium
from hub.errors import NotFound, PayHubError, ServiceUnavailable
from integration.premiums import APPLICATION_NUMBER, PremiumService


class LocalPremiums:
    """``PremiumSource`` over this process's :class:`PremiumService`."""

    def __init__(self, service: PremiumService) -> None:
        self._service = service

    async def due_premium(self, query: str) -> Premium:
        """The premium due for a policy or application number; ``NotFound``, or ``ServiceUnavailable`` (also
        for a query the service refuses, as the HTTP client reads its 400)."""
        if not APPLICATION_NUMBER.match(query):
            raise ServiceUnavailable("Integration service answered 400")
        premium = await self._ask(self._service.due(query))
        if premium is None:
            raise NotFound("Premium not found", details={"query": query})
        return premium

    async def premium(self, premium_id: int) -> Premium:
        """Premium ``premium_id``; ``NotFound``, or ``ServiceUnavailable``."""
        premium = await self._ask(self._service.get(premium_id))
        if premium is None:
            raise NotFound("Premium not found", details={"path": f"/integration/premiums/{premium_id}"})
        return premium

    @staticmethod
    async def _ask(call: Awaitable[Premium | None]) -> Premium | None:
        try:
            return await call
        except ServiceUnavailable:
            raise
        except PayHubError as exc:  # over HTTP any other failure of the service is its 5xx: unavailable
            raise ServiceUnavailable("Integration service failed", details=exc.message) from exc
        except Exception as exc:
            raise ServiceUnavailable("Integration service failed", details=repr(exc)) from exc
