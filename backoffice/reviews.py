"""The review queue: listing reviews, their case files, and moving them (resolve, escalate, reopen).

A move is one unit of work: the review is read under its row lock (PostgreSQL; SQLite and the
in-memory store run one unit at a time), the state machine (``hub.domain.reviews``) decides, the
row is changed only if it is still in the state that was read (compare and set), and one row is
appended to its history with the actor, the note and the time. Of concurrent moves of one review
exactly one wins; the others get ``Conflict`` (409) and change nothing. Who may call: admins (the
admin API takes the actor from the token's subject; the CLI from ``--by``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backoffice.casefile import review_file
from hub.domain.reviews import (
    Review,
    ReviewAction,
    ReviewEvent,
    ReviewOutcome,
    ReviewQuery,
    ReviewState,
    allowed_from,
    next_state,
)
from hub.errors import BadRequest, Conflict, NotFound
from hub.ports import Store

log = logging.getLogger("payhub.reviews")

MAX_ACTOR = 200
_DONE = {
    ReviewAction.OPEN: "review opened",
    ReviewAction.RESOLVE: "review resolved",
    ReviewAction.ESCALATE: "review escalated",
    ReviewAction.REOPEN: "review reopened",
}


@dataclass(frozen=True)
class Move:
    """A review after a move, and the history row the move appended."""

    review: Review
    event: ReviewEvent

    def as_json(self) -> dict[str, Any]:
        return {"review": self.review.as_json(), "event": self.event.as_json()}


@dataclass
class ReviewDesk:
    store: Store
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def find(self, query: ReviewQuery) -> list[Review]:
        """Reviews matching ``query``, newest first."""
        async with self.store.transaction() as tx:
            return await tx.review_rows.find(query)

    async def case_file(self, review_id: int) -> dict[str, Any]:
        """The review with its history and its payment's case file (``backoffice.casefile.review_file``).
        Raises NotFound."""
        async with self.store.transaction() as tx:
            review = await tx.review_rows.get(review_id)
            if review is None:
                raise NotFound(f"No review {review_id}")
            return await review_file(tx, review)

    async def resolve(self, review_id: int, outcome: ReviewOutcome, note: str, actor: str) -> Move:
        """OPEN or ESCALATED → RESOLVED with ``outcome``."""
        return await self.act(review_id, ReviewAction.RESOLVE, note, actor, outcome)

    async def escalate(self, review_id: int, note: str, actor: str) -> Move:
        """OPEN → ESCALATED."""
        return await self.act(review_id, ReviewAction.ESCALATE, note, actor)

    async def reopen(self, review_id: int, note: str, actor: str) -> Move:
        """RESOLVED → OPEN (the outcome is cleared; the history keeps it)."""
        return await self.act(review_id, ReviewAction.REOPEN, note, actor)

    async def act(
        self, review_id: int, action: ReviewAction, note: str, actor: str, outcome: ReviewOutcome | None = None
    ) -> Move:
        """Apply ``action`` by ``actor`` with ``note``. Raises BadRequest (no note, no actor, an
        outcome missing for ``resolve`` or given for another action), NotFound, or Conflict when the
        review's state does not allow the action (``details``: ``reviewId, state, action, allowedFrom``)."""
        note, actor = note.strip(), actor.strip()
        problems = []
        if not note:
            problems.append({"field": "note", "message": "say why (1-2000 characters)"})
        if not actor or len(actor) > MAX_ACTOR:
            problems.append({"field": "actor", "message": f"who acts (1-{MAX_ACTOR} characters)"})
        if action is ReviewAction.OPEN:
            problems.append({"field": "action", "message": "reviews are opened by PayHub, or reopened"})
        if (action is ReviewAction.RESOLVE) != (outcome is not None):
            problems.append({"field": "outcome", "message": "required to resolve, and only then"})
        if problems:
            raise BadRequest("Invalid review action", details=problems)
        now = self.clock()
        async with self.store.transaction() as tx:
            rows = tx.review_rows
            review = await rows.get(review_id, lock=True)
            if review is None:
                raise NotFound(f"No review {review_id}")
            to = next_state(review.state, action)
            if to is None or not await rows.move(review.id, review.state, to, outcome, now):
                raise _conflict(review, action)
            event = await rows.append_event(review.id, action, review.state, to, outcome, actor, note, now)
            moved = await rows.get(review.id)
            assert moved is not None
        log.info(
            _DONE[action],
            extra={
                "reviewId": review.id,
                "kind": review.kind,
                "from": review.state.value,
                "to": to.value,
                "outcome": outcome.value if outcome else None,
                "actor": actor,
            },
        )
        return Move(moved, event)

    async def unresolved_by_kind(self) -> dict[tuple[str, ReviewState], int]:
        async with self.store.transaction() as tx:
            return await tx.review_rows.unresolved_by_kind()


def _conflict(review: Review, action: ReviewAction) -> Conflict:
    allowed = [s.value for s in allowed_from(action)]
    return Conflict(
        f"Review {review.id} is {review.state.value}: cannot {action.value} it",
        details={"reviewId": review.id, "state": review.state.value, "action": action.value, "allowedFrom": allowed},
    )
