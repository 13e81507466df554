"""A second event loop, in its own thread, for everything but acknowledging Slack.

Slack wants an answer within 3 seconds, whatever AI Core does. Acks are cheap, but the work
after them (provider calls, database, cards) is not: at 100 commands a second it can keep one
event loop busy, and acks would queue behind it. So the web loop only verifies, parses and
acks; the work, the worker and every client that does I/O live on this loop. Python's GIL
switches between the two threads every few milliseconds, which keeps acks prompt.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

Offload = Callable[[Coroutine[Any, Any, T]], Awaitable[T]]

# A shorter GIL switch interval (default 5 ms) bounds how long an ack waits for the work thread.
SWITCH_INTERVAL_SECONDS = 0.001


async def run_here(coro: Coroutine[Any, Any, T]) -> T:
    """The offload used without a work loop (tests, tools): just run it."""
    return await coro


async def cancel_the_rest() -> None:
    """Cancel every other task of the running loop and wait until they have ended."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class WorkLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="work-loop", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self._thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the work loop and wait for it from the calling loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()
