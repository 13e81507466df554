"""Supervised loops: a loop that fails is logged, reported and started again, never lost.

Every long-running loop of a process (the job runner, the poller, delivery, the heartbeat)
runs under :func:`supervised`. An exception escaping one pass of the loop is logged with its
traceback, recorded in :class:`Health` (which ``/healthz`` and the process's heartbeat show),
and the loop starts again after a growing pause. Errors about one row (one job, one outbox
message, one scope) are handled closer to the row, so that the row is set aside and the loop
goes on: this is the last line, for what nobody foresaw.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_RESTART_PAUSE_SECONDS = 30.0


@dataclass
class LoopState:
    state: str = "starting"  # starting | ok | failing | stopped
    since: float = field(default_factory=time.time)
    last_ok: float | None = None
    failures: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since": round(self.since, 3),
            "last_ok": round(self.last_ok, 3) if self.last_ok else None,
            "failures": self.failures,
            "error": self.error,
        }


class Health:
    """The state of this process's loops, as they report it."""

    def __init__(self) -> None:
        self.loops: dict[str, LoopState] = {}

    def _loop(self, name: str) -> LoopState:
        return self.loops.setdefault(name, LoopState())

    def ok(self, name: str) -> None:
        loop = self._loop(name)
        if loop.state != "ok":
            loop.state, loop.since, loop.error = "ok", time.time(), None
        loop.last_ok = time.time()

    def failed(self, name: str, error: BaseException) -> None:
        loop = self._loop(name)
        loop.failures += 1
        loop.error = f"{type(error).__name__}: {error}"[:300]
        if loop.state != "failing":
            loop.state, loop.since = "failing", time.time()

    def stopped(self, name: str) -> None:
        loop = self._loop(name)
        loop.state, loop.since = "stopped", time.time()

    @property
    def healthy(self) -> bool:
        return all(loop.state != "failing" for loop in self.loops.values())

    def as_dict(self) -> dict[str, Any]:
        return {name: loop.as_dict() for name, loop in sorted(self.loops.items())}


async def supervised(
    name: str,
    one_pass: Callable[[], Awaitable[float]],
    *,
    health: Health,
    stop: asyncio.Event,
    wakeup: Wakeup | None = None,
) -> None:
    """Run ``one_pass`` until ``stop`` is set; it returns how long to wait before the next
    (``wakeup``, when given, cuts the wait short).

    A pass that raises is logged with its traceback and retried after 1, 2, 4 ... 30 s.
    """
    pause_after_failure = 1.0
    while not stop.is_set():
        try:
            wait = await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s failed; starting it again in %.0f s", name, pause_after_failure)
            health.failed(name, exc)
            wait = pause_after_failure
            pause_after_failure = min(MAX_RESTART_PAUSE_SECONDS, pause_after_failure * 2)
        else:
            health.ok(name)
            pause_after_failure = 1.0
        if wait <= 0:
            await asyncio.sleep(0)
        else:
            await (wakeup or Wakeup()).wait(stop, wait)
    health.stopped(name)


class Wakeup:
    """An event a loop sleeps on between passes, so that new work wakes it early."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Until woken (since the last wait), stopped, or ``seconds`` passed."""
        if self._event.is_set():
            self._event.clear()
            return
        waiters = {
            asyncio.ensure_future(self._event.wait()),
            asyncio.ensure_future(stop.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._event.clear()
