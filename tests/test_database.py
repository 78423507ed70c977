"""The database layer: SQLite settings that matter, and persist-then-publish."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.exc import DBAPIError

from realtime.bus import RedisBus, parse
from server import activity
from server.auth import create_account
from server.db import SQLITE_BUSY_TIMEOUT_MS, Database
from server.events import tenant_channel
from server.migrate import upgrade
from server.models import ActivityEvent, Photographer
from server.outbox import Dispatcher

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    upgrade(url)
    return url


async def test_sqlite_connections_use_wal_and_a_busy_timeout(sqlite_url):
    db = Database(sqlite_url)
    try:
        async with db.reader() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            timeout = (await session.execute(text("PRAGMA busy_timeout"))).scalar()
            assert timeout == SQLITE_BUSY_TIMEOUT_MS
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.dispose()


async def test_a_sqlite_unit_holds_the_write_lock_from_its_begin(sqlite_url):
    """BEGIN IMMEDIATE: another writer is refused at its BEGIN while a unit runs, even one
    that has not written yet, instead of failing mid-transaction on a lock upgrade."""
    db = Database(sqlite_url)
    refused: list[str] = []

    def unit(session) -> None:
        other = sqlite3.connect(sqlite_url.split("///", 1)[1], timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            refused.append(str(exc))
        finally:
            other.close()

    try:
        await db.write(unit)
        assert refused == ["database is locked"]
    finally:
        await db.dispose()


async def _collect(pubsub, seconds: float) -> list[dict]:
    got = []
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if msg:
            got.append(parse(msg["data"], own_origin=None))
    return got


async def test_events_are_published_only_after_commit_and_never_after_rollback(sqlite_url):
    redis = aioredis.from_url(REDIS_URL)
    bus = RedisBus(redis, namespace="")
    bus.start()
    db = Database(sqlite_url, Dispatcher(publish=bus.publish))
    try:
        me = await create_account(db, email="pub@example.com", name="Pub", password="x" * 10)
        pubsub = redis.pubsub()
        await pubsub.subscribe(tenant_channel(me.id))
        await pubsub.get_message(timeout=1)  # subscribe confirmation

        def visit(session, fail: bool) -> None:
            activity.record(session, me.id, "visit")
            if fail:
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await db.write(visit, True)
        assert await _collect(pubsub, 0.3) == []

        await db.write(visit, False)
        received = await _collect(pubsub, 0.5)
        assert [m["seq"] for m in received] == [1]  # the rolled-back one used no number

        async with db.reader() as session:
            seqs = list(await session.scalars(select(ActivityEvent.seq)))
        assert seqs == [1]
        await pubsub.aclose()
    finally:
        await bus.stop()
        await db.dispose()
        await redis.aclose()


async def test_the_migrations_build_exactly_the_schema_the_models_declare(db):
    """A model change without its migration (or the reverse) is caught on both backends."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.models import Base

    def differences(conn):
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with db.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_a_reader_sees_one_snapshot_in_all_its_statements(server):
    """Rule 8: a page reads its content and its seq in one reader session, so a write
    committed between two of its reads is not seen by the second (REPEATABLE READ on
    PostgreSQL; a deferred BEGIN in WAL mode on SQLite), and writing there is refused."""
    db = Database(server.database_url)
    other = server.engine()
    bump = text("UPDATE photographers SET last_event_seq = last_event_seq + 1 WHERE id = :id")
    seq_of = text("SELECT last_event_seq FROM photographers WHERE id = :id")
    try:
        me = await create_account(db, email=f"snap{id(db)}@example.com", name="Snap",
                                  password="x" * 12)
        async with db.reader() as session:
            before = (await session.execute(seq_of, {"id": me.id})).scalar_one()
            async with other.begin() as conn:  # committed by another connection, meanwhile
                await conn.execute(bump, {"id": me.id})
            again = (await session.execute(seq_of, {"id": me.id})).scalar_one()
            count = (await session.execute(text(
                "SELECT count(*) FROM photographers WHERE id = :id AND last_event_seq > :s"),
                {"id": me.id, "s": before})).scalar_one()
            assert (again, count) == (before, 0), "a reader saw a write committed after its start"
        async with db.reader() as session:
            assert (await session.execute(seq_of, {"id": me.id})).scalar_one() == before + 1
        if not db.is_sqlite:
            with pytest.raises(DBAPIError, match="read-only"):
                async with db.reader() as session:
                    await session.execute(bump, {"id": me.id})
    finally:
        await other.dispose()
        await db.dispose()


async def test_optimize_gives_the_sqlite_planner_statistics(sqlite_url):
    db = Database(sqlite_url)
    try:
        await create_account(db, email="stats@example.com", name="Stats", password="x" * 12)
        await db.optimize()
        async with db.reader() as session:
            tables = set((await session.scalars(text("SELECT tbl FROM sqlite_stat1"))).all())
        assert "photographers" in tables
    finally:
        await db.dispose()


async def test_a_unit_takes_its_activity_number_last(server):
    """Taking the number locks the photographer's counter row until COMMIT (every other
    write of theirs waits on it), so a unit takes it after all its other statements, even
    when it logged the event first."""
    db = Database(server.database_url)
    statements: list[str] = []

    def note(conn, cursor, statement: str, *args) -> None:
        statements.append(" ".join(statement.split()).lower())

    def comment_then_rename(session) -> None:
        activity.record(session, me.id, "visit", payload={"n": 1})
        session.execute(update(Photographer).where(Photographer.id == me.id)
                        .values(name="Renamed"))

    try:
        me = await create_account(db, email=f"last-{id(db)}@example.com", name="Last",
                                  password="x" * 10)
        event.listen(Engine, "before_cursor_execute", note)
        try:
            await db.write(comment_then_rename)
        finally:
            event.remove(Engine, "before_cursor_execute", note)
        counter = next(i for i, s in enumerate(statements) if "last_event_seq=" in s
                       .replace(" ", ""))
        rename = next(i for i, s in enumerate(statements) if s.startswith("update photographers"
                      ) and "name=" in s.replace(" ", ""))
        assert rename < counter, statements
        assert statements[counter + 1].startswith("insert into activity_events"), statements
    finally:
        await db.dispose()
