"""IDs that are never handed out twice: ``jobs`` and ``outbox`` get AUTOINCREMENT on SQLite;
``outbox.failed_at`` gets an index (rows set aside are now pruned by it).

A job's ID names it outside its row (the audit trail's keys, the ``; job N)`` that ends the
name of a configuration it derived, a card's cause), and an outbox row's ID is stamped into
the metadata of the Slack message it became, which is how a row whose send was cut short is
found again in the channel's history. Both tables are pruned. SQLite gave a new row the
largest rowid plus one, so a table pruned empty (a quiet week) started again at 1, and a new
ID could name an old job's configuration or an old message. With AUTOINCREMENT SQLite keeps
the largest ID it ever gave in ``sqlite_sequence``. ``jobs`` may already have been pruned
empty, so its sequence starts above every job number the audit trail and the outbox still
name. PostgreSQL's sequences never go back: only the index is new there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("jobs", "outbox")
# How keys name a job: the audit trail's ``job12:stop:…``, a card's cause ``card_post:3:job12``,
# the Re-run link's ``rerun:3:12``.
JOB_IN_KEY = re.compile(r"(?:^|:)job(\d+)(?::|$)|^rerun:\d+:(\d+)$")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table in TABLES:
            # SQLite cannot add AUTOINCREMENT to a table: batch mode copies it into a new one,
            # rows (and their IDs), indexes and constraints included.
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass
        _start_jobs_above(_highest_job_named(bind))
    op.create_index("ix_outbox_failed_at", "outbox", ["failed_at"])


def _highest_job_named(bind: sa.Connection) -> int:
    audit = sa.text("SELECT dedupe_key FROM audit WHERE dedupe_key IS NOT NULL")
    outbox = sa.text("SELECT dedupe_key FROM outbox")
    keys = [*bind.execute(audit).scalars(), *bind.execute(outbox).scalars()]
    numbers: list[int] = []
    for key in keys:
        found = JOB_IN_KEY.search(key)
        if found:
            numbers.append(int(next(n for n in found.groups() if n)))
    return max(numbers, default=0)


def _start_jobs_above(highest: int) -> None:
    if not highest:
        return
    bind = op.get_bind()
    current = bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'")).scalar()
    if current is None:
        insert = "INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', :seq)"
        bind.execute(sa.text(insert), {"seq": highest})
    elif current < highest:
        update = "UPDATE sqlite_sequence SET seq = :seq WHERE name = 'jobs'"
        bind.execute(sa.text(update), {"seq": highest})


def downgrade() -> None:
    op.drop_index("ix_outbox_failed_at", "outbox")
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always"):
            pass
