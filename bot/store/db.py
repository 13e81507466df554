"""Engine, sessions and migrations.

``DATABASE_URL`` is a plain SQLAlchemy URL (``sqlite:///./chatops.db`` or
``postgresql+psycopg://...``); the async engine gets the matching async driver, and Alembic
migrates with the sync one at start-up.

Several processes may share one database, so:

- On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (SQLAlchemy's documented recipe
  for taking over pysqlite's transaction handling). A deferred transaction that reads and then
  writes fails at once with "database is locked" when another process wrote in between,
  whatever the busy timeout; an immediate one waits its turn for the write lock instead.
- Migrations run under a lock: ``pg_advisory_xact_lock`` on PostgreSQL, the immediate
  transaction on SQLite. Replicas starting together take turns; the later ones find the
  schema at head and do nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Insert, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from bot.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def sync_url(database_url: str) -> URL:
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL is malformed ({type(exc).__name__})") from None
    if url.drivername in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
        return url.set(drivername="sqlite")
    if url.drivername in ("postgresql", "postgresql+psycopg", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    raise ConfigError("DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")


def async_url(database_url: str) -> URL:
    url = sync_url(database_url)
    return url.set(drivername="sqlite+aiosqlite") if url.drivername == "sqlite" else url


def _engine_options(url: URL, connect_args: dict[str, Any], *, pooled: bool) -> dict[str, Any]:
    if url.drivername.startswith("sqlite"):
        # Writers wait on SQLite's lock (busy timeout) rather than fail. The bot's engine keeps
        # its connections (a new one costs a thread and two PRAGMAs); the migrator's does not.
        options: dict[str, Any] = {"connect_args": {"timeout": 30, **connect_args}}
        if not pooled:
            options["poolclass"] = NullPool
        return options
    return {
        "connect_args": connect_args,
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 20,
    }


MIGRATION_LOCK = "chatops-migrations"


def _sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode; no fsync per commit
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The async engine and session factory; ``connect_args`` lets tests pin a schema."""

    def __init__(self, database_url: str, *, connect_args: dict[str, Any] | None = None) -> None:
        self.url = database_url
        self._connect_args = connect_args or {}
        aurl = async_url(database_url)
        self.engine: AsyncEngine = create_async_engine(
            aurl, **_engine_options(aurl, self._connect_args, pooled=True)
        )
        self.is_sqlite = aurl.drivername.startswith("sqlite")
        if self.is_sqlite:
            _sqlite_transactions(self.engine.sync_engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessions()

    def insert(self, table: Table | type[Any]) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing`` and ``..._do_update``."""
        dialect_insert: Any = sqlite.insert if self.is_sqlite else postgresql.insert
        statement: Insert = dialect_insert(table)
        return statement

    def migrate_sync(self) -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``)."""
        url = sync_url(self.url)
        engine = create_engine(url, **_engine_options(url, self._connect_args, pooled=False))
        if self.is_sqlite:
            _sqlite_transactions(engine)  # BEGIN IMMEDIATE: the migration holds the write lock
        try:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with engine.begin() as connection:
                if not self.is_sqlite:
                    # Held until this transaction ends; keyed by schema, so that tests with a
                    # schema each do not wait for each other.
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(:lock || current_schema()))"),
                        {"lock": MIGRATION_LOCK},
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            engine.dispose()

    async def migrate(self) -> None:
        await asyncio.to_thread(self.migrate_sync)

    async def dispose(self) -> None:
        await self.engine.dispose()
