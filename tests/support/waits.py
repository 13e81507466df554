"""A stand-in for ``asyncio.sleep`` that records the waits a retry policy asks for."""

from __future__ import annotations


class Waits:
    """Pass as ``RetryPolicy(sleep=Waits())``: retries happen at once, the waits are kept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
