"""Premium settlement driven by what was committed, not by the bus alone.

The bus (Redis pub/sub, in-process) and Kafka are the fast path: a CONFIRMED event marks its
premium paid within milliseconds (``PremiumService.on_event``). But pub/sub forgets what it could
not deliver, and a publish can fail after the commit (Redis down while the re-verifier confirms).
So the integration service also reads the committed state itself: confirmed payments whose premium
is still DUE (``settle_unsettled``) are settled at start-up, after every bus reconnect, and every
``interval_s`` seconds. Marking a premium paid is idempotent, so the paths never settle twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hub.background import every
from integration.premiums import PremiumService

log = logging.getLogger("payhub.settlement")


@dataclass
class SettlementSweeper:
    premiums: PremiumService
    interval_s: float = 30.0

    async def sweep(self) -> int:
        """Settle every confirmed payment whose premium is still due; returns how many were settled."""
        settled = await self.premiums.settle_unsettled()
        if settled:
            # The fast path missed these (bus down or a publish lost after the commit).
            log.warning("premiums settled from the committed log", extra={"count": settled})
        return settled

    async def run_forever(self) -> None:
        await every(
            self.interval_s, self.sweep, log=log, failed="settlement sweep failed; retried at the next interval"
        )
