"""The audit trail: every state-changing request and every refusal, append-only; and where a
confirmation typed into a modal is answered (``pending_actions.response_url``).

On PostgreSQL a trigger refuses UPDATE, so that not even a bug of ours can rewrite history;
rows leave only by the retention's DELETE.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("target", sa.String(128)),
        sa.Column("channel", sa.String(32)),
        sa.Column("result", sa.String(24), nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("detail", sa.Text),
        sa.Column("dedupe_key", sa.String(255), unique=True),
    )
    with op.batch_alter_table("pending_actions") as batch:
        batch.add_column(sa.Column("response_url", sa.Text))
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_target", "audit", ["target"])
    op.create_index("ix_audit_scope_at", "audit", ["scope", "at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_no_update ON audit")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    op.drop_table("audit")
    with op.batch_alter_table("pending_actions") as batch:
        batch.drop_column("response_url")
