"""Engine, sessions and migrations.

``DATABASE_URL`` is a plain SQLAlchemy URL (``sqlite:///./chatops.db`` or
``postgresql+psycopg://...``). Reads go through an async engine (``Database.read()``).
Writes are short synchronous transactions run in a thread pool of the database's own
(``Database.write(work)``): a transaction runs from BEGIN to COMMIT without the event loop
interleaving other tasks between its statements. In a busy worker, an async transaction
waits behind hundreds of ready tasks at each statement, and on SQLite it holds the one write
lock all that time; everybody else (the web process recording a job before its ack) waits.
Alembic migrates with the sync engine at start-up.

Several processes may share one database, so:

- On SQLite a transaction that will write starts with ``BEGIN IMMEDIATE`` (SQLAlchemy's
  documented recipe for taking over pysqlite's transaction handling): a deferred transaction
  that reads and then writes fails at once with "database is locked" when another process
  wrote in between, whatever the busy timeout; an immediate one waits its turn for the write
  lock instead. Transactions that only read (``Database.read()``) begin deferred and never
  take the write lock: in WAL mode readers and the writer do not wait for each other.
- Migrations run under a lock: ``pg_advisory_xact_lock`` on PostgreSQL, the immediate
  transaction on SQLite. Replicas starting together take turns; the later ones find the
  schema at head and do nothing.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Insert, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from bot.errors import ConfigError
from bot.store.batch import GroupCommit

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")
WRITE_THREADS = 2  # a batch at a time for writes, one for acknowledgements
# How long an acknowledgement waits for SQLite's write lock before it gives up (and says so).
ACK_PATIENCE_SECONDS = 2.0


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
READ_ONLY = "chatops_read_only"  # an execution option: this transaction only reads


def _busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked" (``sqlite_errorcode`` is the extended code)."""
    code = getattr(exc.orig, "sqlite_errorcode", None) or 0
    return bool(code & 0xFF == sqlite3.SQLITE_BUSY)


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL. A fresh file's switch needs it to itself, and SQLite answers
    "locked" at once (no busy wait) while another process is creating it; WAL then stays."""
    for _attempt in range(200):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA journal_mode=WAL")


def _sqlite_transactions(engine: Engine, *, busy_timeout_ms: int = 30000) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _use_wal(cursor)  # readers do not block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode; no fsync per commit
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


class Database:
    """Engines and sessions; ``connect_args`` lets tests pin a schema."""

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
        self.readers = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        surl = sync_url(database_url)
        self.writer: Engine = create_engine(
            surl, **_engine_options(surl, self._connect_args, pooled=True)
        )
        # For the acknowledgements (see write_soon): on SQLite a busy timeout of a millisecond.
        self.quick_writer: Engine = self.writer
        if self.is_sqlite:
            _sqlite_transactions(self.writer)
            quick_args = {**self._connect_args, "timeout": 0.001}
            self.quick_writer = create_engine(surl, connect_args=quick_args)
            _sqlite_transactions(self.quick_writer, busy_timeout_ms=1)
        self.writes = sessionmaker(self.writer, expire_on_commit=False)
        self.quick_writes = sessionmaker(self.quick_writer, expire_on_commit=False)
        self._threads = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="db-write")
        # Concurrent writes share transactions (bot.store.batch); acknowledgements apart.
        self._batch = GroupCommit(self._transaction, self.in_thread)
        self._quick_batch = GroupCommit(self._quick_transaction, self.in_thread)

    def session(self) -> AsyncSession:
        """An async session (tests and tools; the bot's own writes use :meth:`write`)."""
        return self.sessions()

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction, BEGIN to COMMIT in a writer thread (shared
        with the writes submitted meanwhile, each in its own savepoint)."""
        result: T = await self._batch.run(work)
        return result

    async def write_soon(self, work: Callable[[Session], T]) -> T:
        """The same for an acknowledgement, which waits for it: on SQLite the write lock is
        tried in steps of about a millisecond for up to ``ACK_PATIENCE_SECONDS``, finer than
        SQLite's own backoff, which sleeps up to 100 ms between tries."""
        result: T = await self._quick_batch.run(work)
        return result

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    def _transaction(self, work: Callable[[Session], T]) -> T:
        with self.writes() as session, session.begin():
            session.connection()  # BEGIN (IMMEDIATE) now, before any write's own savepoint
            return work(session)

    def _quick_transaction(self, work: Callable[[Session], T]) -> T:
        deadline = time.monotonic() + ACK_PATIENCE_SECONDS
        while True:
            try:
                with self.quick_writes() as session, session.begin():
                    session.connection()  # a busy lock is this loop's to retry, no write's
                    return work(session)
            except OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(0.0005, 0.002))

    def read(self) -> AsyncSession:
        """A session that only reads (on SQLite it never waits for the write lock)."""
        return self.readers()

    def insert(self, table: Table | type[Any]) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing`` and ``..._do_update``."""
        dialect_insert: Any = sqlite.insert if self.is_sqlite else postgresql.insert
        statement: Insert = dialect_insert(table)
        return statement

    def migrate_sync(self, revision: str = "head") -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``), or to
        ``revision`` (tests of a migration)."""
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
                command.upgrade(config, revision)
        finally:
            engine.dispose()

    async def migrate(self) -> None:
        await asyncio.to_thread(self.migrate_sync)

    async def migrate_to(self, revision: str) -> None:
        """An older schema (tests of a migration)."""
        await asyncio.to_thread(self.migrate_sync, revision)

    async def dispose(self) -> None:
        await self.engine.dispose()
        self._threads.shutdown(wait=True)
        self.writer.dispose()
        if self.quick_writer is not self.writer:
            self.quick_writer.dispose()
