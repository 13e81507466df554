"""What the bot must remember, as SQLAlchemy 2 tables (migrated by Alembic).

- ``follows``: which channel follows which run, with which card, and what it was last told.
- ``subscriptions``: channels that follow every run of a scope (resource group).
- ``outbox``: messages still to deliver; whoever announces something writes the message in the
  same transaction as the state it announces, delivery marks it sent only after Slack
  accepted it.
- ``jobs``: the work a command or click asked for, recorded before the acknowledgement and run
  by a worker (see :mod:`bot.jobs`).
- ``leases``: who holds which piece of shared work (a poll scope, a channel's outbox) until
  when, with a fencing token (see :mod:`bot.leases`).
- ``processes``: the live processes, their roles and the health of their loops.
- ``poll_scopes``: what the poller remembers of each scope between cycles.
- ``pending_actions``: bulk stop/delete waiting for the user's Confirm (too many ids for a
  button's 2000-character value), and stop/delete in a protected resource group waiting for the
  run's ID to be typed.
- ``audit``: the append-only audit trail (see :mod:`bot.audit`).

Times that several processes compare (leases, claims, pacing) are floats of the database's
own clock (:func:`bot.store.dbclock.db_now`); times users see are timezone-aware datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("provider", "scope", "run_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    started_by: Mapped[str | None] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(16))  # start | watch | subscription
    announced_status: Mapped[str | None] = mapped_column(String(32))
    status_since: Mapped[datetime | None]
    pending_alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_when_stopped_by: Mapped[str | None] = mapped_column(String(32))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # True once the run is final and announced (and no delete is pending): not polled any more.
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    # Optimistic locking: two pollers can never both announce the same transition.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own API


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("provider", "scope", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    scenario: Mapped[str | None] = mapped_column(String(128))
    only: Mapped[str | None] = mapped_column(String(128))  # comma list of statuses
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    __tablename__ = "outbox"
    # An ID is stamped into the Slack message's metadata: never given twice (migration 0005).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(32), index=True)
    follow_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # see bot.outbox: one payload model per kind
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    due_at: Mapped[float] = mapped_column(Float, default=0.0)  # database clock
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When a send was last begun (database clock): its fate is unknown until Slack answered.
    in_flight_at: Mapped[float | None] = mapped_column(Float)
    in_flight_by: Mapped[str | None] = mapped_column(String(96))  # the process that sent it
    sent_ts: Mapped[str | None] = mapped_column(String(32))
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)
    # Set aside after an error that trying again cannot cure (kept, with last_error, to read).
    failed_at: Mapped[datetime | None] = mapped_column(index=True)


class Job(Base):
    """One piece of after-ack work; see :mod:`bot.jobs` for the states and the claim."""

    __tablename__ = "jobs"
    # An ID names the job in audit keys and configuration names: never given twice (0005).
    __table_args__ = (
        Index("ix_jobs_claim", "state", "priority", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Slack's identity of the request (a retry or a redelivered envelope carries the same).
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # What the job acts on, while it is queued or running: a double click finds it taken.
    active_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The run a start job started (or, resumed, adopted): one job per run, whatever happens.
    run_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    priority: Mapped[int] = mapped_column(SmallInteger, default=1)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)
    claimed_by: Mapped[str | None] = mapped_column(String(96))
    lease_until: Mapped[float | None] = mapped_column(Float)
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, index=True)


class Lease(Base):
    """A named piece of shared work and who holds it until when (database clock)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(96))
    # Fencing token: grows with every new holder; a write checks it is still the holder's.
    token: Mapped[int] = mapped_column(BigInteger, default=1)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
    # What the next holder needs to know (a channel's next allowed post, for pacing).
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Process(Base):
    """A running bot process, as its own heartbeat describes it."""

    __tablename__ = "processes"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # host:pid:random
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    loops: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PollScope(Base):
    """What the poller remembers of one scope (resource group, Bria account) between cycles."""

    __tablename__ = "poll_scopes"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_ok_at: Mapped[datetime | None]
    # Ids the last cycle saw in the active statuses, and how many runs the scope held: what a
    # cycle needs to notice a run that was born and finished between two cycles.
    active: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int | None] = mapped_column(Integer)
    swept_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class PendingAction(Base):
    __tablename__ = "pending_actions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    run_ids: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"ids": [...]}
    user_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]
    # Where to answer a confirmation that comes from a modal (which has no response URL).
    response_url: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """The audit trail: append-only (the bot inserts and, past the retention, prunes)."""

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_target", "target"),
        Index("ix_audit_scope_at", "scope", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    user_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(128))
    target: Mapped[str | None] = mapped_column(String(128))  # a run, or a configuration/model
    channel: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(24))  # done, refused_policy, refused_status, failed
    request_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
    # Names the request and the step, so that a job run again after a crash records it once.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
