"""The SQLite write path: prepared statements, and `Database.write` on the event loop.

`Prepared(statement).run(conn, params)` runs a Core statement straight on the `sqlite3`
cursor of the writer's connection, skipping SQLAlchemy's per-call execution machinery; it
must still return the rows, the Python types and the stored values `conn.execute` would.
Whatever it cannot do as well (Python-side column defaults, another driver) goes through
`conn.execute`.

`Database.write(fn, ...)` runs `fn(connection, outbox, ...)` in one transaction: on the
event loop when SQLite's write lock is free, and in the writer thread (which waits for the
lock) when another connection holds it. Either way the unit commits whole or not at all,
and its pushes leave only after the commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, Engine, bindparam, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import MultipleResultsFound, NoResultFound

from server import activity
from server.auth import sign_up
from server.db import Database, make_sqlite_writer
from server.events import tenant_channel
from server.migrate import upgrade
from server.models import ActivityEvent, Contact, Event, Photographer, Visit
from server.outbox import Dispatcher, Outbox
from server.prepared import Prepared

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


# -- Prepared statements ---------------------------------------------------------------


def test_a_prepared_select_skips_sqlalchemy_and_returns_the_rows_execute_returns(writer):
    payloads = [{"n": 1, "tags": ["a", "b"], "note": "é ✓"}, {"nested": {"ok": True, "x": None}}]
    with writer.begin() as conn:
        me = new_tenant(conn)
        conn.execute(insert(LOG), [
            {"photographer_id": me.photographer_id, "seq": n, "kind": "visit",
             "payload": payload, "at": AT + timedelta(seconds=n)}
            for n, payload in enumerate(payloads, 1)])
    statement = (select(LOG.c.seq, LOG.c.kind, LOG.c.payload, LOG.c.at)
                 .where(LOG.c.photographer_id == bindparam("pid")).order_by(LOG.c.seq))
    prepared = Prepared(statement)

    with writer.connect() as conn:
        with through_sqlalchemy(writer) as seen:
            rows = prepared.run(conn, {"pid": me.photographer_id})
        assert seen == []  # straight on the sqlite3 cursor
        expected = conn.execute(statement, {"pid": me.photographer_id}).all()

        assert rows.all() == [tuple(row) for row in expected]
        assert [row[2] for row in rows.all()] == payloads  # JSON comes back as dicts
        for n, (_, _, _, at) in enumerate(rows.all(), 1):
            assert at == AT + timedelta(seconds=n)
            assert at.tzinfo is UTC
        assert rows.first() == tuple(expected[0])
        assert rows.scalar() == 1

        again = prepared.run(conn, {"pid": me.photographer_id}).all()  # the plan is reused
        assert again == rows.all()
        none = prepared.run(conn, {"pid": -1})
        assert (none.all(), none.first(), none.scalar()) == ([], None, None)
        with pytest.raises((ValueError, NoResultFound)):
            none.scalar_one()
        with pytest.raises((ValueError, MultipleResultsFound)):
            rows.scalar_one()
        count = Prepared(select(func.count()).select_from(LOG).where(LOG.c.seq == bindparam("s")))
        assert count.run(conn, {"s": 2}).scalar_one() == 1


def test_a_prepared_update_returning_converts_and_stores_values_as_sqlalchemy_does(writer):
    """Both visits get the same update, one prepared and one through conn.execute: they
    return the same row and store byte-identical values."""
    with writer.begin() as conn:
        prepared_one, executed_one = new_tenant(conn), new_tenant(conn)
    statement = (
        update(VISITS)
        .where(VISITS.c.event_id == bindparam("eid"), VISITS.c.contact_id == bindparam("cid"))
        .values(last_at=bindparam("at"), favorites=VISITS.c.favorites + 1)
        .returning(VISITS.c.favorites, VISITS.c.comments, VISITS.c.first_at, VISITS.c.last_at)
    )

    with writer.begin() as conn:
        with through_sqlalchemy(writer) as seen:
            got = Prepared(statement).run(conn, {
                "eid": prepared_one.event_id, "cid": prepared_one.contact_id, "at": AT}).first()
        assert seen == []
        expected = conn.execute(statement, {
            "eid": executed_one.event_id, "cid": executed_one.contact_id, "at": AT}).first()

    assert got == tuple(expected)
    favorites, comments, first_at, last_at = got
    assert (favorites, comments) == (1, 0)
    assert first_at == AT - timedelta(days=1) and first_at.tzinfo is UTC
    assert last_at == AT and last_at.tzinfo is UTC
    with writer.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT favorites, first_at, last_at FROM visits WHERE id IN (?, ?) ORDER BY id",
            (prepared_one.visit_id, executed_one.visit_id)).all()
    assert raw[0] == raw[1]
    assert raw[0][2] == "2024-05-06 14:30:15.123456"  # naive UTC, as UTCDateTime stores it


def test_a_prepared_insert_stores_what_sqlalchemy_would(writer):
    payload = {"note": "é ✓ | 'quoted'", "ids": [1, 2], "nested": {"ok": True}}
    with writer.begin() as conn:
        me = new_tenant(conn)
    row = {"photographer_id": me.photographer_id, "event_id": me.event_id,
           "contact_id": me.contact_id, "kind": "comment_added", "payload": payload, "at": AT}
    returning = insert(LOG).returning(LOG.c.seq, LOG.c.payload, LOG.c.at)

    with writer.begin() as conn:
        with through_sqlalchemy(writer) as seen:
            plain = Prepared(insert(LOG)).run(conn, {**row, "seq": 1})
            returned = Prepared(returning).run(conn, {**row, "seq": 3}).first()
        assert seen == []
        assert plain.all() == []  # no RETURNING, no rows
        conn.execute(insert(LOG), {**row, "seq": 2})
        expected = conn.execute(returning, {**row, "seq": 4}).first()

    assert returned == (3, payload, AT)
    assert returned[1:] == tuple(expected)[1:]
    assert returned[2].tzinfo is UTC
    with writer.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT seq, photographer_id, event_id, contact_id, kind, payload, at "
            "FROM activity_events ORDER BY seq").all()
        stored = conn.execute(select(LOG.c.payload, LOG.c.at).order_by(LOG.c.seq)).all()
    assert [r[0] for r in raw] == [1, 2, 3, 4]
    assert len({r[1:] for r in raw}) == 1  # prepared and executed rows are byte-identical
    assert stored == [(payload, AT)] * 4


def test_a_missing_bind_parameter_raises_and_runs_nothing(writer):
    with writer.begin() as conn:
        me = new_tenant(conn)
    statement = Prepared(
        update(PEOPLE).where(PEOPLE.c.id == bindparam("pid"))
        .values(last_event_seq=bindparam("new_seq")).returning(PEOPLE.c.last_event_seq)
    )
    with writer.begin() as conn:
        changes = conn.connection.driver_connection.total_changes
        with pytest.raises(KeyError, match="pid"):
            statement.run(conn, {"new_seq": 41})
        with pytest.raises(KeyError, match="new_seq"):
            statement.run(conn, {"pid": me.photographer_id})
        assert conn.connection.driver_connection.total_changes == changes
        assert statement.run(conn, {"pid": me.photographer_id, "new_seq": 42}).scalar_one() == 42
    with writer.connect() as conn:
        seq = conn.execute(select(PEOPLE.c.last_event_seq)
                           .where(PEOPLE.c.id == me.photographer_id)).scalar_one()
    assert seq == 42


def test_columns_left_to_python_side_defaults_take_the_ordinary_path(writer):
    with writer.begin() as conn:
        me = new_tenant(conn)
    statement = Prepared(insert(CONTACTS))
    before = datetime.now(UTC)
    with writer.begin() as conn, through_sqlalchemy(writer) as seen:
        statement.run(conn, {"photographer_id": me.photographer_id,
                             "email": "defaults@example.com", "name": "Dee Fault"})
        assert any(sql.startswith("INSERT INTO contacts") for sql in seen)
        seen.clear()
        # Every column given: nothing for SQLAlchemy to add, so the short path again.
        statement.run(conn, {"photographer_id": me.photographer_id,
                             "email": "given@example.com", "name": "Given", "source": "manual",
                             "created_at": AT})
        assert seen == []
    after = datetime.now(UTC)

    with writer.connect() as conn:
        rows = {email: (source, created_at) for email, source, created_at in conn.execute(
            select(CONTACTS.c.email, CONTACTS.c.source, CONTACTS.c.created_at)
            .where(CONTACTS.c.photographer_id == me.photographer_id))}
    source, created_at = rows["defaults@example.com"]
    assert source == "gate"
    assert before <= created_at <= after
    assert rows["given@example.com"] == ("manual", AT)


async def test_on_any_other_driver_a_prepared_statement_is_conn_execute(sqlite_url):
    """The aiosqlite engine (like PostgreSQL's) runs the same unit through conn.execute."""
    db = Database(sqlite_url)
    try:
        async with db.engine.begin() as conn:
            me = await conn.run_sync(new_tenant)
        statement = (select(VISITS.c.favorites, VISITS.c.last_at)
                     .where(VISITS.c.id == bindparam("vid")))

        def both(conn: Connection) -> tuple[list, list]:
            with through_sqlalchemy(db.engine.sync_engine) as seen:
                rows = Prepared(statement).run(conn, {"vid": me.visit_id}).all()
            assert [sql for sql in seen if sql.startswith("SELECT")]  # went through it
            return rows, conn.execute(statement, {"vid": me.visit_id}).all()

        async with db.engine.connect() as conn:
            assert conn.sync_connection.dialect.driver == "aiosqlite"
            rows, expected = await conn.run_sync(both)
        assert rows == expected == [(0, AT - timedelta(days=1))]
    finally:
        await db.dispose()


def test_append_numbers_each_photographers_events_from_one_and_fills_the_outbox(writer):
    """The activity log's hot path (prepared statements on the writer connection)."""
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
    async with db.transaction() as session:
        me = await sign_up(session, email="writes@example.com", name="W", password="x" * 12)
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


def log_visit(conn: Connection, outbox: Outbox, photographer_id: int) -> int:
    return activity.append(conn, outbox, photographer_id, "visit").seq


async def test_a_free_writer_runs_the_unit_on_the_event_loop_without_a_busy_wait(database):
    db, me, published = database
    seen: dict = {}

    def unit(conn: Connection, outbox: Outbox) -> int:
        seen["thread"] = threading.current_thread()
        seen["busy_timeout"] = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        return log_visit(conn, outbox, me)

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

    def unit(conn: Connection, outbox: Outbox) -> int:
        calls.append(threading.current_thread().name)
        return log_visit(conn, outbox, me)

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

    def unit(conn: Connection, outbox: Outbox) -> None:
        log_visit(conn, outbox, me)
        log_visit(conn, outbox, me)
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

