"""Initial tables: follows, subscriptions, outbox, pending_actions.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("card_ts", sa.String(32)),
        sa.Column("started_by", sa.String(32)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("announced_status", sa.String(32)),
        sa.Column("status_since", TS),
        sa.Column("pending_alerted", sa.Boolean, nullable=False),
        sa.Column("delete_when_stopped_by", sa.String(32)),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("provider", "scope", "run_id", "channel"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("scenario", sa.String(128)),
        sa.Column("only", sa.String(128)),
        sa.Column("created_by", sa.String(32)),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("provider", "scope", "channel"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dedupe_key", sa.String(255), nullable=False, unique=True),
        sa.Column("channel", sa.String(32), nullable=False, index=True),
        sa.Column("follow_id", sa.Integer, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("in_flight_since", TS),
        sa.Column("sent_ts", sa.String(32)),
        sa.Column("delivered_at", TS, index=True),
    )
    op.create_table(
        "pending_actions",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("run_ids", sa.JSON, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("consumed_at", TS),
    )


def downgrade() -> None:
    for table in ("pending_actions", "outbox", "subscriptions", "follows"):
        op.drop_table(table)
