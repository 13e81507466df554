"""IDs that are never handed out twice: ``jobs`` and ``outbox`` get AUTOINCREMENT on SQLite.

A job's ID names it outside its row (the audit trail's keys, the ``; job N)`` that ends the
name of a configuration it derived, a card's cause), and an outbox row's ID is stamped into
the metadata of the Slack message it became, which is how a row whose send was cut short is
found again in the channel's history. Both tables are pruned. SQLite gives a new row the
largest rowid plus one, so a table pruned empty (a quiet week) started again at 1, and a new
ID could name an old job's configuration or an old message. With AUTOINCREMENT SQLite keeps
the largest ID it ever gave in ``sqlite_sequence``. PostgreSQL's sequences never go back:
nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("jobs", "outbox")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # SQLite cannot add AUTOINCREMENT to a table: batch mode copies it into a new one,
        # rows (and their IDs), indexes and constraints included.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always"):
            pass
