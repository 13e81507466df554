"""The worker role: the job runner, the poller, delivery and the heartbeat, supervised.

Each is a loop of its own (see :mod:`bot.supervise`); the poller's cycles are ticked by an
APScheduler interval job (local to this process: the scopes it polls are decided by leases
in the database, never by the scheduler). On SIGTERM the worker stops claiming, gives running
jobs and the messages being sent a few seconds, hands the rest back and lets go of its
leases, so that another worker goes on at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError

from bot.app import Components
from bot.delivery import Delivery
from bot.poll.poller import CycleReport, Poller, PollerConfig
from bot.poll.silence import SilenceCheck, SilenceReport, check_interval
from bot.runner import JobRunner
from bot.supervise import supervised

log = logging.getLogger(__name__)

JOB_GRACE_SECONDS = 5.0
DELIVERY_GRACE_SECONDS = 3.0
# A process that misses its heartbeats this long counts as gone: its jobs and leases pass
# to others (their writes stay fenced, and a message it may still be sending is given
# bot.delivery.IN_FLIGHT_GRACE_SECONDS before anyone looks it up).
HEARTBEAT_SECONDS = 1.0
HEARTBEAT_TTL_SECONDS = 4.0
RETENTION_SECONDS = 3600.0


class Heartbeat:
    """Keeps this process's row in ``processes`` alive, with the state of its loops."""

    def __init__(self, components: Components) -> None:
        self.components = components

    async def beat(self) -> float:
        await self.components.registry.beat(HEARTBEAT_TTL_SECONDS, self.components.health.as_dict())
        return HEARTBEAT_SECONDS

    async def run(self, stop: asyncio.Event) -> None:
        await supervised("heartbeat", self.beat, health=self.components.health, stop=stop)

    async def leave(self) -> None:
        try:
            await self.components.registry.leave()
        except SQLAlchemyError as exc:
            log.warning("could not deregister (%s); the row expires by itself", type(exc).__name__)


class Worker:
    def __init__(self, components: Components) -> None:
        settings = components.settings
        self.components = components
        self.health = components.health
        self.runner = JobRunner(
            queue=components.jobs,
            functions=components.job_functions,
            health=self.health,
            direct=components.deps.direct,
        )
        self.poller = Poller(
            providers=components.providers,
            db=components.db,
            leases=components.leases,
            registry=components.registry,
            log_links=components.service.log_links,
            config=PollerConfig(
                interval_seconds=settings.poll_interval_seconds,
                pending_alert_seconds=settings.pending_alert_seconds,
                dm_on_dead=settings.dm_on_dead,
            ),
        )
        self.delivery = Delivery(
            db=components.db,
            slack=components.delivery_slack,
            leases=components.leases,
            health=self.health,
        )
        self.heartbeat = Heartbeat(components)
        self.silence = SilenceCheck(
            db=components.db,
            providers=components.providers,
            leases=components.leases,
            stuck_seconds=settings.stuck_alert_seconds,
        )
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.heartbeat.beat()  # registered before it claims anything
        interval = self.components.settings.poll_interval_seconds
        self.scheduler.add_job(
            self.poll_once,
            "interval",
            seconds=interval,
            id="poll",
            max_instances=1,  # a slow cycle is never overlapped by the next one
            coalesce=True,  # missed runs (a long cycle, a suspended laptop) collapse into one
            misfire_grace_time=max(1, int(interval)),
            next_run_time=datetime.now().astimezone(),  # poll right away at start-up
        )
        self.scheduler.add_job(
            self.prune, "interval", seconds=RETENTION_SECONDS, id="prune", max_instances=1
        )
        self.scheduler.add_job(
            self.check_silence,
            "interval",
            seconds=check_interval(self.silence.stuck_seconds),
            id="silence",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()
        loops = {
            "jobs": self.runner.run(self._stop),
            "delivery": self.delivery.run(self._stop),
            "heartbeat": self.heartbeat.run(self._stop),
            "poll-leases": supervised(
                "poll-leases", self.poller.keep_leases, health=self.health, stop=self._stop
            ),
        }
        self._tasks = [asyncio.create_task(loop, name=name) for name, loop in loops.items()]

    async def poll_once(self) -> CycleReport | None:
        """One cycle (an APScheduler job); its failures are logged and shown in /healthz."""
        try:
            report = await self.poller.cycle()
        except Exception as exc:  # the next tick tries again; the traceback is kept
            log.exception("poll cycle failed")
            self.health.failed("poller", exc)
            return None
        self.health.ok("poller")
        if report.messages:
            self.delivery.wake()
        return report

    async def check_silence(self) -> SilenceReport | None:
        """RUNNING runs that stopped logging (an APScheduler job; failures are logged)."""
        try:
            report = await self.silence.check()
        except Exception as exc:  # the next tick tries again; the traceback is kept
            log.exception("silence check failed")
            self.health.failed("silence", exc)
            return None
        self.health.ok("silence")
        if report is not None and report.alerts:
            self.delivery.wake()
        return report

    async def prune(self) -> None:
        try:
            pruned = await self.components.jobs.prune()
            delivered = await self.delivery.prune()
            await self.components.registry.forget_the_dead()
            retention = self.components.settings.audit_retention_days
            audited = await self.components.deps.audit.prune(retention)
        except SQLAlchemyError:
            log.warning("pruning finished work failed; trying again later", exc_info=True)
            return
        if pruned:
            log.info("pruned %d finished jobs", pruned)
        if delivered:
            log.info("pruned %d delivered or set-aside messages", delivered)
        if audited:
            log.info("pruned %d audit entries older than %d days", audited, retention)

    async def stop(self) -> None:
        """Hand everything unfinished back within a few seconds."""
        self.scheduler.shutdown(wait=False)
        self._stop.set()
        await self.runner.shutdown(JOB_GRACE_SECONDS)
        await self.delivery.shutdown(DELIVERY_GRACE_SECONDS)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.poller.release_all()  # lets another worker take over at once
        except SQLAlchemyError as exc:
            log.warning("could not release the poll leases (%s); they expire", type(exc).__name__)
        await self.heartbeat.leave()
