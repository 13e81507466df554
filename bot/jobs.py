"""Durable work after the acknowledgement: jobs.

A listener checks a command or click, records a job (what to do, who asked, the channel, the
``response_url``) and only then acknowledges. Any worker may run it; a job whose worker died
is taken over. The states::

    queued ──claim──▶ running ──finish──▶ done
       ▲                 │  └──give_up──▶ failed   (an unexpected error: set aside, kept)
       └──hand_back──────┘                         (shutdown; or the lease ran out)

A claim sets ``claimed_by``, ``lease_until`` (database clock) and a new ``token``; the runner
renews the lease while the job runs. A running job whose lease ran out, or whose process no
longer beats (see :mod:`bot.registry`), may be claimed again; its old runner's writes
(``checkpoint``, ``finish``) are fenced by the token and fail.

- ``dedupe_key`` is Slack's identity of the request: a retried request or a redelivered
  Socket Mode envelope finds it taken and is acknowledged without a second job.
- ``active_key`` names what the job acts on (``stop:aicore:default:<id>``) while it is queued
  or running: a double click finds it taken. It is cleared when the job ends.
- ``progress`` is what the job has done so far, written by ``checkpoint`` before a step that
  must not be repeated (a start's POST), so that a job taken over knows where it stands.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.leases import LeaseLost
from bot.store.db import Database
from bot.store.dbclock import db_now
from bot.store.tables import Job, Process

log = logging.getLogger(__name__)

PRIORITY_INTERACTIVE = 0  # a modal waiting to be filled, a click: a person is looking
PRIORITY_COMMAND = 1
PRIORITY_BACKGROUND = 2  # work the bot gave itself (finishing a "stop, then delete")

JOB_LEASE_SECONDS = 30.0
KEEP_FINISHED_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class NewJob:
    kind: str
    payload: dict[str, Any]
    dedupe_key: str | None = None
    active_key: str | None = None
    priority: int = PRIORITY_COMMAND
    delay_seconds: float = 0.0


@dataclass
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    token: int
    progress: dict[str, Any] = field(default_factory=dict)


class RetryLater(Exception):  # a request to be run again, not a failure
    """Raised by a job that cannot finish yet; it is queued again after ``seconds``."""

    def __init__(self, seconds: float, why: str) -> None:
        super().__init__(why)
        self.seconds = seconds


class Enqueued:
    """What happened to an enqueue: a new job, a repeat of a request, or work already under way."""

    NEW = "new"
    REPEATED = "repeated"  # the same Slack request again (a retry, a redelivery)
    BUSY = "busy"  # another job is acting on the same thing right now


class JobQueue:
    def __init__(self, db: Database, holder: str, *, lease_seconds: float = JOB_LEASE_SECONDS):
        self.db = db
        self.holder = holder
        self.lease_seconds = lease_seconds
        # The acknowledgement waits for this statement: built once.
        table: Any = Job.__table__
        self._insert = (
            db.insert(table)
            .values(
                {
                    **{name: bindparam(name) for name in _NEW_JOB_FIELDS},
                    "state": "queued",
                    "attempts": 0,
                    "token": 0,
                    "progress": {},
                    "created_at": db_now(),
                    "not_before": db_now() + bindparam("delay_seconds"),
                }
            )
            .on_conflict_do_nothing()
            .returning(table.c.id)
        )

    # -- the web side ------------------------------------------------------------------------

    async def enqueue(self, job: NewJob) -> str:
        """Record ``job``; returns one of :class:`Enqueued`'s values.

        Acknowledgements arriving together share one transaction (group commit): a burst of
        a hundred takes the database's write lock once, not a hundred times.
        """
        values: dict[str, Any] = {name: getattr(job, name) for name in _NEW_JOB_FIELDS}
        values["delay_seconds"] = job.delay_seconds

        def record(session: Session) -> str:
            new_id = session.execute(self._insert, values).scalar()
            return Enqueued.NEW if new_id is not None else _why_not(session, job)

        return await self.db.write_soon(record)

    @staticmethod
    def add(session: Session, job: NewJob, db: Database) -> None:
        """The INSERT for ``job`` inside someone else's transaction (a duplicate is skipped)."""
        session.execute(db.insert(Job).values(**_row(job)).on_conflict_do_nothing())

    # -- the worker side ---------------------------------------------------------------------

    async def claim(self, limit: int) -> list[ClaimedJob]:
        """Take up to ``limit`` jobs that are due, interactive ones first."""
        if limit <= 0:
            return []
        live = select(Process.id).where(Process.expires_at > db_now())
        claimable = (
            select(Job.id)
            .where(
                or_(
                    and_(Job.state == "queued", Job.not_before <= db_now()),
                    and_(Job.state == "running", Job.lease_until <= db_now()),
                    # Its process stopped beating: no need to wait for the lease to run out.
                    and_(
                        Job.state == "running",
                        Job.claimed_by != self.holder,
                        Job.claimed_by.not_in(live),
                    ),
                )
            )
            .order_by(Job.priority, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's UPDATE is atomic anyway
        )
        statement = (
            update(Job)
            .where(Job.id.in_(claimable.scalar_subquery()))
            .values(
                state="running",
                claimed_by=self.holder,
                lease_until=db_now() + self.lease_seconds,
                token=Job.token + 1,
                attempts=Job.attempts + 1,
            )
            .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.token, Job.progress)
        )
        rows = await self.db.write(lambda session: session.execute(statement).all())
        claimed = [
            ClaimedJob(r.id, r.kind, dict(r.payload), r.attempts, r.token, dict(r.progress or {}))
            for r in rows
        ]
        return sorted(claimed, key=lambda j: j.id)

    async def extend(self, jobs: list[ClaimedJob]) -> None:
        """Renew the leases of jobs this process is running."""
        if not jobs:
            return
        statement = (
            update(Job)
            .where(
                Job.id.in_([j.id for j in jobs]),
                Job.claimed_by == self.holder,
                Job.state == "running",
            )
            .values(lease_until=db_now() + self.lease_seconds)
        )
        await self.db.write(lambda session: session.execute(statement))

    async def checkpoint(
        self, job: ClaimedJob, *, stamp: str | None = None, **progress: Any
    ) -> float:
        """Record progress before a step that must not be repeated; returns the database time.

        ``stamp`` names a progress key to set to that time. Raises :class:`LeaseLost` when the
        job was taken over meanwhile.
        """

        def write(session: Session) -> tuple[float, dict[str, Any]]:
            now = float(session.execute(select(db_now())).scalar() or 0.0)
            merged = {**job.progress, **progress, **({stamp: now} if stamp else {})}
            self._update_ours(
                session, job, progress=merged, lease_until=db_now() + self.lease_seconds
            )
            return now, merged

        now, job.progress = await self.db.write(write)
        return float(now)

    async def claim_run(self, job: ClaimedJob, run_key: str, run_id: str) -> bool:
        """Make ``job`` the one owner of the run ``run_key`` (and record ``run_id`` in its
        progress); False when another job owns it.

        A start cannot say which run it created (AI Core takes no request id), so a resumed
        start adopts a run of its configuration created since its POST; claims keep two jobs
        from adopting the same run.
        """
        progress = {**job.progress, "run_id": run_id}

        def write(session: Session) -> bool:
            owner = session.execute(select(Job.id).where(Job.run_key == run_key)).scalar()
            if owner is not None and owner != job.id:
                return False
            self._update_ours(session, job, run_key=run_key, progress=progress)
            return True

        try:
            claimed = bool(await self.db.write(write))
        except IntegrityError:
            return False  # claimed by another job at the same moment
        if claimed:
            job.progress = progress
        return claimed

    async def finish(self, job: ClaimedJob, *, error: str | None = None) -> bool:
        return await self._end(job, "done", error)

    async def give_up(self, job: ClaimedJob, error: str) -> bool:
        return await self._end(job, "failed", error)

    async def hand_back(self, job: ClaimedJob, *, delay_seconds: float = 0.0) -> None:
        """Queue it again (shutdown, or "try again later"); the next claim takes it."""

        def write(session: Session) -> None:
            self._update_ours(
                session,
                job,
                state="queued",
                claimed_by=None,
                lease_until=None,
                not_before=db_now() + delay_seconds,
                progress=job.progress,
            )

        with contextlib.suppress(LeaseLost):
            await self.db.write(write)

    async def _end(self, job: ClaimedJob, state: str, error: str | None) -> bool:
        def write(session: Session) -> None:
            self._update_ours(
                session,
                job,
                state=state,
                active_key=None,
                claimed_by=None,
                lease_until=None,
                last_error=error[:2000] if error else None,
                finished_at=db_now(),
                progress=job.progress,
            )

        try:
            await self.db.write(write)
        except LeaseLost:
            log.warning("job %d (%s) was taken over before it ended here", job.id, job.kind)
            return False
        return True

    def _update_ours(self, session: Session, job: ClaimedJob, **values: Any) -> None:
        """Update ``job``'s row if it is still this runner's; :class:`LeaseLost` otherwise."""
        result = session.execute(update(Job).where(*self._ours(job)).values(**values))
        if not getattr(result, "rowcount", 0):
            raise LeaseLost(f"job {job.id}")

    def _ours(self, job: ClaimedJob) -> tuple[Any, ...]:
        return (
            Job.id == job.id,
            Job.token == job.token,
            Job.claimed_by == self.holder,
            Job.state == "running",
        )

    # -- upkeep ------------------------------------------------------------------------------

    async def backlog(self) -> dict[str, int]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(Job.state, func.count()).where(Job.finished_at.is_(None)).group_by(Job.state)
            )
            return {state: int(count) for state, count in rows}

    async def prune(self, keep_seconds: float = KEEP_FINISHED_SECONDS) -> int:
        statement = delete(Job).where(Job.finished_at < db_now() - keep_seconds)
        result = await self.db.write(lambda session: session.execute(statement))
        return int(getattr(result, "rowcount", 0) or 0)


_NEW_JOB_FIELDS = ("kind", "payload", "dedupe_key", "active_key", "priority")


def _why_not(session: Session, job: NewJob) -> str:
    """A job that was not inserted: the same request again, or its target is busy."""
    if job.dedupe_key is not None:
        repeated = session.execute(select(Job.id).where(Job.dedupe_key == job.dedupe_key))
        if repeated.scalar() is not None:
            return Enqueued.REPEATED
    return Enqueued.BUSY


def _row(job: NewJob) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "payload": job.payload,
        "dedupe_key": job.dedupe_key,
        "active_key": job.active_key,
        "priority": job.priority,
        "state": "queued",
        "attempts": 0,
        "not_before": db_now() + job.delay_seconds,
        "token": 0,
        "progress": {},
        "created_at": db_now(),
    }
