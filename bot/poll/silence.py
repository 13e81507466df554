"""Runs that hang: a RUNNING run whose newest log line is older than ``STUCK_ALERT_SECONDS``.

A check, not part of every poll: every few minutes (or every half of the threshold when that
is shorter), whichever process holds the ``silence-check`` lease reads, for each followed
RUNNING run, only its newest log line (``$top=1&$order=desc``): one call per run per check,
whatever the poll interval. A run with no line at all counts from its start.

A silent run is announced once in each card's thread (broadcast, like the other alerts): the
outbox key names the follow and the newest line's time, so the same silence is never told
twice, and a run that writes again and then falls silent again is told again. One run whose
logs cannot be read is logged and left for the next check; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import blocks
from bot.errors import ProviderError
from bot.leases import Lease, Leases
from bot.outbox import Keys, Reply, row
from bot.providers.base import Lifecycle, Provider, Run
from bot.store.db import Database
from bot.store.tables import Follow, OutboxMessage

log = logging.getLogger(__name__)

LEASE = "silence-check"
CHECK_EVERY_SECONDS = 300.0
CONCURRENCY = 10


def check_interval(stuck_seconds: float) -> float:
    return min(CHECK_EVERY_SECONDS, stuck_seconds / 2)


@dataclass
class SilenceReport:
    checked: int = 0  # RUNNING runs whose newest line was read (one call each)
    silent: int = 0
    alerts: int = 0  # outbox rows queued (one per card of a silent run, once)
    failed: int = 0


class SilenceCheck:
    def __init__(
        self,
        *,
        db: Database,
        providers: Mapping[str, Provider],
        leases: Leases,
        stuck_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.providers = dict(providers)
        self.leases = leases
        self.stuck_seconds = stuck_seconds
        self.clock = clock
        self.lease: Lease | None = None

    async def check(self) -> SilenceReport | None:
        """One check; None when another process holds it."""
        # Held until just before the next check is due: one check per interval, whoever runs it.
        lease = await self.leases.acquire(LEASE, 0.9 * check_interval(self.stuck_seconds))
        if lease is None:
            return None
        self.lease = lease  # (tests release it to check again at once)
        report = SilenceReport()
        gate = asyncio.Semaphore(CONCURRENCY)
        runs = await self._running()

        async def one(run: Run, follows: list[Follow]) -> None:
            async with gate:
                try:
                    newest = await self.providers[run.provider].newest_log_at(run)
                except ProviderError as exc:
                    report.failed += 1
                    log.warning("could not read the newest log line of %s: %s", run.id, exc)
                    return
            report.checked += 1
            since = newest or run.started_at
            if since is None or (self.clock() - since).total_seconds() < self.stuck_seconds:
                return
            report.silent += 1
            report.alerts += await self._announce(run, since, follows)

        await asyncio.gather(*(one(run, follows) for run, follows in runs))
        return report

    async def _running(self) -> list[tuple[Run, list[Follow]]]:
        async with self.db.read() as session:
            follows = list(
                await session.scalars(
                    select(Follow).where(Follow.finished.is_(False), Follow.origin != "alerts")
                )
            )
        by_run: dict[tuple[str, str, str], list[Follow]] = defaultdict(list)
        for follow in follows:
            by_run[(follow.provider, follow.scope, follow.run_id)].append(follow)
        found = []
        for (provider_name, scope, _run_id), of_run in by_run.items():
            provider = self.providers.get(provider_name)
            if provider is None or not provider.style.has_logs:
                continue
            try:
                run = provider.run_from_snapshot(scope, of_run[0].snapshot or {})
            except ValidationError:
                log.warning("follow %d has an unreadable snapshot; not checked", of_run[0].id)
                continue
            if run.lifecycle == Lifecycle.RUNNING:
                found.append((run, of_run))
        return found

    async def _announce(self, run: Run, since: datetime, follows: list[Follow]) -> int:
        label = self.providers[run.provider].label
        silent_for = blocks.duration((self.clock() - since).total_seconds())
        text = f":zzz: `{run.id}` is *RUNNING* but has written no log line for {silent_for}"
        alert = Reply(
            text=text,
            blocks=blocks.silent_blocks(run, label=label, since=since, silent_for=silent_for),
            broadcast=True,
        )
        now = self.clock()

        def write(session: Session) -> int:
            for follow in follows:
                values = row(
                    channel=follow.channel,
                    follow_id=follow.id,
                    message=alert,
                    key=Keys.silent(follow.id, since),
                    now=now,
                )
                session.execute(
                    self.db.insert(OutboxMessage).values(**values).on_conflict_do_nothing()
                )
            return len(follows)

        return await self.db.write(write)
