"""The live processes: each one's heartbeat row, on the database clock.

A process registers under its unique id (host, pid and a random part), renews its row every
few seconds with the state of its loops, and deletes it on a clean exit. A row whose
``expires_at`` has passed belongs to a dead process. Workers use the number of live workers to
take a fair share of the poll scopes; ``/healthz`` shows every process's loops, so any replica
tells the state of the whole deployment.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.store.db import Database
from bot.store.dbclock import db_now
from bot.store.tables import Process

# A row outlives its last heartbeat by this long before a process counts as gone for good.
FORGET_AFTER_SECONDS = 3600.0


class Registry:
    def __init__(self, db: Database, process_id: str, role: str) -> None:
        self.db = db
        self.process_id = process_id
        self.role = role

    async def beat(self, ttl: float, loops: dict[str, Any]) -> None:
        """Register or renew this process for ``ttl`` seconds."""

        def write(session: Session) -> None:
            result = session.execute(
                update(Process)
                .where(Process.id == self.process_id)
                .values(expires_at=db_now() + ttl, loops=loops)
            )
            if not getattr(result, "rowcount", 0):
                session.execute(
                    self.db.insert(Process)
                    .values(
                        id=self.process_id,
                        role=self.role,
                        started_at=db_now(),
                        expires_at=db_now() + ttl,
                        loops=loops,
                    )
                    .on_conflict_do_nothing()
                )

        await self.db.write(write)

    async def leave(self) -> None:
        statement = delete(Process).where(Process.id == self.process_id)
        await self.db.write(lambda session: session.execute(statement))

    async def live_workers(self) -> list[str]:
        """The ids of the worker processes that beat, this one included."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Process.id).where(
                    Process.role.in_(("worker", "all")), Process.expires_at > db_now()
                )
            )
            return sorted({*rows, self.process_id})

    async def cluster(self) -> list[dict[str, Any]]:
        """Every live process with its role and loops, for ``/healthz``."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(Process.id, Process.role, Process.loops, Process.expires_at - db_now())
                .where(Process.expires_at > db_now())
                .order_by(Process.id)
            )
            return [
                {"id": pid, "role": role, "loops": loops or {}, "expires_in": round(left, 1)}
                for pid, role, loops, left in rows
            ]

    async def forget_the_dead(self) -> None:
        statement = delete(Process).where(Process.expires_at < db_now() - FORGET_AFTER_SECONDS)
        await self.db.write(lambda session: session.execute(statement))
