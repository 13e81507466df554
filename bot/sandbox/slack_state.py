"""The state the parts of the local Slack (:mod:`bot.sandbox.slack`) share, and its helpers.

:class:`~bot.sandbox.slack.FakeSlack` is put together from one mixin per concern (the Web API
methods on messages, the channels as tests read them, views, the directory, response URLs,
the HTTP front end); each derives from :class:`SlackState`, which declares what they share
and holds the helpers they all use. ``FakeSlack.__init__`` sets all of the state up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bot.sandbox.slack_files import FileStore
from bot.sandbox.slack_records import Failure, Message, SlackCall, SlackError, ts_value

# First ts handed out; each post adds 100 µs so the strings stay unique and sort correctly
# both as text and as numbers (which real Slack ts values also do).
_TS_BASE_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100


class SlackState:
    """Shared state, every piece of it guarded by ``_lock`` (readers get copies)."""

    # The workspace and the app, as Web API answers name them.
    team_id: str
    bot_user_id: str
    bot_id: str
    app_id: str
    real_time: bool  # ts values are the time of posting, as in Slack; else a fixed sequence
    version: int  # bumped on every change a page would show

    _lock: threading.Lock
    _calls: list[SlackCall]  # every request received, in arrival order
    # channel -> ts -> message; ts order is recovered by sorting (ts values are unique).
    _messages: dict[str, dict[str, Message]]
    _failures: dict[str, deque[Failure]]  # method -> failures queued for its next calls
    _files: FileStore
    _base_url: str  # the last request's; upload URLs use it
    _listeners: list[Callable[[], None]]
    _ts_counter: int
    _last_ts_micros: int

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called (from whatever thread made the change) after each change."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _changed(self) -> None:
        with self._lock:
            self.version += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    # ------------------------------------------------------------------ state helpers
    # All helpers below run with self._lock held.

    def _next_ts(self) -> str:
        micros = _TS_BASE_MICROS + self._ts_counter * _TS_STEP_MICROS
        if self.real_time:
            micros = max(int(time.time() * 1_000_000), self._last_ts_micros + _TS_STEP_MICROS)
            self._last_ts_micros = micros
        self._ts_counter += 1
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _sorted(self, channel: str) -> list[Message]:
        return sorted(self._messages.get(channel, {}).values(), key=lambda m: ts_value(m.ts))

    def _get(self, channel: str, ts: str) -> Message | None:
        return self._messages.get(channel, {}).get(ts)

    def _pop_failure(self, method: str, channel: str | None = None) -> Failure | None:
        """The first failure queued for ``method`` that this call (about ``channel``) takes."""
        queue = self._failures.get(method)
        for failure in queue or ():
            if failure.channel is None or failure.channel == channel:
                assert queue is not None
                queue.remove(failure)
                return failure
        return None

    @staticmethod
    def _require(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
        value = args.get(name)
        if value is None or value == "":
            raise SlackError(error)
        return str(value)
