"""What the bot must remember, as SQLAlchemy 2 tables (migrated by Alembic).

- ``follows``: which channel follows which run, with which card, and what it was last told.
- ``subscriptions``: channels that follow every run of a scope (resource group).
- ``outbox``: messages still to deliver; the poller writes them in the same transaction as the
  status it announces, delivery marks them sent only after Slack accepted them.
- ``worker_state``: the worker's leader lease and when the last poll cycle ran.
- ``pending_actions``: bulk stop/delete waiting for the user's Confirm (too many ids for a
  button's 2000-character value).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, UniqueConstraint
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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(32), index=True)
    follow_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # card | thread | alert | digest | summary
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    in_flight_since: Mapped[datetime | None]
    sent_ts: Mapped[str | None] = mapped_column(String(32))
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)


class WorkerState(Base):
    """Small keyed state of the worker role: the leader lease and the last poll cycle."""

    __tablename__ = "worker_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


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
