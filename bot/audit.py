"""The audit trail: who asked for what, on which run, where, and what came of it.

Every state-changing request (start, stop, delete, watch, subscribe, unsubscribe) and every refusal
(of any action) is one row of the append-only ``audit`` table and one structured log line
(``audit {json}``), so that a log pipeline has it even without the database. A job run again
after a crash records the same step once: its entries carry a key naming the request and the
step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.providers.base import Run
from bot.store.db import Database
from bot.store.repo import aware, utcnow
from bot.store.tables import AuditEntry

log = logging.getLogger("bot.audit")

DEFAULT_SHOWN = 20


class Result(StrEnum):
    DONE = "done"
    REFUSED_POLICY = "refused_policy"
    REFUSED_STATUS = "refused_status"
    FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    user: str
    action: str
    provider: str
    scope: str
    result: Result
    target: str | None = None
    channel: str | None = None
    request_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who asked, where, and which request (``cause``) it was."""

    user: str
    channel: str | None
    cause: str


@dataclass(frozen=True)
class Shown:
    """An entry as read back."""

    at: datetime
    entry: Entry


class Audit:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def note(
        self,
        actor: Actor,
        action: str,
        provider: str,
        scope: str,
        result: Result,
        *,
        target: str | None = None,
        request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """One entry for ``actor``'s request: once, however often its job runs.

        A step's outcome is kept once (a job resumed after a crash that finds its stop done
        does not add "refused by status"); a failure and a later success are both kept.
        """
        entry = Entry(
            user=actor.user,
            action=action,
            provider=provider,
            scope=scope,
            result=result,
            target=target,
            channel=actor.channel,
            request_id=request_id,
            detail=detail,
        )
        step = "failed" if result is Result.FAILED else "outcome"
        await self.record(entry, key=f"{actor.cause}:{action}:{provider}:{scope}:{target}:{step}")

    async def note_refused(
        self, actor: Actor, action: str, scope: str, ineligible: Sequence[tuple[Run, str]]
    ) -> None:
        for run, why in ineligible:
            await self.note(
                actor, action, run.provider, scope, Result.REFUSED_STATUS, target=run.id, detail=why
            )

    async def record(self, entry: Entry, *, key: str | None = None) -> None:
        """Append ``entry`` (``key``, the request and the step, makes a repeat a no-op) and
        log it. Best effort: what it records has happened, so a database failure here is
        logged with the entry, and does not turn a done stop into a failed job."""
        at = self.clock()
        values = {
            "at": at,
            "user_id": entry.user[:32],
            "action": entry.action,
            "provider": entry.provider,
            "scope": entry.scope[:128],
            "target": entry.target[:128] if entry.target else None,
            "channel": entry.channel[:32] if entry.channel else None,
            "result": entry.result.value,
            "request_id": entry.request_id[:128] if entry.request_id else None,
            "detail": entry.detail,
            "dedupe_key": key[:255] if key else None,
        }
        statement = self.db.insert(AuditEntry).values(**values)
        if key is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
        # RETURNING says whether the row went in (psycopg's rowcount is -1 here).
        statement = statement.returning(AuditEntry.id)

        def write(session: Session) -> bool:
            return session.execute(statement).scalar_one_or_none() is not None

        fields = {"at": at.isoformat(), **asdict(entry), "result": entry.result.value}
        try:
            stored = await self.db.write(write)
        except SQLAlchemyError as exc:
            log.error(
                "audit (not stored: %s) %s", type(exc).__name__, json.dumps(fields, sort_keys=True)
            )
            return
        if stored:
            log.info("audit %s", json.dumps(fields, sort_keys=True))

    async def latest(
        self, *, scope: str, target: str | None = None, limit: int = DEFAULT_SHOWN
    ) -> list[Shown]:
        query = select(AuditEntry).where(AuditEntry.scope == scope)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        async with self.db.read() as session:
            rows = list(await session.scalars(query))
        return [
            Shown(
                at=aware(row.at),
                entry=Entry(
                    user=row.user_id,
                    action=row.action,
                    provider=row.provider,
                    scope=row.scope,
                    result=Result(row.result),
                    target=row.target,
                    channel=row.channel,
                    request_id=row.request_id,
                    detail=row.detail,
                ),
            )
            for row in rows
        ]

    async def prune(self, retention_days: int) -> int:
        cutoff = self.clock() - timedelta(days=retention_days)

        def write(session: Session) -> int:
            result = session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)

        return await self.db.write(write)
