"""The poller: one list call per followed scope per cycle, transitions recorded with the status.

Each cycle, for every scope (AI Core resource group, Bria account) that has open follows or a
subscription, the poller lists the runs once (paged), compares them with what each channel was
last told, and in ONE transaction per scope stores the new status and the messages announcing
it (the outbox). Delivery sends them later; either side can crash without losing or repeating
a message. Only one worker polls at a time (a lease in the database), so several worker
processes can run for availability.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlalchemy.orm.exc import StaleDataError

from bot import blocks, metrics
from bot.errors import NotFoundError, ProviderError
from bot.providers.base import Lifecycle, Provider, Run
from bot.store.db import Database
from bot.store.repo import aware, utcnow
from bot.store.tables import Follow, OutboxMessage, Subscription, WorkerState

log = logging.getLogger(__name__)

LEASE_KEY = "poller-lease"
LEASE_MIN_SECONDS = 10.0
LIST_CONCURRENCY = 8
# A run that a command just started may not be in the list yet; give it this long.
NEW_RUN_GRACE = timedelta(seconds=120)
# Runs created this long before a subscription still count as "new" for it (clock skew).
SUBSCRIPTION_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class PollerConfig:
    interval_seconds: float
    pending_alert_seconds: float
    digest_threshold: int = 10  # more messages than this for one channel in a cycle: a digest
    catch_up_after_seconds: float = 600.0  # a scope unpolled longer than this gets a summary
    catch_up_min_messages: int = 3  # ...when it has at least this many changes to tell


@dataclass
class CycleReport:
    leader: bool = True
    scopes: int = 0
    failed_scopes: list[str] = field(default_factory=list)
    transitions: int = 0
    messages: int = 0


@dataclass
class _Announcement:
    channel: str
    follow: Follow
    kind: str  # card | card_post | thread | alert
    payload: dict[str, Any]
    key: str
    digest_line: str | None = None  # how it reads inside a digest
    loud: bool = False


class Poller:
    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        db: Database,
        config: PollerConfig,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.db = db
        self.config = config
        self.clock = clock
        # Stable per host: a worker restarted after a crash takes its own lease back at once
        # instead of waiting for it to expire.
        self.worker_id = worker_id or socket.gethostname()[:64]
        self.deletions_due: list[tuple[str, str, str, str]] = []

    async def cycle(self) -> CycleReport:
        now = self.clock()
        report = CycleReport()
        if not await self._hold_lease(now):
            report.leader = False
            return report
        scopes = [(self.providers[p], s) for p, s in await self._scopes() if p in self.providers]
        report.scopes = len(scopes)
        # The list calls go out together (their latency does not add up); the database work
        # for each scope then runs one after the other, each in its own transaction.
        gate = asyncio.Semaphore(LIST_CONCURRENCY)
        listed = await asyncio.gather(*(self._list(gate, p, s) for p, s in scopes))
        for (provider, scope), runs in zip(scopes, listed, strict=True):
            if runs is None:
                report.failed_scopes.append(f"{provider.name}/{scope}")
                continue
            try:
                await self._apply(provider, scope, {run.id: run for run in runs}, now, report)
            except StaleDataError:
                # Another worker recorded these transitions first; its messages are the ones.
                log.warning("poll of %s/%s lost a race with another worker", provider.name, scope)
        report.messages += await self._run_deletions(now)
        return report

    async def _list(
        self, gate: asyncio.Semaphore, provider: Provider, scope: str
    ) -> list[Run] | None:
        """One scope's runs, or None when the provider failed (nothing is recorded then:
        the next cycle compares again, so nothing is lost)."""
        async with gate:
            with metrics.POLL_DURATION.labels(provider.name).time():
                try:
                    return await provider.list_runs(scope)
                except ProviderError as exc:
                    metrics.POLL_FAILURES.labels(provider.name).inc()
                    log.warning("poll of %s/%s failed: %s", provider.name, scope, exc.user_text())
                    return None

    # -- "Stop, then delete" ----------------------------------------------------------------

    async def _run_deletions(self, now: datetime) -> int:
        """Runs marked "stop, then delete" that the cycle saw final are deleted now, once."""
        due, self.deletions_due = self.deletions_due, []
        written = 0
        for provider_name, scope, run_id, channel in due:
            provider = self.providers[provider_name]
            try:
                outcomes = await provider.delete(scope, [run_id])
                ok = bool(outcomes) and outcomes[0].ok
                detail = outcomes[0].message if outcomes else "no answer"
            except NotFoundError:
                ok, detail = True, "already gone"
            except ProviderError as exc:
                log.warning("stop-then-delete of %s failed: %s", run_id, exc.user_text())
                continue  # the follow keeps its mark: the next cycle tries again
            written += await self._record_deletion(
                provider, scope, run_id, channel, ok, detail, now
            )
        return written

    async def _record_deletion(
        self,
        provider: Provider,
        scope: str,
        run_id: str,
        channel: str,
        ok: bool,
        detail: str,
        now: datetime,
    ) -> int:
        async with self.db.session() as session, session.begin():
            follow = await session.scalar(
                select(Follow).where(
                    Follow.provider == provider.name,
                    Follow.scope == scope,
                    Follow.run_id == run_id,
                    Follow.channel == channel,
                )
            )
            if follow is None or not follow.delete_when_stopped_by:
                return 0
            asker = follow.delete_when_stopped_by
            follow.delete_when_stopped_by = None
            follow.finished = True
            follow.updated_at = now
            text = (
                f":wastebasket: Deleted {provider.label} `{run_id}` as <@{asker}> asked, "
                "now that it has stopped."
                if ok
                else f":warning: Could not delete `{run_id}` as <@{asker}> asked: {detail}"
            )
            session.add(
                _row(
                    channel,
                    follow.id,
                    "thread",
                    {"text": blocks.clip(text, 2000)},
                    f"deleted:{follow.id}:{now.isoformat()}",
                    now,
                )
            )
            if ok:
                follow.announced_status = "DELETED"
                session.add(
                    _row(
                        channel,
                        follow.id,
                        "card",
                        {},
                        f"card:{follow.id}:DELETED:{now.isoformat()}",
                        now,
                    )
                )
        return 1

    # -- leadership --------------------------------------------------------------------------

    async def _hold_lease(self, now: datetime) -> bool:
        """Take or renew the poller lease; another live worker holding it means: skip."""
        expires = now + timedelta(seconds=max(LEASE_MIN_SECONDS, 3 * self.config.interval_seconds))
        async with self.db.session() as session, session.begin():
            result = await session.execute(
                update(WorkerState)
                .where(WorkerState.key == LEASE_KEY)
                .where((WorkerState.holder == self.worker_id) | (WorkerState.expires_at < now))
                .values(holder=self.worker_id, expires_at=expires, updated_at=now)
            )
            if getattr(result, "rowcount", 0):
                return True
        try:
            async with self.db.session() as session, session.begin():
                session.add(
                    WorkerState(
                        key=LEASE_KEY,
                        holder=self.worker_id,
                        value={},
                        expires_at=expires,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            return False  # someone else holds a live lease
        return True

    async def release_lease(self) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(WorkerState)
                .where(WorkerState.key == LEASE_KEY, WorkerState.holder == self.worker_id)
                .values(expires_at=self.clock() - timedelta(seconds=1))
            )

    # -- what to poll ------------------------------------------------------------------------

    async def _scopes(self) -> list[tuple[str, str]]:
        async with self.db.session() as session:
            followed = await session.execute(
                select(Follow.provider, Follow.scope).where(Follow.finished.is_(False)).distinct()
            )
            subscribed = await session.execute(
                select(Subscription.provider, Subscription.scope).distinct()
            )
            return sorted({(p, s) for p, s in followed} | {(p, s) for p, s in subscribed})

    # -- one scope ---------------------------------------------------------------------------

    async def _apply(
        self,
        provider: Provider,
        scope: str,
        runs: dict[str, Run],
        now: datetime,
        report: CycleReport,
    ) -> None:
        async with self.db.session() as session, session.begin():
            state_key = f"polled:{provider.name}:{scope}"
            state = await session.get(WorkerState, state_key)
            last_ok = aware(datetime.fromisoformat(state.value["at"])) if state else None
            catch_up = last_ok is not None and (
                (now - last_ok).total_seconds() > self.config.catch_up_after_seconds
            )
            subscriptions = list(
                await session.scalars(
                    select(Subscription).where(
                        Subscription.provider == provider.name, Subscription.scope == scope
                    )
                )
            )
            only_by_channel = {s.channel: _only(s) for s in subscriptions}
            follows = list(
                await session.scalars(
                    select(Follow)
                    .where(
                        Follow.provider == provider.name,
                        Follow.scope == scope,
                        Follow.finished.is_(False),
                    )
                    .order_by(Follow.id)
                    # The stored snapshot is only written here, never read: do not load it.
                    .options(defer(Follow.snapshot))
                )
            )
            announcements: list[_Announcement] = []
            for follow in follows:
                only = only_by_channel.get(follow.channel) if follow.origin == "alerts" else None
                announcements += self._compare(
                    provider, follow, runs.get(follow.run_id), now, only, report
                )
            announcements += await self._new_runs(
                session, provider, scope, runs, subscriptions, now
            )
            report.messages += self._write(session, announcements, now, catch_up, provider.label)
            if state is None:
                session.add(
                    WorkerState(key=state_key, value={"at": now.isoformat()}, updated_at=now)
                )
            else:
                state.value = {"at": now.isoformat()}
                state.updated_at = now

    def _compare(
        self,
        provider: Provider,
        follow: Follow,
        run: Run | None,
        now: datetime,
        only: frozenset[str] | None,
        report: CycleReport,
    ) -> list[_Announcement]:
        label = provider.label
        if run is None:
            if now - aware(follow.created_at) < NEW_RUN_GRACE:
                return []
            report.transitions += 1
            follow.announced_status = "DELETED"
            follow.finished = True
            follow.updated_at = now
            text = blocks.deleted_text(follow.run_id, label)
            return self._card_and_thread(follow, "DELETED", text, now, only)
        found: list[_Announcement] = []
        if run.status != follow.announced_status:
            report.transitions += 1
            metrics.TRANSITIONS.labels(provider.name).inc()
            previous = follow.announced_status
            follow.announced_status = run.status
            follow.status_since = run.modified_at or now
            follow.pending_alerted = False
            follow.snapshot = run.raw
            follow.updated_at = now
            if run.lifecycle == Lifecycle.FAILED:
                found += self._card_and_thread(follow, run.status, None, now, only)
                if only is None or "DEAD" in only:
                    found.append(self._alert(follow, "dead", run, label, now))
            else:
                text = blocks.transition_text(run, previous, label)
                found += self._card_and_thread(follow, run.status, text, now, only)
            if follow.origin != "alerts" and provider.has_results(run):
                found.append(
                    _Announcement(
                        follow.channel, follow, "summary", {}, f"summary:{follow.id}:{run.status}"
                    )
                )
        found += self._pending_alert(follow, run, now, label, only)
        if run.lifecycle.terminal and not follow.delete_when_stopped_by:
            follow.finished = True
        if run.lifecycle.terminal and follow.delete_when_stopped_by:
            self.deletions_due.append((provider.name, follow.scope, run.id, follow.channel))
        return found

    def _pending_alert(
        self, follow: Follow, run: Run, now: datetime, label: str, only: frozenset[str] | None
    ) -> list[_Announcement]:
        if run.lifecycle not in (Lifecycle.QUEUED, Lifecycle.UNKNOWN) or follow.pending_alerted:
            return []
        if only is not None and "PENDING" not in only:
            return []
        since = aware(follow.status_since) if follow.status_since else now
        waited = (now - since).total_seconds()
        if waited < self.config.pending_alert_seconds:
            return []
        follow.pending_alerted = True
        return [self._alert(follow, "pending", run, label, now, waited=waited)]

    def _alert(
        self,
        follow: Follow,
        kind: str,
        run: Run,
        label: str,
        now: datetime,
        *,
        waited: float | None = None,
    ) -> _Announcement:
        since = aware(follow.status_since) if follow.status_since else now
        line = (
            f":rotating_light: `{run.id}` is *{run.status}*"
            + (f": {blocks.clip(run.status_message, 200)}" if run.status_message else "")
            if kind == "dead"
            else f":hourglass: `{run.id}` has been *{run.status}* for "
            f"{blocks.duration(waited or 0)}"
        )
        return _Announcement(
            follow.channel,
            follow,
            "alert",
            {"alert": kind, "waited": waited, "headline": line},
            f"alert:{kind}:{follow.id}:{since.isoformat()}",
            digest_line=line,
            loud=True,
        )

    def _card_and_thread(
        self,
        follow: Follow,
        status: str,
        text: str | None,
        now: datetime,
        only: frozenset[str] | None,
    ) -> list[_Announcement]:
        stamp = now.isoformat()
        found: list[_Announcement] = []
        if follow.origin != "alerts":
            found.append(
                _Announcement(
                    follow.channel, follow, "card", {}, f"card:{follow.id}:{status}:{stamp}"
                )
            )
            if text is not None:
                found.append(
                    _Announcement(
                        follow.channel,
                        follow,
                        "thread",
                        {"text": text},
                        f"thread:{follow.id}:{status}:{stamp}",
                        digest_line=text.split("\n", 1)[0],
                    )
                )
        return found

    async def _new_runs(
        self,
        session: AsyncSession,
        provider: Provider,
        scope: str,
        runs: dict[str, Run],
        subscriptions: list[Subscription],
        now: datetime,
    ) -> list[_Announcement]:
        """Runs that appeared in a subscribed scope get a follow (and a card) per channel."""
        if not subscriptions:
            return []
        rows = await session.execute(
            select(Follow.run_id, Follow.channel).where(
                Follow.provider == provider.name, Follow.scope == scope
            )
        )
        followed = {(run_id, channel) for run_id, channel in rows}
        found: list[_Announcement] = []
        for sub in subscriptions:
            since = aware(sub.created_at) - SUBSCRIPTION_SKEW
            for run in sorted(runs.values(), key=lambda r: (r.created_at or now, r.id)):
                if (run.id, sub.channel) in followed or (run.created_at or now) < since:
                    continue
                if sub.scenario and run.scenario != sub.scenario:
                    continue
                follow = Follow(
                    provider=provider.name,
                    scope=scope,
                    run_id=run.id,
                    channel=sub.channel,
                    card_ts=None,
                    origin="alerts" if sub.only else "subscription",
                    started_by=None,
                    announced_status=run.status,
                    status_since=run.modified_at or now,
                    pending_alerted=False,
                    finished=run.lifecycle.terminal,
                    snapshot=run.raw,
                    created_at=now,
                    updated_at=now,
                )
                session.add(follow)
                await session.flush()  # the follow's id goes into the messages' keys
                if follow.origin == "alerts":
                    if run.lifecycle == Lifecycle.FAILED and "DEAD" in _only(sub):
                        found.append(self._alert(follow, "dead", run, provider.label, now))
                else:
                    found.append(
                        _Announcement(
                            sub.channel,
                            follow,
                            "card_post",
                            {},
                            f"card_post:{follow.id}",
                            digest_line=f"{blocks.STATUS_EMOJI[run.lifecycle]} new run `{run.id}` "
                            f"is *{run.status}*",
                        )
                    )
                    if run.lifecycle == Lifecycle.FAILED:
                        found.append(self._alert(follow, "dead", run, provider.label, now))
        return found

    def _write(
        self,
        session: AsyncSession,
        found: list[_Announcement],
        now: datetime,
        catch_up: bool,
        label: str,
    ) -> int:
        """Add the outbox rows; a burst (or a catch-up) becomes one digest per channel."""
        by_channel: dict[str, list[_Announcement]] = defaultdict(list)
        for item in found:
            by_channel[item.channel].append(item)
        written = 0
        for channel, items in by_channel.items():
            chatty = [i for i in items if i.kind in ("thread", "alert")]
            burst = len(chatty) > self.config.digest_threshold
            # After an outage, a few changes still read best as their own thread replies.
            if burst or (catch_up and len(chatty) >= self.config.catch_up_min_messages):
                keep = [i for i in items if i.kind in ("card", "card_post", "summary")]
                title = (
                    f"*Catch-up: {len(chatty)} {label} status changes while I was not watching*"
                    if catch_up
                    else f"*{len(chatty)} {label} status changes*"
                )
                digest = {
                    "title": title,
                    "lines": [i.digest_line or "" for i in chatty],
                    "broadcast": any(i.loud for i in chatty),
                }
                session.add(
                    _row(
                        channel,
                        None,
                        "digest",
                        digest,
                        f"digest:{channel}:{label}:{now.isoformat()}",
                        now,
                    )
                )
                written += 1
                items = keep
            for item in items:
                session.add(_row(channel, item.follow.id, item.kind, item.payload, item.key, now))
                written += 1
        return written


def _row(
    channel: str, follow_id: int | None, kind: str, payload: dict[str, Any], key: str, now: datetime
) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=key[:255],
        channel=channel,
        follow_id=follow_id,
        kind=kind,
        payload=payload,
        created_at=now,
        not_before=now,
        attempts=0,
    )


def _only(subscription: Subscription) -> frozenset[str]:
    return frozenset((subscription.only or "DEAD,PENDING").split(","))
