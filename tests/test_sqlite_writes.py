"""The SQLite write path: `Database.write` on the event loop, in the writer thread, and
group commit.

`Database.write(fn, ...)` runs `fn(session, ...)` in one transaction: on the
event loop when SQLite's write lock is free, and in the writer thread (which waits for the
lock) when another connection holds it. Either way the unit commits whole or not at all,
and its pushes leave only after the commit. Writes that queue behind a busy writer commit
together (group commit), each in its own savepoint, so one that raises is undone alone.

The checkpointer, the writer's other half, reports the checkpoints that fail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, Engine, event, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server import activity
from server.auth import create_account
from server.db import Database, make_sqlite_writer
from server.events import tenant_channel
from server.migrate import upgrade
from server.models import ActivityEvent, Contact, Event, Photographer, Visit
from server.outbox import Dispatcher, Outbox, outbox_of
from server.sqlite_checkpoint import Checkpointer
from server.sqlite_writer import is_busy

PEOPLE = Photographer.__table__
EVENTS = Event.__table__
CONTACTS = Contact.__table__
VISITS = Visit.__table__
LOG = ActivityEvent.__table__

# Not UTC on purpose: UTCDateTime must store it as naive UTC and hand it back aware, in UTC.
AT = datetime(2024, 5, 6, 16, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture
def writer(sqlite_url) -> Iterator[Engine]:
    """The writer thread's engine: synchronous, on the plain sqlite3 driver."""
    engine = make_sqlite_writer(sqlite_url)
    assert engine.dialect.driver == "pysqlite"  # else every test here takes the slow path
    yield engine
    engine.dispose()


@dataclass
class Tenant:
    photographer_id: int
    event_id: int
    contact_id: int
    visit_id: int


def new_tenant(conn: Connection, name: str = "Pat Lens") -> Tenant:
    """A photographer with one gallery, one client and that client's visit row."""
    token = uuid.uuid4().hex[:10]
    pid = conn.execute(insert(PEOPLE).returning(PEOPLE.c.id), {
        "email": f"{token}@studio.example.com", "name": name, "password_hash": "x"}).scalar_one()
    eid = conn.execute(insert(EVENTS).returning(EVENTS.c.id), {
        "photographer_id": pid, "title": "Smith Wedding", "slug": token}).scalar_one()
    cid = conn.execute(insert(CONTACTS).returning(CONTACTS.c.id), {
        "photographer_id": pid, "email": "jane@example.com", "name": "Jane Client",
    }).scalar_one()
    vid = conn.execute(insert(VISITS).returning(VISITS.c.id), {
        "photographer_id": pid, "event_id": eid, "contact_id": cid,
        "first_at": AT - timedelta(days=1), "last_at": AT - timedelta(days=1),
    }).scalar_one()
    return Tenant(pid, eid, cid, vid)


