"""The poller: which process polls which scope, and one cycle of each.

Every scope (an AI Core resource group, the Bria account) that has open follows or a
subscription is shared work with a lease of its own (``poll:<provider>:<scope>``). Which live
worker (see :mod:`bot.registry`) should poll a scope is decided by rendezvous hashing: the
worker whose hash with the scope's name is highest. Every worker computes the same answer
from the same list, a worker joining or leaving moves only its own share, and a scope is
never left without an owner while some worker lives. Each cycle a worker lets go of the
scopes it holds but does not own, and takes the ones it owns as soon as their lease is free
(the lease lasts one poll interval and is renewed every third of it; a dead worker's leases
pass at once when its heartbeat ends). Then, for each scope it holds, on its own and
whatever happens to the others:

    read the follows ─▶ discovery (provider calls) ─▶ rules ─▶ details (logs, results)
        ─▶ writer, in one transaction fenced by the scope's lease
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import metrics
from bot.errors import ProviderError
from bot.leases import Lease, LeaseLost, Leases
from bot.loglinks import LogLinks
from bot.poll import discovery
from bot.poll.rules import FollowView, Gone, Say, Seen, Verdict, alert_filter, judge
from bot.poll.writer import StaleFollow, Writer, WriterConfig, Written
from bot.providers.base import Lifecycle, Provider
from bot.registry import Registry
from bot.store.db import Database
from bot.store.repo import aware, utcnow
from bot.store.tables import Follow, PollScope, Subscription

log = logging.getLogger(__name__)

MIN_LEASE_SECONDS = 3.0
SCOPE_CONCURRENCY = 8
LEASE_PREFIX = "poll:"


@dataclass(frozen=True)
class PollerConfig:
    interval_seconds: float
    pending_alert_seconds: float
    digest_threshold: int = 10  # more messages than this for one channel in a cycle: a digest
    catch_up_after_seconds: float = 600.0  # a scope unpolled longer than this gets a summary
    catch_up_min_messages: int = 3  # ...when it has at least this many changes to tell
    dm_on_dead: bool = True  # DEAD alerts also go to the run's starter, directly

    @property
    def lease_seconds(self) -> float:
        return max(MIN_LEASE_SECONDS, self.interval_seconds)


@dataclass
class CycleReport:
    scopes: int = 0  # scopes this process polled in the cycle
    failed_scopes: list[str] = field(default_factory=list)
    transitions: int = 0
    messages: int = 0
    # Scopes where nothing changed: their poll time is written for all of them at once.
    quiet: list[tuple[tuple[str, str], Lease]] = field(default_factory=list)


@dataclass
class Loaded:
    """What the database holds about one scope at the start of a cycle."""

    views: list[FollowView] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    memory: discovery.Memory = field(default_factory=discovery.Memory)


def lease_name(provider: str, scope: str) -> str:
    return f"{LEASE_PREFIX}{provider}:{scope}"


class Poller:
    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        db: Database,
        leases: Leases,
        config: PollerConfig,
        registry: Registry | None = None,
        log_links: LogLinks | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.providers = dict(providers)
        self.db = db
        self.leases = leases
        self.config = config
        self.registry = registry
        self.clock = clock
        self.writer = Writer(
            db=db,
            log_links=log_links,
            config=WriterConfig(
                config.digest_threshold, config.catch_up_min_messages, config.dm_on_dead
            ),
        )
        self.held: dict[tuple[str, str], Lease] = {}

    # -- the cycle ---------------------------------------------------------------------------

    async def cycle(self) -> CycleReport:
        report = CycleReport()
        wanted = await self._wanted()
        await self._rebalance(wanted)
        now = self.clock()
        gate = asyncio.Semaphore(SCOPE_CONCURRENCY)

        async def one(key: tuple[str, str], lease: Lease, known: Loaded) -> None:
            async with gate:
                await self._poll_scope(key, lease, known, now, report)

        mine = sorted(self.held.items())
        report.scopes = len(mine)
        loaded = await self._load(self.held)
        await asyncio.gather(*(one(key, lease, loaded[key]) for key, lease in mine))
        await self._polled_quietly(report.quiet, now)
        return report

    async def _poll_scope(
        self,
        key: tuple[str, str],
        lease: Lease,
        known: Loaded,
        now: datetime,
        report: CycleReport,
    ) -> None:
        provider_name, scope = key
        provider = self.providers[provider_name]
        try:
            written = await self._poll(provider, scope, lease, known, now)
        except LeaseLost:
            log.warning("lost the lease of %s/%s mid-cycle; another worker has it", *key)
            self.held.pop(key, None)
        except StaleFollow as exc:
            log.info("poll of %s/%s raced a change (%s); judging again next cycle", *key, exc)
        except ProviderError as exc:
            metrics.POLL_FAILURES.labels(provider_name).inc()
            log.warning("poll of %s/%s failed: %s", provider_name, scope, exc.user_text())
            report.failed_scopes.append(f"{provider_name}/{scope}")
            await self._failed(provider_name, scope, exc.user_text())
        except Exception as exc:  # one scope's surprise must not stop the others
            metrics.POLL_FAILURES.labels(provider_name).inc()
            log.exception("poll of %s/%s failed unexpectedly", provider_name, scope)
            report.failed_scopes.append(f"{provider_name}/{scope}")
            await self._failed(provider_name, scope, f"{type(exc).__name__}: {exc}")
        else:
            if written is None:
                report.quiet.append((key, lease))
            else:
                report.transitions += written.transitions
                report.messages += written.messages

    async def _poll(
        self, provider: Provider, scope: str, lease: Lease, known: Loaded, now: datetime
    ) -> Written | None:
        """One scope's poll; ``None`` when nothing changed (written later with the others)."""
        views, subscriptions, memory = known.views, known.subscriptions, known.memory
        followed: dict[str, list[FollowView]] = defaultdict(list)
        for view in views:
            followed[view.run_id].append(view)
        subscribers = None
        if subscriptions:
            since = min(aware(s.created_at) for s in subscriptions)
            channels = {s.channel for s in subscriptions}
            subscribers = discovery.Subscribers(
                since=since,
                unfollowed=lambda ids: self._unfollowed(provider.name, scope, channels, ids),
            )
        with metrics.POLL_DURATION.labels(provider.name).time():
            look = await discovery.look(
                provider,
                scope,
                followed=followed,
                subscribers=subscribers,
                memory=memory,
                now=now,
                pending_alert_seconds=self.config.pending_alert_seconds,
            )
        verdicts = [
            verdict
            for view in views
            if view.run_id in look.seen
            and (verdict := self._judge(provider, view, look.seen[view.run_id], now)) is not None
        ]
        details = await discovery.details(
            provider,
            dying=_dying(verdicts, look),
            finished_with_results=[v.run for v in verdicts if v.run and _says(v, Say.SUMMARY)],
            waiting=[v.run for v in verdicts if v.run and _says(v, Say.PENDING)],
            ended=[v.run for v in verdicts if v.run and _says(v, Say.CHART)],
        )
        catch_up = memory.last_ok_at is not None and (
            (now - memory.last_ok_at).total_seconds() > self.config.catch_up_after_seconds
        )
        if not verdicts and not look.new_runs and discovery.unchanged(memory, look):
            return None
        memory_after = discovery.remembered(memory, look, now)

        def write(session: Session) -> Written:
            self.leases.fence(session, lease, self.config.lease_seconds)
            return self.writer.write(
                session,
                provider=provider,
                scope=scope,
                verdicts=verdicts,
                new_runs=look.new_runs,
                subscriptions=subscriptions,
                details=details,
                memory=memory_after,
                now=now,
                catch_up=catch_up,
            )

        written = await self.db.write(write)
        metrics.TRANSITIONS.labels(provider.name).inc(written.transitions)
        return written

    def _judge(
        self, provider: Provider, view: FollowView, seen: Seen, now: datetime
    ) -> Verdict | None:
        return judge(
            view,
            seen,
            now=now,
            pending_alert_seconds=self.config.pending_alert_seconds,
            has_results=not isinstance(seen, Gone) and provider.has_results(seen),
            has_metrics=provider.style.has_metrics,
        )

    # -- reading the scope -------------------------------------------------------------------

    async def _load(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Loaded]:
        """What the cycle knows of its scopes, in one read for all of them.

        Read once per cycle rather than once per scope: on SQLite each read costs a few
        milliseconds of thread hops, which a hundred scopes turn into most of a cycle. A
        follow changed after this read is caught by the writer's version check.
        """
        wanted = set(keys)
        loaded = {key: Loaded() for key in wanted}
        providers = sorted({provider for provider, _ in wanted})
        if not wanted:
            return loaded
        async with self.db.read() as session:
            for subscription in await session.scalars(
                select(Subscription).where(Subscription.provider.in_(providers))
            ):
                key = (subscription.provider, subscription.scope)
                if key in loaded:
                    loaded[key].subscriptions.append(subscription)
            only = {
                (s.provider, s.scope, s.channel): alert_filter(s.only)
                for entry in loaded.values()
                for s in entry.subscriptions
            }
            rows = await session.execute(
                select(
                    Follow.id,
                    Follow.provider,
                    Follow.scope,
                    Follow.run_id,
                    Follow.version,
                    Follow.channel,
                    Follow.origin,
                    Follow.started_by,
                    Follow.announced_status,
                    Follow.status_since,
                    Follow.pending_alerted,
                    Follow.delete_when_stopped_by,
                    Follow.created_at,
                )
                .where(Follow.provider.in_(providers), Follow.finished.is_(False))
                .order_by(Follow.id)
            )
            for r in rows:
                entry = loaded.get((r.provider, r.scope))
                if entry is None:
                    continue
                entry.views.append(
                    FollowView(
                        id=r.id,
                        run_id=r.run_id,
                        version=r.version,
                        channel=r.channel,
                        origin=r.origin,
                        started_by=r.started_by,
                        announced_status=r.announced_status,
                        status_since=aware(r.status_since),
                        pending_alerted=r.pending_alerted,
                        delete_when_stopped_by=r.delete_when_stopped_by,
                        created_at=aware(r.created_at),
                        only=(
                            only.get((r.provider, r.scope, r.channel))
                            if r.origin == "alerts"
                            else None
                        ),
                    )
                )
            for state in await session.scalars(
                select(PollScope).where(PollScope.provider.in_(providers))
            ):
                entry = loaded.get((state.provider, state.scope))
                if entry is not None:
                    entry.memory = _memory(state)
        return loaded

    async def _unfollowed(
        self, provider: str, scope: str, channels: set[str], run_ids: Iterable[str]
    ) -> set[str]:
        """Of ``run_ids``, those that at least one subscribed channel does not follow."""
        wanted = set(run_ids)
        if not wanted:
            return set()
        async with self.db.read() as session:
            rows = await session.execute(
                select(Follow.run_id, Follow.channel).where(
                    Follow.provider == provider,
                    Follow.scope == scope,
                    Follow.run_id.in_(wanted),
                    Follow.channel.in_(channels),
                )
            )
            pairs = {(run_id, channel) for run_id, channel in rows}
        return {r for r in wanted if any((r, c) not in pairs for c in channels)}

    async def _wanted(self) -> list[tuple[str, str]]:
        async with self.db.read() as session:
            followed = await session.execute(
                select(Follow.provider, Follow.scope).where(Follow.finished.is_(False)).distinct()
            )
            subscribed = await session.execute(
                select(Subscription.provider, Subscription.scope).distinct()
            )
            scopes = {(p, s) for p, s in followed} | {(p, s) for p, s in subscribed}
        return sorted(key for key in scopes if key[0] in self.providers)

    async def _polled_quietly(
        self, quiet: list[tuple[tuple[str, str], Lease]], now: datetime
    ) -> None:
        """The poll time of the scopes where nothing changed, in one transaction.

        Each is fenced by its lease, like any other write of the poller; a lease lost since
        the poll just means the new holder writes the time.
        """
        if not quiet:
            return

        def write(session: Session) -> list[tuple[str, str]]:
            lost = []
            for key, lease in quiet:
                try:
                    self.leases.fence(session, lease, self.config.lease_seconds)
                except LeaseLost:
                    lost.append(key)
                    continue
                session.execute(
                    update(PollScope)
                    .where(PollScope.provider == key[0], PollScope.scope == key[1])
                    .values(last_ok_at=now)
                )
            return lost

        for key in await self.db.write(write):
            log.warning("lost the lease of %s/%s mid-cycle; another worker has it", *key)
            self.held.pop(key, None)

    async def _failed(self, provider: str, scope: str, error: str) -> None:
        values = {"failures": PollScope.failures + 1, "last_error": error[:1000]}
        statement = (
            self.db.insert(PollScope)
            .values(provider=provider, scope=scope, active={}, failures=1, last_error=error)
            .on_conflict_do_update(index_elements=["provider", "scope"], set_=values)
        )
        try:
            await self.db.write(lambda session: session.execute(statement))
        except Exception:  # recording a failure is best effort
            log.warning("could not record the failure of %s/%s", provider, scope, exc_info=True)

    # -- leases ------------------------------------------------------------------------------

    async def _rebalance(self, wanted: list[tuple[str, str]]) -> None:
        """Hold exactly the scopes this process owns: let go of others, take its own."""
        me = self.leases.holder
        workers = await self.registry.live_workers() if self.registry is not None else [me]
        mine = {key for key in wanted if owner(lease_name(*key), workers) == me}
        for key in [k for k in self.held if k not in mine]:
            await self._release(key)
        taken = await self.leases.holders(LEASE_PREFIX)
        for key in sorted(mine):
            if key in self.held or lease_name(*key) in taken:
                continue  # its previous holder lets go at its next cycle, or it expires
            lease = await self.leases.acquire(lease_name(*key), self.config.lease_seconds)
            if lease is not None:
                self.held[key] = lease

    async def keep_leases(self) -> float:
        """Renew every held scope lease (a pass of the lease loop); returns the next pause."""
        if self.held:
            lost = await self.leases.renew_all(self.held.values(), self.config.lease_seconds)
            for lease in lost:
                log.warning("lease %s ran out before it was renewed", lease.name)
                self.held = {k: v for k, v in self.held.items() if v.name != lease.name}
        return self.config.lease_seconds / 3

    async def _release(self, key: tuple[str, str]) -> None:
        lease = self.held.pop(key)
        await self.leases.release(lease)

    async def release_all(self) -> None:
        """On shutdown: let another worker take the scopes at once."""
        for key in list(self.held):
            await self._release(key)


def _memory(state: PollScope) -> discovery.Memory:
    ids = (state.active or {}).get("ids")
    return discovery.Memory(
        active_ids=frozenset(ids) if ids is not None else None,
        total=state.total,
        last_ok_at=aware(state.last_ok_at),
        swept_at=aware(state.swept_at),
        failures=state.failures or 0,
    )


def owner(name: str, workers: list[str]) -> str:
    """Rendezvous hashing: the worker whose hash with ``name`` is highest owns it."""
    return max(workers, key=lambda worker: hashlib.sha256(f"{name}|{worker}".encode()).digest())


def _says(verdict: Verdict, say: Say) -> bool:
    return any(a.say is say for a in verdict.announcements)


def _dying(verdicts: list[Verdict], look: discovery.Look) -> list[Any]:
    runs = [v.run for v in verdicts if v.run is not None and _says(v, Say.DEAD)]
    runs += [run for run in look.new_runs if run.lifecycle == Lifecycle.FAILED]
    return list({run.id: run for run in runs}.values())
