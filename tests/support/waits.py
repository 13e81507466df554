"""A stand-in for ``asyncio.sleep`` that records the waits a retry policy asks for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Waits:
    """Pass as ``RetryPolicy(sleep=Waits())``: retries happen at once, the waits are kept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def until(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    """Wait until ``check()`` holds (a database or a process has no event to wait on)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - polling is the only way to see it
            await asyncio.sleep(0.05)