@contextmanager
def through_sqlalchemy(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements SQLAlchemy's execution path sends while the block runs."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


# -- The activity log on a plain connection -------------------------------------------


def test_append_numbers_each_photographers_events_from_one_and_fills_the_outbox(writer):
    """The activity log's hot path (Core statements on the writer connection)."""
    with writer.begin() as conn:
        a, b = new_tenant(conn, "Studio A"), new_tenant(conn, "Studio B")
    outbox = Outbox()
    with writer.begin() as conn:
        appended = [
            activity.append(conn, outbox, a.photographer_id, "visit", payload={"n": 1}),
            activity.append(conn, outbox, b.photographer_id, "visit"),
            activity.append(conn, outbox, a.photographer_id, "favorite_added",
                            event_id=a.event_id, contact_id=a.contact_id,
                            payload={"image_id": 7}),
            activity.append(conn, outbox, a.photographer_id, "comment_added",
                            event_id=a.event_id, contact_id=a.contact_id),
            activity.append(conn, outbox, b.photographer_id, "visit"),
        ]
    assert [e.seq for e in appended] == [1, 1, 2, 3, 2]
    assert [(channel, message["seq"]) for channel, message in outbox.messages] == [
        (tenant_channel(a.photographer_id), 1), (tenant_channel(b.photographer_id), 1),
        (tenant_channel(a.photographer_id), 2), (tenant_channel(a.photographer_id), 3),
        (tenant_channel(b.photographer_id), 2)]

    favorite = outbox.messages[2][1]
    assert favorite["kind"] == "favorite_added"
    assert favorite["payload"] == {"image_id": 7}
    assert (favorite["contact_name"], favorite["event_title"]) == ("Jane Client", "Smith Wedding")
    # The same message a replay sends: pages apply it by its kind, no counters ride along.
    assert "counters" not in favorite

    with writer.begin() as conn:
        assert activity.append(conn, Outbox(), a.photographer_id, "visit").seq == 4
    with writer.connect() as conn:
        stored = conn.execute(select(LOG.c.photographer_id, LOG.c.seq, LOG.c.payload, LOG.c.at)
                              .order_by(LOG.c.photographer_id, LOG.c.seq)).all()
        counters = conn.execute(select(PEOPLE.c.id, PEOPLE.c.last_event_seq)
                                .order_by(PEOPLE.c.id)).all()
        visit = conn.execute(select(VISITS.c.favorites, VISITS.c.comments, VISITS.c.last_at)
                             .where(VISITS.c.id == a.visit_id)).one()
    assert [(p, s) for p, s, _, _ in stored] == [
        (a.photographer_id, 1), (a.photographer_id, 2), (a.photographer_id, 3),
        (a.photographer_id, 4), (b.photographer_id, 1), (b.photographer_id, 2)]
    assert stored[1][2] == {"image_id": 7}
    assert stored[1][3] == appended[2].at and stored[1][3].tzinfo is UTC
    assert counters == [(a.photographer_id, 4), (b.photographer_id, 2)]
    assert tuple(visit) == (1, 1, appended[3].at)


# -- Database.write --------------------------------------------------------------------


@pytest.fixture
async def database(sqlite_url):
    """A Database whose pushes are collected, and a photographer of its own."""
    published: list[tuple[str, dict]] = []
    db = Database(sqlite_url, Dispatcher(publish=lambda channel, message: published.append(
        (channel, message))))
    me = await create_account(db, email="writes@example.com", name="W", password="x" * 12)
    published.clear()
    try:
        yield db, me.id, published
    finally:
        await db.dispose()


async def stored_seqs(db: Database, photographer_id: int) -> tuple[list[int], int]:
    """The photographer's logged event numbers, and their counter."""
    async with db.reader() as session:
        seqs = list(await session.scalars(
            select(ActivityEvent.seq).where(ActivityEvent.photographer_id == photographer_id)
            .order_by(ActivityEvent.seq)))
        counter = await session.scalar(select(Photographer.last_event_seq)
                                       .where(Photographer.id == photographer_id))
    return seqs, counter


@contextmanager
def write_lock_held_elsewhere(sqlite_url: str) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding SQLite's write lock until released."""
    other = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


def log_visit(session: Session, photographer_id: int) -> int:
    conn, outbox = session.connection(), outbox_of(session)
    return activity.append(conn, outbox, photographer_id, "visit").seq


async def test_a_free_writer_runs_the_unit_on_the_event_loop_without_a_busy_wait(database):
    db, me, published = database
    seen: dict = {}

    def unit(session: Session) -> int:
        conn = session.connection()
        seen["thread"] = threading.current_thread()
        seen["busy_timeout"] = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        return log_visit(session, me)

    assert await db.write(unit) == 1
    assert seen == {"thread": threading.current_thread(), "busy_timeout": 0}
    assert [(channel, m["seq"]) for channel, m in published] == [(tenant_channel(me), 1)]
    assert await stored_seqs(db, me) == ([1], 1)


async def test_a_write_waits_while_another_connection_holds_the_write_lock(
        database, sqlite_url):
    """The inline attempt cannot wait (busy_timeout 0), so the unit goes to the writer
    thread, which waits for the lock instead of failing the request."""
    db, me, published = database
    calls: list[str] = []

    def unit(session: Session) -> int:
        calls.append(threading.current_thread().name)
        return log_visit(session, me)

    with write_lock_held_elsewhere(sqlite_url) as other:
        write = asyncio.create_task(db.write(unit))
        await asyncio.sleep(0.3)
        assert not write.done(), f"it did not wait: {write.exception()!r}"
        assert published == []
        other.execute("COMMIT")
        assert await asyncio.wait_for(write, 10) == 1

    assert len(calls) == 1  # run once, after the lock was released
    assert [(channel, m["seq"]) for channel, m in published] == [(tenant_channel(me), 1)]
    assert await stored_seqs(db, me) == ([1], 1)

    # The failed inline attempt left nothing behind: the next write runs as usual.
    assert await asyncio.wait_for(db.write(log_visit, me), 10) == 2
    assert [m["seq"] for _, m in published] == [1, 2]
    assert await stored_seqs(db, me) == ([1, 2], 2)


@pytest.mark.parametrize("lock", ["free", "held elsewhere"])
async def test_a_unit_that_raises_is_undone_whole_and_publishes_nothing(
        database, sqlite_url, lock):
    db, me, published = database

    def unit(session: Session) -> None:
        log_visit(session, me)
        log_visit(session, me)
        raise ValueError("refused after two appends")

    if lock == "free":
        [outcome] = await asyncio.gather(db.write(unit), return_exceptions=True)
    else:
        with write_lock_held_elsewhere(sqlite_url) as other:
            write = asyncio.create_task(db.write(unit))
            await asyncio.sleep(0.3)
            other.execute("COMMIT")
            [outcome] = await asyncio.wait_for(asyncio.gather(write, return_exceptions=True), 10)
    # The caller gets the unit's own exception.
    assert isinstance(outcome, ValueError) and "refused" in str(outcome), repr(outcome)
    assert published == []
    assert await stored_seqs(db, me) == ([], 0)
    assert await db.write(log_visit, me) == 1  # the undone appends used no number
    assert [m["seq"] for _, m in published] == [1]



async def test_a_unit_whose_error_merely_mentions_locked_is_not_retried_as_busy(database):
    """Busy is told by SQLite's result code, not the message: "no such table:
    locked_accounts" is the unit's own error, raised from its inline attempt at once, not
    run a second time in the writer thread."""
    db, me, published = database
    calls: list[threading.Thread] = []

    def unit(session: Session) -> None:
        conn = session.connection()
        calls.append(threading.current_thread())
        log_visit(session, me)
        conn.exec_driver_sql("SELECT * FROM locked_accounts")

    with pytest.raises(OperationalError, match="no such table: locked_accounts"):
        await db.write(unit)
    assert calls == [threading.current_thread()]  # once, on the event loop
    assert published == []
    assert await stored_seqs(db, me) == ([], 0)


def test_busy_is_told_by_sqlites_result_code(sqlite_url):
    mine = sqlite3.connect(make_url(sqlite_url).database, timeout=0, isolation_level=None)
    try:
        with write_lock_held_elsewhere(sqlite_url), \
                pytest.raises(sqlite3.OperationalError) as busy:
            mine.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as not_busy:
            mine.execute("SELECT * FROM locked_accounts")
    finally:
        mine.close()

    assert busy.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
    assert is_busy(busy.value)
    assert is_busy(OperationalError("BEGIN IMMEDIATE", None, busy.value))  # SQLAlchemy's
    assert "locked" in str(not_busy.value)
    assert not is_busy(not_busy.value)
    assert not is_busy(OperationalError("SELECT", None, not_busy.value))
    assert not is_busy(ValueError("database is locked"))


# -- Group commit ----------------------------------------------------------------------


async def queued_behind_a_busy_writer(db: Database, units: list) -> list:
    """Start `db.write(unit)` for each unit while the writer is busy, so that they all
    queue; return their outcomes (result or exception, in order) once it is free."""
    async with db._write_lock:  # held by the writer while a unit runs
        writes = [asyncio.create_task(db.write(unit)) for unit in units]
        await asyncio.sleep(0.1)
        assert not any(write.done() for write in writes), "a write ran past a busy writer"
    return await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 10)


