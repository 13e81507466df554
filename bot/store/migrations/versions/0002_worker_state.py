"""Worker state (leader lease, last poll cycle); follows.finished and follows.version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64)),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("follows") as batch:
        batch.add_column(
            sa.Column("finished", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1"))
        )
        batch.create_index("ix_follows_scope_open", ["provider", "scope", "finished"])


def downgrade() -> None:
    with op.batch_alter_table("follows") as batch:
        batch.drop_index("ix_follows_scope_open")
        batch.drop_column("version")
        batch.drop_column("finished")
    op.drop_table("worker_state")
