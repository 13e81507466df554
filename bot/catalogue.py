"""The start form's picker: a resource group's configurations, filtered as the user types.

Slack asks for options on every keystroke and gives the answer 3 seconds, so the catalogue is
kept for a short while per scope (one ``GET /lm/configurations`` serves a whole form) and
filtered here by name, scenario or ID. A scope with more configurations than one listing
holds is searched by AI Core (``$search``) instead. A listing that fails or is late leaves the
last good one in use; with none, the caller hears :class:`ProviderUnavailable`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import ProviderUnavailable
from bot.providers.base import Provider, Target

TTL_SECONDS = 60.0
LISTING_LIMIT = 500
ANSWER_SECONDS = 2.0  # Slack waits 3 s for the options


@dataclass
class _Entry:
    targets: list[Target]
    complete: bool  # the listing held the whole catalogue
    fetched_at: float


class Catalogue:
    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        timeout: float = ANSWER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self.clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._fetching: dict[tuple[str, str], asyncio.Task[_Entry]] = {}

    async def matching(self, provider: Provider, scope: str, text: str) -> list[Target]:
        """Targets whose name, scenario or ID contains ``text`` (any case), newest first;
        within ``timeout`` in all, listing and searching together."""
        deadline = self.clock() + self.timeout
        wanted = text.strip().casefold()
        try:
            entry: _Entry | None = await self._entry(provider, scope)
        except ProviderUnavailable:
            if not wanted:
                raise
            entry = None  # AI Core's own search may still answer
        if entry is not None and (entry.complete or not wanted):
            return [t for t in entry.targets if wanted in _haystack(t)]
        remaining = deadline - self.clock()
        try:
            if remaining <= 0:
                raise TimeoutError
            found = await asyncio.wait_for(
                provider.find_targets(scope, wanted, limit=LISTING_LIMIT), remaining
            )
        except TimeoutError:
            raise ProviderUnavailable(f"{provider.label} did not search in time") from None
        return found.found

    async def _entry(self, provider: Provider, scope: str) -> _Entry:
        key = (provider.name, scope)
        kept = self._entries.get(key)
        if kept is not None and self.clock() - kept.fetched_at < self.ttl:
            return kept
        task = self._fetching.get(key)
        if task is None:  # one listing serves every keystroke that waits for it
            task = asyncio.ensure_future(self._fetch(provider, scope))
            self._fetching[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        try:
            entry = await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except (TimeoutError, ProviderUnavailable):
            if kept is not None:
                return kept  # the last good listing beats an empty picker
            raise ProviderUnavailable(
                f"{provider.label} did not list the configurations of `{scope}` in time"
            ) from None
        return entry

    async def _fetch(self, provider: Provider, scope: str) -> _Entry:
        found = await provider.find_targets(scope, None, limit=LISTING_LIMIT)
        entry = _Entry(found.found, len(found.found) >= found.total, self.clock())
        self._entries[(provider.name, scope)] = entry  # also when its first waiter gave up
        return entry

    def _settled(self, key: tuple[str, str], task: asyncio.Task[_Entry]) -> None:
        self._fetching.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: a listing nobody waits for any more may fail quietly


def _haystack(target: Target) -> str:
    return f"{target.name}\n{target.scenario or ''}\n{target.id}".casefold()
