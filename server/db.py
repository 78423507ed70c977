"""The engines, and the one unit of work every write uses.

`Database.write(fn, *args)` is the unit of work, for routes (through
`routes.common.write`), socket handlers, jobs and the CLI alike: `fn(session, *args)` runs
on a plain ORM Session joined to one transaction. Its outbox (server/outbox.py: pushes,
jobs, after-commit actions such as deleting files) leaves after COMMIT and is dropped on
rollback (rule 1, persist then publish); its before-commit steps run last (the activity
log takes its numbers there, so a tenant's counter row is locked for two statements). A
unit never awaits: hashing, network and file work happen before or after it.

One way it runs per backend:
- SQLite: whole, on a plain `sqlite3` connection, never statement by statement through
  aiosqlite (each statement there is a thread hand-off waiting for a busy event loop, with
  the single writer held across all of them; measured with bench/live_latency.py
  --flat-out 20: 157 toggles/s and 5.8 ms of CPU each through aiosqlite, ~1,000/s and
  1.0 ms this way). On the event loop when the writer is free, else in the writer thread,
  where units queued behind a busy writer commit together (server/sqlite_writer.py).
  Every write transaction starts with BEGIN IMMEDIATE, so two writers never deadlock on a
  lock upgrade.
- PostgreSQL: the same function through `AsyncConnection.run_sync` on asyncpg.

`Database.reader()` is the read side: one snapshot per page (an async session).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from .outbox import Dispatcher, Outbox, run_before_commit
from .sqlite_checkpoint import Checkpointer
from .sqlite_writer import SqliteWriter

SQLITE_BUSY_TIMEOUT_MS = 15_000


T = TypeVar("T")


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=8, max_overflow=8)
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def make_sqlite_writer(url: str, busy_ms: int | None = None) -> Engine:
    """The synchronous twin of the SQLite engine, used only from the writer thread."""
    engine = create_engine(url.replace("+aiosqlite", ""), pool_size=1, max_overflow=0,
                           connect_args={"check_same_thread": False})
    _configure_sqlite(engine)

    @event.listens_for(engine, "connect")
    def no_checkpoints_in_commits(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
        if busy_ms is not None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy_ms}")

    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        # Take transaction control away from the driver so "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn) -> None:
        # The pattern SQLAlchemy documents for SQLite ("Serializable isolation /
        # Savepoints / Transactional DDL"): the driver's own BEGIN is off (on_connect).
        readonly = conn.get_execution_options().get("readonly")
        conn.connection.dbapi_connection.cursor().execute(
            "BEGIN" if readonly else "BEGIN IMMEDIATE")


def _run_unit(fn: Callable[..., T], args: tuple, conn: Connection, outbox: Outbox) -> T:
    """`fn(session, *args)` on an ORM session joined to `conn`'s transaction, its
    before-commit steps last. The session never ends that transaction ("rollback_only"
    and no commit here): the caller commits it, or rolls it (or the unit's savepoint)
    back."""
    with Session(bind=conn, join_transaction_mode="rollback_only") as session:
        session.info["outbox"] = outbox
        result = fn(session, *args)
        run_before_commit(session)
        session.flush()
    return result


class Database:
    def __init__(self, url: str, dispatcher: Dispatcher | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dispatcher = dispatcher or Dispatcher()
        # A reader is one snapshot (rule 8: a page renders its content and the seq that
        # content reflects from one snapshot). PostgreSQL: a read-only REPEATABLE READ
        # transaction, whose snapshot is taken at its first statement and kept for all of
        # them (READ COMMITTED takes a new one per statement). SQLite: a deferred BEGIN in WAL
        # mode already reads one snapshot from its first SELECT to its end.
        read_options: dict[str, Any] = {"readonly": True}
        if not self.is_sqlite:
            read_options |= {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        self._read_engine = self.engine.execution_options(**read_options)
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
        # SQLite allows one writer. Queueing writers here, in order, beats letting each
        # connection spin in SQLite's busy handler (which sleeps in growing steps).
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._tenant_locks: dict[int, asyncio.Lock] = {}
        self._writer: SqliteWriter | None = None
        if self.is_sqlite:
            self._writer = SqliteWriter(make_sqlite_writer(url), self._write_lock,
                                        self.dispatcher, make_sqlite_writer(url, busy_ms=0))
            self._checkpointer = Checkpointer(url)
            self._checkpointer.start()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A read-only session that sees ONE snapshot in all its statements: a deferred BEGIN
        on SQLite (readers never queue for the lock), a READ ONLY REPEATABLE READ transaction
        on PostgreSQL. Read a page's content and its `activity.latest_seq` in the same one."""
        async with self._read_sessions() as session:
            yield session

    async def write(self, fn: Callable[..., T], *args: Any, tenant: int | None = None) -> T:
        """Run `fn(session, *args)` in one write transaction, `session` a plain (sync) ORM
        Session whose outbox is flushed after the commit.

        `tenant`: the photographer whose activity counter the unit takes a number from. On
        PostgreSQL this process lets one such write per tenant at a time into the database:
        the others would only wait there on the counter's row lock, each holding a pooled
        connection (measured: the pool ran dry and requests waited up to ~800 ms)."""
        unit = partial(_run_unit, fn, args)
        if self._writer is not None:
            return await self._writer.write(unit, ())  # inline, or group commit
        outbox = Outbox()
        async with self._tenant_lock(tenant), self.engine.begin() as conn:
            result = await conn.run_sync(unit, outbox)
        await self._flush(outbox)
        return result

    def _tenant_lock(self, tenant: int | None) -> contextlib.AbstractAsyncContextManager:
        if tenant is None:
            return contextlib.nullcontext()
        lock = self._tenant_locks.get(tenant)
        if lock is None:
            lock = self._tenant_locks[tenant] = asyncio.Lock()
        return lock

    async def _flush(self, outbox: Outbox) -> None:
        if outbox:
            await self.dispatcher.flush(outbox)

    async def optimize(self) -> None:
        """Refresh the query planner's statistics. SQLite gathers them only when asked, and
        without them it walks a whole index to skip a sort (the report's search went from
        ~400 ms to ~10 ms at 10k contacts). Sampled, so it costs milliseconds at any size.
        PostgreSQL's autovacuum keeps its own statistics."""
        if self._writer is None:
            return
        await self._writer.call(self._analyze_sync, self._writer.engine)

    @staticmethod
    def _analyze_sync(engine: Engine) -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.close()
            self._checkpointer.stop()
