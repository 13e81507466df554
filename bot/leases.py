"""Claims and leases: how any number of processes share work through the database.

A *lease* is a row in ``leases`` naming a piece of shared work (``poll:aicore:default``, the
outbox of channel ``C123``), who holds it, until when, and a *fencing token*::

    acquire   UPDATE leases SET holder=me, token=token+1, expires_at=now+ttl
              WHERE name=:n AND (holder IS NULL OR expires_at <= now) RETURNING token
              (or INSERT ... ON CONFLICT DO NOTHING RETURNING token for a new name)
    renew     UPDATE ... SET expires_at=now+ttl WHERE name=:n AND holder=me AND token=:t
              AND expires_at > now
    fence     the same UPDATE, as the first statement of the holder's write transaction:
              no row means the lease was lost, and the transaction is abandoned
    release   holder=NULL, expires_at=0 (the token stays, so it keeps growing)

``now`` is always the database server's clock (:func:`bot.store.dbclock.db_now`), never a
process's own. With ``liveness`` (processes that beat in :mod:`bot.registry`), a lease whose
holder stopped beating may be taken before it runs out: a SIGKILLed worker's share moves
within a heartbeat's lifetime rather than a lease's.

Every acquisition bumps the token, so a holder that stalled past its expiry (and whose work
was taken over) cannot write any more: its fence finds another token. On
PostgreSQL the fence also locks the lease row until the write commits, so a takeover waits
for it rather than slipping in between the check and the write; on SQLite the write lock
(``BEGIN IMMEDIATE``) serializes them.

This follows the lease-row pattern (Oban's leader election, an epoch as fencing token) rather
than advisory locks, which belong to one connection and break behind PgBouncer. Jobs are
claimed the same way in :mod:`bot.jobs`, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from bot.store.db import Database
from bot.store.dbclock import db_now
from bot.store.tables import Lease as LeaseRow
from bot.store.tables import Process


def new_process_id() -> str:
    """Unique per process, even for two processes of one host (or one container image)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseLost(Exception):
    """The lease expired and may be someone else's now: the work under it must stop."""


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: int
    value: dict[str, Any]


class Leases:
    """Acquire, renew, fence and release named leases for one process (``holder``)."""

    def __init__(self, db: Database, holder: str, *, liveness: bool = False) -> None:
        self.db = db
        self.holder = holder
        self.liveness = liveness

    def _free(self) -> Any:
        """SQL: the lease row is nobody's now."""
        conditions = [LeaseRow.holder.is_(None), LeaseRow.expires_at <= db_now()]
        if self.liveness:
            live = select(Process.id).where(Process.expires_at > db_now())
            conditions.append(and_(LeaseRow.holder != self.holder, LeaseRow.holder.not_in(live)))
        return or_(*conditions)

    async def acquire(self, name: str, ttl: float) -> Lease | None:
        """Take ``name`` when it is free or expired; None when someone else holds it."""

        def take(session: Session) -> Any:
            row = session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, self._free())
                .values(holder=self.holder, token=LeaseRow.token + 1, expires_at=db_now() + ttl)
                .returning(LeaseRow.token, LeaseRow.value)
            ).first()
            if row is None:
                row = session.execute(
                    self.db.insert(LeaseRow)
                    .values(
                        name=name, holder=self.holder, token=1, expires_at=db_now() + ttl, value={}
                    )
                    .on_conflict_do_nothing()
                    .returning(LeaseRow.token, LeaseRow.value)
                ).first()
            return row

        row = await self.db.write(take)
        if row is None:
            return None
        return Lease(name, self.holder, int(row.token), dict(row.value or {}))

    async def renew(self, lease: Lease, ttl: float) -> bool:
        return await self.db.write(lambda session: self._extend(session, lease, ttl))

    async def renew_all(self, leases: Iterable[Lease], ttl: float) -> list[Lease]:
        """Renew several in one transaction; returns the ones that were lost."""
        held = list(leases)
        return await self.db.write(
            lambda session: [lease for lease in held if not self._extend(session, lease, ttl)]
        )

    def fence(self, session: Session, lease: Lease, ttl: float) -> None:
        """Inside the holder's write transaction: still ours? (renews it too)."""
        if not self._extend(session, lease, ttl):
            raise LeaseLost(lease.name)

    def _extend(self, session: Session, lease: Lease, ttl: float) -> bool:
        result = session.execute(
            update(LeaseRow)
            .where(
                LeaseRow.name == lease.name,
                LeaseRow.holder == self.holder,
                LeaseRow.token == lease.token,
                LeaseRow.expires_at > db_now(),
            )
            .values(expires_at=db_now() + ttl)
        )
        return bool(getattr(result, "rowcount", 0))

    def set_value(self, session: Session, lease: Lease, value: dict[str, Any]) -> None:
        """Keep what the next holder needs (call it inside a fenced transaction)."""
        session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == lease.name, LeaseRow.token == lease.token)
            .values(value=value)
        )

    async def release(self, lease: Lease) -> None:
        statement = (
            update(LeaseRow)
            .where(
                LeaseRow.name == lease.name,
                LeaseRow.holder == self.holder,
                LeaseRow.token == lease.token,
            )
            .values(holder=None, expires_at=0.0)
        )
        await self.db.write(lambda session: session.execute(statement))

    async def holders(self, prefix: str) -> dict[str, str]:
        """name -> holder of the live leases whose name starts with ``prefix``."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(LeaseRow.name, LeaseRow.holder).where(
                    LeaseRow.name.startswith(prefix, autoescape=True), ~self._free()
                )
            )
            return {name: str(holder) for name, holder in rows}

    async def forget(self, names: Iterable[str]) -> None:
        """Drop lease rows nobody needs any more (free ones only)."""
        wanted = list(names)
        if not wanted:
            return
        statement = delete(LeaseRow).where(LeaseRow.name.in_(wanted), self._free())
        await self.db.write(lambda session: session.execute(statement))
