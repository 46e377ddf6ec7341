"""Stateful property test of the review workflow, through the admin API of a wired process, on the
in-memory store, SQLite and PostgreSQL.

Hypothesis drives random sequences of resolve (each outcome), escalate and reopen, by different
admins, on a few reviews of different kinds, plus malformed requests. A model holds each review's
state. After every step:

* a move the state machine allows answered 200 with the new state, and its history row names the
  actor (the token's subject), the note, the outcome and a time within the request;
* a move it forbids answered 409 in the contract's envelope (``BAD_REQUEST``, the current state and
  the states it is allowed from), a malformed one 400, and neither changed anything;
* each review's history only grows (what was seen stays as it was), starts with PayHub's ``open``,
  chains (each row starts where the previous ended), ends in the current state, and an outcome is
  set exactly while RESOLVED.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from hub.adapters.store.memory import MemoryStore
from hub.domain.reviews import ReviewAction, ReviewOutcome, ReviewState, allowed_from, next_state
from tests.conftest import auth_header, fresh_pg_schema, make_settings, running

KEYS = ("double-payment:1:paid", "webhook:BILL:AMK1:unknown premium id", "reconcile:2026-11-27:AMK2")
ACTORS = ("alice", "bob")
ACTIONS = (ReviewAction.RESOLVE, ReviewAction.ESCALATE, ReviewAction.REOPEN)
PHASES = (Phase.generate,) if os.environ.get("NOSHRINK") else tuple(Phase)


class Reviews(RuleBasedStateMachine):
    backend = "memory"
    tmp: Path = Path(".")

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.stack = contextlib.AsyncExitStack()
        self.state: dict[int, ReviewState] = {}
        self.outcome: dict[int, ReviewOutcome | None] = {}
        self.seen: dict[int, list[dict[str, Any]]] = {}
        self.run(self._open())

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    async def _open(self) -> None:
        adapters: dict[str, Any] = {}
        if self.backend == "memory":
            url, adapters["store"] = f"sqlite:///{self.tmp}/unused.db", MemoryStore()
        elif self.backend == "sqlite":
            url = f"sqlite:///{self.tmp}/{uuid.uuid4().hex}.db"
        else:
            url = await self.stack.enter_async_context(fresh_pg_schema())
        self.c = await self.stack.enter_async_context(running(make_settings(url), **adapters))
        assert self.c.app is not None
        self.client = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=self.c.app), base_url="http://testserver")
        )
        now = datetime.now(UTC)
        async with self.c.store.transaction() as tx:
            for key in KEYS:
                assert await tx.add_review(key, f"why {key}", None, {"key": key}, now)
                review = await tx.review_rows.by_key(key)
                assert review is not None
                self.state[review.id], self.outcome[review.id], self.seen[review.id] = ReviewState.OPEN, None, []

    def teardown(self) -> None:
        try:
            self.run(self.stack.aclose())
        finally:
            self.runner.close()

    async def _case(self, review_id: int) -> dict[str, Any]:
        r = await self.client.get(f"/admin/reviews/{review_id}", headers=auth_header(self.c, "admin"))
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        return data

    @rule(
        index=st.integers(0, len(KEYS) - 1),
        action=st.sampled_from(ACTIONS),
        outcome=st.sampled_from(list(ReviewOutcome)),
        actor=st.sampled_from(ACTORS),
        note=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
            str.strip
        ),
    )
    def move(self, index: int, action: ReviewAction, outcome: ReviewOutcome, actor: str, note: str) -> None:
        review_id = sorted(self.state)[index]
        before = self.state[review_id]
        body: dict[str, Any] = {"note": note, **({"outcome": outcome.value} if action is ReviewAction.RESOLVE else {})}
        started = datetime.now(UTC)
        r = self.run(
            self.client.post(
                f"/admin/reviews/{review_id}/{action.value}", json=body, headers=auth_header(self.c, "admin", actor)
            )
        )
        finished = datetime.now(UTC)
        expected = next_state(before, action)
        if expected is None:
            assert r.status_code == 409, r.text
            error = r.json()["error"]
            assert r.json()["success"] is False and error["code"] == "BAD_REQUEST"
            assert error["details"] == {
                "reviewId": review_id,
                "state": before.value,
                "action": action.value,
                "allowedFrom": [s.value for s in allowed_from(action)],
            }
            return
        assert r.status_code == 200, r.text
        done = r.json()["data"]
        settled = outcome if action is ReviewAction.RESOLVE else None
        assert done["review"]["state"] == expected.value
        assert done["review"]["outcome"] == (settled.value if settled else None)
        event = done["event"]
        assert (event["action"], event["fromState"], event["toState"]) == (action.value, before.value, expected.value)
        assert (event["actor"], event["note"], event["outcome"]) == (actor, note.strip(), done["review"]["outcome"])
        assert started - timedelta(seconds=1) <= datetime.fromisoformat(event["at"]) <= finished
        self.state[review_id], self.outcome[review_id] = expected, settled

    @rule(
        index=st.integers(0, len(KEYS) - 1),
        action=st.sampled_from(ACTIONS),
        body=st.sampled_from(
            [
                {},
                {"note": ""},
                {"note": "   "},
                {"note": "x" * 2001},
                {"note": "ok", "outcome": "maybe"},
                {"note": "ok", "extra": True},
                {"note": 5},
                {"note": "bad\x00byte"},
                {"outcome": "accepted"},
            ]
        ),
    )
    def malformed(self, index: int, action: ReviewAction, body: dict[str, Any]) -> None:
        review_id = sorted(self.state)[index]
        r = self.run(
            self.client.post(
                f"/admin/reviews/{review_id}/{action.value}", json=body, headers=auth_header(self.c, "admin")
            )
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "BAD_REQUEST" and r.json()["error"]["details"]

    @rule(action=st.sampled_from(ACTIONS), role=st.sampled_from(["customer", "amk", None]))
    def not_an_admin(self, action: ReviewAction, role: str | None) -> None:
        review_id = sorted(self.state)[0]
        headers = auth_header(self.c, role) if role else {}
        body = {"note": "n", "outcome": "accepted"} if action is ReviewAction.RESOLVE else {"note": "n"}
        r = self.run(self.client.post(f"/admin/reviews/{review_id}/{action.value}", json=body, headers=headers))
        assert r.status_code == (403 if role else 401), r.text

    @invariant()
    def histories_only_grow_and_tell_the_state(self) -> None:
        for review_id, state in self.state.items():
            case = self.run(self._case(review_id))
            history = case["history"]
            seen = self.seen[review_id]
            assert history[: len(seen)] == seen, "the history was rewritten"
            assert history[0]["action"] == "open" and history[0]["actor"] == "payhub"
            assert history[0]["fromState"] is None and history[0]["toState"] == "OPEN"
            for earlier, later in itertools.pairwise(history):
                assert later["fromState"] == earlier["toState"] and later["id"] > earlier["id"]
                assert datetime.fromisoformat(later["at"]) >= datetime.fromisoformat(earlier["at"])
            assert history[-1]["toState"] == state.value == case["review"]["state"]
            outcome = self.outcome[review_id]
            assert case["review"]["outcome"] == (outcome.value if outcome else None)
            assert (case["review"]["outcome"] is not None) == (state is ReviewState.RESOLVED)
            self.seen[review_id] = history


@pytest.mark.parametrize(
    ("backend", "examples"),
    [("memory", 25), ("sqlite", 8), pytest.param("postgres", 8, marks=pytest.mark.postgres)],
)
@pytest.mark.timeout(240)
def test_review_moves_follow_the_state_machine(backend: str, examples: int, tmp_path: Path) -> None:
    machine = type(f"Reviews_{backend}", (Reviews,), {"backend": backend, "tmp": tmp_path})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            phases=PHASES,
        ),
    )


def test_the_state_machine_table() -> None:
    """Every (state, action) pair: the four legal edges of issue 9, nothing else."""
    S, A = ReviewState, ReviewAction
    legal = {(s, a): next_state(s, a) for s in S for a in A if next_state(s, a) is not None}
    assert legal == {
        (S.OPEN, A.RESOLVE): S.RESOLVED,
        (S.ESCALATED, A.RESOLVE): S.RESOLVED,
        (S.OPEN, A.ESCALATE): S.ESCALATED,
        (S.RESOLVED, A.REOPEN): S.OPEN,
    }
    assert allowed_from(A.OPEN) == ()
