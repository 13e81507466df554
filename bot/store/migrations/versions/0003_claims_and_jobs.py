"""Claims and jobs: jobs, leases, processes, poll_scopes; outbox times on the database clock.

The poller's single leader lease and its per-scope state in ``worker_state`` give way to a
lease per piece of shared work (``leases``) and ``poll_scopes``; what was polled when is
carried over.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(255), unique=True),
        sa.Column("active_key", sa.String(255), unique=True),
        sa.Column("run_key", sa.String(255), unique=True),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(96)),
        sa.Column("lease_until", sa.Float),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("progress", sa.JSON, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, index=True),
    )
    op.create_index("ix_jobs_claim", "jobs", ["state", "priority", "id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(96)),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
    )
    op.create_table(
        "processes",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False, index=True),
        sa.Column("loops", sa.JSON, nullable=False),
    )
    poll_scopes = op.create_table(
        "poll_scopes",
        sa.Column("provider", sa.String(16), primary_key=True),
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("last_ok_at", TS),
        sa.Column("active", sa.JSON, nullable=False),
        sa.Column("total", sa.Integer),
        sa.Column("swept_at", TS),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    _carry_over_poll_times(poll_scopes)
    op.drop_table("worker_state")

    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("due_at", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_at", TS))
        batch.add_column(sa.Column("in_flight_at", sa.Float))
        batch.add_column(sa.Column("in_flight_by", sa.String(96)))
        batch.drop_column("in_flight_since")
        batch.drop_column("not_before")
        batch.create_index("ix_outbox_pending", ["delivered_at", "failed_at", "channel", "id"])


def _carry_over_poll_times(poll_scopes: sa.Table) -> None:
    """Keep "when was this scope last polled": it decides whether the next cycle catches up."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT key, value FROM worker_state WHERE key LIKE 'polled:%'")
    ).fetchall()
    carried: list[dict[str, object]] = []
    for key, value in rows:
        _prefix, provider, scope = str(key).split(":", 2)
        data = json.loads(value) if isinstance(value, str) else (value or {})
        at = data.get("at")
        carried.append(
            {
                "provider": provider,
                "scope": scope,
                "last_ok_at": datetime.fromisoformat(str(at)) if at else None,
                "active": {},
                "total": None,
                "swept_at": None,
                "failures": 0,
                "last_error": None,
            }
        )
    if carried:
        op.bulk_insert(poll_scopes, carried)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_pending")
        batch.add_column(sa.Column("not_before", TS, nullable=False, server_default="1970-01-01"))
        batch.add_column(sa.Column("in_flight_since", TS))
        batch.drop_column("in_flight_by")
        batch.drop_column("in_flight_at")
        batch.drop_column("failed_at")
        batch.drop_column("due_at")
    op.create_table(
        "worker_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64)),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    for table in ("poll_scopes", "processes", "leases"):
        op.drop_table(table)
    op.drop_index("ix_jobs_claim", "jobs")
    op.drop_table("jobs")