async def test_writes_queued_behind_a_busy_writer_commit_together_in_one_transaction(
        database):
    db, me, published = database
    seen: list[tuple[threading.Thread, object]] = []

    def unit(session: Session) -> int:
        conn = session.connection()
        seen.append((threading.current_thread(), conn.get_transaction()))
        return log_visit(session, me)

    assert await queued_behind_a_busy_writer(db, [unit] * 5) == [1, 2, 3, 4, 5]

    threads = {thread for thread, _ in seen}
    assert len(seen) == 5 and len(threads) == 1
    assert threading.current_thread() not in threads  # in the writer thread, not inline
    _, transaction = seen[0]
    assert all(t is transaction for _, t in seen), "not one transaction: no group formed"
    assert [m["seq"] for _, m in published] == [1, 2, 3, 4, 5]  # after COMMIT, in order
    assert await stored_seqs(db, me) == ([1, 2, 3, 4, 5], 5)


async def test_a_unit_that_raises_in_a_group_is_undone_alone(database):
    """Its writes are gone and its caller gets its exception; the others in the same
    transaction commit and their callers get their results."""
    db, me, published = database
    transactions: list[object] = []

    def fine(session: Session) -> int:
        conn = session.connection()
        transactions.append(conn.get_transaction())
        return log_visit(session, me)

    def refused(session: Session) -> None:
        conn = session.connection()
        transactions.append(conn.get_transaction())
        log_visit(session, me)
        log_visit(session, me)
        raise ValueError("refused after two appends")

    def broken(session: Session) -> None:  # SQLite itself refuses
        conn = session.connection()
        transactions.append(conn.get_transaction())
        log_visit(session, me)
        conn.execute(insert(CONTACTS), {"photographer_id": -1, "email": "nobody@example.com",
                                        "name": "Nobody"})  # no such photographer

    outcomes = await queued_behind_a_busy_writer(db, [fine, refused, fine, broken, fine])

    first, refusal, second, failure, third = outcomes
    assert (first, second, third) == (1, 2, 3)  # the undone appends used no number
    assert isinstance(refusal, ValueError) and "refused" in str(refusal), repr(refusal)
    assert isinstance(failure, IntegrityError), repr(failure)
    assert len(transactions) == 5
    assert all(t is transactions[0] for t in transactions), "no group formed"
    assert [m["seq"] for _, m in published] == [1, 2, 3]
    assert await stored_seqs(db, me) == ([1, 2, 3], 3)
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(CONTACTS)
                                    .where(CONTACTS.c.email == "nobody@example.com")) == 0


# -- The checkpointer ------------------------------------------------------------------


def wait_for(condition, what: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_failing_checkpoint_is_logged_and_the_checkpointer_carries_on(tmp_path, caplog):
    """Nothing else checkpoints, so a failing one means a WAL that grows without bound: it
    is reported (once, not every round), and checkpoints resume once the cause is gone."""
    path = tmp_path / "proofroom.db"
    path.write_bytes(b"not a database " * 1000)
    caplog.set_level(logging.WARNING, logger="server.sqlite_checkpoint")
    checkpointer = Checkpointer(f"sqlite:///{path}", interval=0.01)
    checkpointer.start()
    try:
        wait_for(lambda: any(r.levelno >= logging.ERROR for r in caplog.records),
                 "the failure to be logged")
        time.sleep(0.1)  # a few more failing rounds
        good = sqlite3.connect(tmp_path / "good.db")
        good.execute("CREATE TABLE t (x)")
        good.close()
        os.replace(tmp_path / "good.db", path)
        wait_for(lambda: any("succeeded again" in r.getMessage() for r in caplog.records),
                 "a checkpoint to succeed again")
    finally:
        checkpointer.stop()

    [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "file is not a database" in failure.getMessage()
    assert failure.exc_info is not None  # with its traceback
