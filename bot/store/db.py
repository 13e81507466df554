"""Engine, sessions and migrations.

``DATABASE_URL`` is a plain SQLAlchemy URL (``sqlite:///./chatops.db`` or
``postgresql+psycopg://...``); the async engine gets the matching async driver, and Alembic
migrates with the sync one at start-up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, make_url
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


def _sqlite_pragmas(engine: Any) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


class Database:
    """The async engine and session factory; ``connect_args`` lets tests pin a schema."""

    def __init__(self, database_url: str, *, connect_args: dict[str, Any] | None = None) -> None:
        self.url = database_url
        self._connect_args = connect_args or {}
        aurl = async_url(database_url)
        self.engine: AsyncEngine = create_async_engine(
            aurl, **_engine_options(aurl, self._connect_args, pooled=True)
        )
        if aurl.drivername.startswith("sqlite"):
            _sqlite_pragmas(self.engine.sync_engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessions()

    def migrate_sync(self) -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``)."""
        url = sync_url(self.url)
        engine = create_engine(url, **_engine_options(url, self._connect_args, pooled=False))
        try:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            engine.dispose()

    async def migrate(self) -> None:
        await asyncio.to_thread(self.migrate_sync)

    async def dispose(self) -> None:
        await self.engine.dispose()
