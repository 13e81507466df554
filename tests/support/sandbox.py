"""The sandbox as ``python -m bot`` with no Slack credentials, its demo story played fast."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.process import BotProcess

FAST = {"SANDBOX_SPEED": "10", "POLL_INTERVAL_SECONDS": "0.5"}


@contextmanager
def running_sandbox() -> Iterator[BotProcess]:
    bot = BotProcess(dict(FAST)).start(timeout=60)
    try:
        yield bot
    finally:
        bot.stop()
