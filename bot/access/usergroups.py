"""Who is in which Slack user group: ``usergroups.list`` and ``usergroups.users.list``, cached.

The guard asks on every command, in the acknowledgement's 3 seconds, so an answer is kept for
``ttl`` seconds (minutes: membership changes rarely) and, once that has passed, still served
while a fresh one is fetched in the background. When Slack fails, the last good answer stays
in use however old it is (the failure is logged, and the next try waits ``retry_after``
seconds); only a group never read is unknown, and then the guard refuses with a sentence that
says so. A group never read costs at most two calls of ``timeout`` seconds each (its handle,
then its members); :meth:`UserGroups.warm` reads the policy's groups at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access.policy import GROUP_ID
from bot.errors import ChatOpsError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 300.0
CALL_TIMEOUT_SECONDS = 1.0  # two of them fit the ack's 3 s with room for the rest
RETRY_AFTER_SECONDS = 30.0  # after a failure, Slack is not asked again sooner


class GroupsUnavailable(ChatOpsError):
    """A user group's members were never read, and Slack does not answer now."""


@dataclass
class _Cached:
    value: Any
    at: float  # when it was read; pushed forward after a failed refresh (the back-off)


class UserGroups:
    def __init__(
        self,
        slack: AsyncWebClient,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        timeout: float = CALL_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = slack
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._failed_at: dict[str, float] = {}  # keys never read, and when that last failed
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def refreshed(self) -> None:
        """Until the background refreshes under way now are done (for tests and shutdown)."""
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    async def warm(self, groups: Iterable[str]) -> None:
        """Read ``groups`` now, together (start-up: the first commands then find them)."""
        results = await asyncio.gather(
            *(self.members(group) for group in set(groups)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, GroupsUnavailable):
                raise result

    async def members(self, group: str) -> frozenset[str]:
        """The user IDs in ``group`` (an ID ``S…`` or a handle)."""
        group_id = group if GROUP_ID.match(group) else await self._id_of(group)
        if group_id is None:
            return frozenset()  # no such handle: nobody is in it
        return await self._cached(
            f"members:{group_id}", lambda: self._fetch_members(group_id), what=group
        )

    async def _id_of(self, handle: str) -> str | None:
        handles = await self._cached("handles", self._fetch_handles, what=f"@{handle}")
        return handles.get(handle)

    async def _fetch_handles(self) -> dict[str, str]:
        answer = await self._slack.usergroups_list(include_disabled=False)
        return {
            str(group["handle"]): str(group["id"])
            for group in answer.get("usergroups") or []
            if group.get("handle") and group.get("id")
        }

    async def _fetch_members(self, group_id: str) -> frozenset[str]:
        try:
            answer = await self._slack.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "no_such_subteam":
                return frozenset()  # deleted: nobody is in it (a good answer)
            raise
        return frozenset(str(user) for user in answer.get("users") or [])

    async def _cached(self, key: str, fetch: Callable[[], Awaitable[T]], *, what: str) -> T:
        entry = self._cache.get(key)
        if entry is not None:
            if self._clock() - entry.at >= self._ttl and key not in self._refreshing:
                task = asyncio.get_running_loop().create_task(self._refresh(key, fetch, what))
                self._refreshing[key] = task
                task.add_done_callback(lambda _done: self._refreshing.pop(key, None))
            value: T = entry.value
            return value  # fresh, or stale while a fresh one is on its way
        failed = self._failed_at.get(key)
        if failed is not None and self._clock() - failed < RETRY_AFTER_SECONDS:
            raise self._unavailable(what)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one call per key, however many requests wait for it
            entry = self._cache.get(key)
            if entry is not None:
                found: T = entry.value
                return found
            try:
                fetched = await asyncio.wait_for(fetch(), self._timeout)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("user group %s: Slack did not answer (%s)", what, _reason(exc))
                self._failed_at[key] = self._clock()
                raise self._unavailable(what) from None
            self._cache[key] = _Cached(value=fetched, at=self._clock())
            self._failed_at.pop(key, None)
            return fetched

    async def _refresh(self, key: str, fetch: Callable[[], Awaitable[T]], what: str) -> None:
        entry = self._cache[key]
        try:
            fetched = await asyncio.wait_for(fetch(), self._timeout)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "user group %s: Slack did not answer (%s); using its members as of %.0f s ago",
                what,
                _reason(exc),
                self._clock() - entry.at,
            )
            entry.at = self._clock() - self._ttl + RETRY_AFTER_SECONDS
            return
        self._cache[key] = _Cached(value=fetched, at=self._clock())

    @staticmethod
    def _unavailable(what: str) -> GroupsUnavailable:
        return GroupsUnavailable(
            f"I cannot check the members of user group {what} with Slack right now"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__
