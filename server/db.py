"""The engine, the session factory and the one way to run a transaction.

`Database.transaction()` is the unit of work: it opens a session, commits, and only then
flushes the session's outbox (rule 1, persist then publish). On SQLite every write
transaction starts with BEGIN IMMEDIATE (so two writers never deadlock on a lock upgrade),
WAL and busy_timeout are set on each DBAPI connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .outbox import Dispatcher, Outbox, outbox_of

SQLITE_BUSY_TIMEOUT_MS = 15_000


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=8, max_overflow=8)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        # Take transaction control away from the driver so "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn) -> None:
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str, dispatcher: Dispatcher | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dispatcher = dispatcher or Dispatcher()
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = self.engine.execution_options(readonly=True)
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
        # SQLite allows one writer. Queueing writers here, in order, beats letting each
        # connection spin in SQLite's busy handler (which sleeps in growing steps).
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; its outbox is flushed after a successful commit.
        Keep slow work (image decoding, network) outside: on SQLite it holds the writer."""
        async with self._write_lock or contextlib.nullcontext(), self._sessions() as session:
            outbox = outbox_of(session)
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        await self._flush(outbox)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (a deferred BEGIN on SQLite, so readers never queue for the lock)."""
        async with self._read_sessions() as session:
            yield session

    async def _flush(self, outbox: Outbox) -> None:
        if outbox:
            await self.dispatcher.flush(outbox)

    async def dispose(self) -> None:
        await self.engine.dispose()
