"""Readiness: may this process take work now? Each dependency it uses, checked, with a short timeout.

A process registers one check per dependency it really uses (``database``, ``redis``, ``kafka``):
a check is an ``async`` callable that returns when the dependency answered and raises otherwise.
``probe`` runs every check concurrently, each bounded by ``timeout_s``, so ``/readyz`` answers
within that time even while a dependency hangs (a cut network never answers at all).

Liveness (``/healthz``) checks nothing: a process whose dependency is down is alive, waits for it,
and must not be restarted for it; readiness takes it out of a load balancer meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hub.errors import PayHubError, ServiceUnavailable

Check = Callable[[], Awaitable[None]]
OK = "ok"


class Readiness:
    def __init__(self, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Check dependency ``name`` with ``check`` (replaces an earlier check of that name)."""
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    async def probe(self) -> dict[str, str]:
        """Every dependency's state: ``"ok"`` or why not (``timeout after 2 s``, the error)."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._one(self._checks[n]) for n in names))
        return dict(zip(names, results, strict=True))

    async def require(self) -> dict[str, str]:
        """``probe``, raising ``ServiceUnavailable`` that names each failed dependency (message) with
        every state (``details``) unless all answered."""
        states = await self.probe()
        failed = [name for name, state in states.items() if state != OK]
        if failed:
            raise ServiceUnavailable(f"{', '.join(failed)} unreachable", details=states)
        return states

    async def _one(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), self.timeout_s)
        except TimeoutError:
            return f"timeout after {self.timeout_s:g} s"
        except PayHubError as exc:
            return exc.message + (f": {exc.details}" if isinstance(exc.details, str) else "")
        except Exception as exc:  # any driver's error: the check's whole point is to report it
            return f"{type(exc).__name__}: {exc}"
        return OK
