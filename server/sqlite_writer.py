"""The SQLite writer: a unit of work on the event loop when the writer is free, else one
thread, one connection, and group commit.

A unit that finds the writer free and nobody queued runs at once on the event loop, on a
connection that never waits for SQLite's lock (busy timeout 0). SQLite commits to the
WAL without an fsync (synchronous=NORMAL), so this costs a fraction of a millisecond,
less than handing the unit to a thread and back, a dear hand-off on this machine
(bench/live_latency.py, embedded, 200 clients at 1 toggle/s: HTTP p99 20.6 and 24.6 ms
with units inline, 42.0 and 44.3 ms with every unit sent to the thread). If another connection
or process holds the lock, the unit goes to the writer thread instead, which waits with
the usual busy timeout.

SQLite has one writer at a time, so writes queue. Units of work that arrive while the
writer is busy run together in its next transaction, each inside its own SAVEPOINT: one
BEGIN IMMEDIATE, one COMMIT and one thread hand-off for the whole group, where a unit that
raises is rolled back alone and its caller gets the exception. Under load the queue then
drains in a few groups instead of a convoy of single commits (thread only, flat out with
20 / 50 clients: 564 / 670 actions/s in groups, 347 / 352 one unit per transaction).

After a group commits, its pushes are handed to the dispatcher at once, in commit order (so
they leave in the order of their sequence numbers), and only then are the callers resumed:
persist, publish, respond. A unit that enqueued jobs resumes once they are in Redis; that
wait overlaps the next group's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from .outbox import Dispatcher, Outbox

log = logging.getLogger(__name__)

MAX_GROUP = 64  # bounds one transaction's length, and so the wait of the next group
SLOW_INLINE = 0.02  # seconds: an inline write longer than this is logged


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` is SQLite's "another connection holds the lock" (SQLITE_BUSY, or
    SQLITE_LOCKED), told by its result code, never by its message (a unit's own "no such
    table: locked_accounts" is not busy). SQLAlchemy's wrapper carries the sqlite3 error
    in `.orig`; extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in their
    low byte."""
    error = getattr(exc, "orig", None) or exc
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@dataclass
class _Unit:
    fn: Callable[..., Any]
    args: tuple
    future: asyncio.Future
    outbox: Outbox = field(default_factory=Outbox)
    result: Any = None
    error: BaseException | None = None


class SqliteWriter:
    def __init__(self, engine: Engine, lock: asyncio.Lock, dispatcher: Dispatcher,
                 inline: Engine | None = None) -> None:
        self.engine = engine
        self.lock = lock  # one writer: inline units, the thread's groups, Database.optimize
        self.dispatcher = dispatcher
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._pending: list[_Unit] = []
        self._drainer: asyncio.Task | None = None
        self._resuming: set[asyncio.Task] = set()  # strong references until they finish
        self.inline = inline.connect() if inline is not None else None

    async def write(self, fn: Callable[..., Any], args: tuple) -> Any:
        """Run `fn(connection, outbox, *args)` in a transaction; return once it is committed
        and its outbox dispatched."""
        if self.inline is not None and not self.lock.locked() and self._drainer is None:
            try:
                return await self._write_inline(fn, args)
            except (OperationalError, sqlite3.OperationalError) as exc:
                if not is_busy(exc):  # anything but busy: the caller's to handle
                    raise
        unit = _Unit(fn, args, asyncio.get_running_loop().create_future())
        self._pending.append(unit)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="sqlite-group-commit")
        return await unit.future

    async def _write_inline(self, fn: Callable[..., Any], args: tuple) -> Any:
        """The unit on the event loop: free writer, nobody queued, so no thread hand-off
        and no group to wait for. Its connection never waits for SQLite's lock (busy
        timeout 0): another process holding it sends the unit to the writer thread."""
        outbox = Outbox()
        began = time.perf_counter()
        with self.inline.begin():
            result = fn(self.inline, outbox, *args)
        held = time.perf_counter() - began
        if held > SLOW_INLINE:  # the whole process waited: say so (a disk stall, a big unit)
            log.warning("a SQLite write held the event loop for %.0f ms", held * 1000)
        await self.dispatcher.flush(outbox)
        if outbox.messages:
            await asyncio.sleep(0)  # the sockets woken by the push send it before we respond
        return result

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a plain `fn(*args)` in the writer thread, holding the writer."""
        async with self.lock:
            return await asyncio.get_running_loop().run_in_executor(self.thread, fn, *args)

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        if self.inline is not None:
            self.inline.close()
            self.inline.engine.dispose()
        self.engine.dispose()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        group: list[_Unit] = []
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                async with self.lock:
                    try:
                        await loop.run_in_executor(self.thread, self._run_group, group)
                    except Exception as exc:  # the COMMIT failed: nothing of the group stands
                        for unit in group:
                            unit.error, unit.outbox = exc, Outbox()
                self._dispatch(group)
                group = []
        except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
            for unit in group + self._pending:
                unit.future.done() or unit.future.set_exception(exc)
            raise
        finally:
            self._drainer = None

    def _run_group(self, group: list[_Unit]) -> None:
        with self.engine.begin() as conn:
            if len(group) == 1:
                group[0].result = group[0].fn(conn, group[0].outbox, *group[0].args)
                return
            for unit in group:
                self._run_unit(conn, unit)

    @staticmethod
    def _run_unit(conn: Connection, unit: _Unit) -> None:
        savepoint = conn.begin_nested()
        try:
            unit.result = unit.fn(conn, unit.outbox, *unit.args)
        except Exception as exc:
            savepoint.rollback()
            unit.error, unit.outbox = exc, Outbox()
        else:
            savepoint.commit()

    def _dispatch(self, group: list[_Unit]) -> None:
        for unit in group:
            self.dispatcher.run_actions(unit.outbox)
            self.dispatcher.publish_messages(unit.outbox)
        for unit in group:
            if unit.outbox.jobs:
                task = asyncio.create_task(self._resume_after_jobs(unit))
                self._resuming.add(task)
                task.add_done_callback(self._resuming.discard)
            else:
                self._resume(unit)

    async def _resume_after_jobs(self, unit: _Unit) -> None:
        try:
            await self.dispatcher.enqueue_jobs(unit.outbox)
        finally:
            self._resume(unit)

    @staticmethod
    def _resume(unit: _Unit) -> None:
        if unit.future.done():
            return  # its caller went away (cancelled)
        if unit.error is not None:
            unit.future.set_exception(unit.error)
        else:
            unit.future.set_result(unit.result)
