"""Activity report at scale: 10,000 contacts and 200,000 activity rows for one photographer.

Seeds a fresh database (SQLite by default, or --pg) through the same tables the app uses,
then times the report's pages through the service functions the route calls: the first
page sorted by LAST SAVED, a search, a filter by gallery, a sort by FAVORITES, a deep page,
a contact's detail and their contact record. Prints the median and worst of 20 runs each.

    python bench/activity_report.py
    python bench/activity_report.py --pg postgresql://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from server import activity_report
from server.auth import create_account
from server.db import Database
from server.galleries import EventForm, new_event
from server.migrate import upgrade
from server.models import ActivityEvent, Contact, Favorite, Image, Visit

CONTACTS, ACTIVITY, GALLERIES, IMAGES = 10_000, 200_000, 20, 50


async def seed(db: Database) -> tuple[int, list[int], list[int]]:
    me = await create_account(db, email="scale@example.com", name="Scale", password="x" * 12)
    pid = me.id
    event_ids = await db.write(new_galleries, pid, GALLERIES)
    now = datetime.now(UTC)
    await db.write(insert_rows, [
        (Image, [{"photographer_id": pid, "event_id": e, "filename": f"IMG_{e}{n:03d}.jpg",
                  "storage_key": uuid.uuid4().hex + ".jpg", "position": n, "state": "ready"}
                 for e in event_ids for n in range(IMAGES)]),
        (Contact, [{"photographer_id": pid, "email": f"client{n}@example.com",
                    "name": f"Client {n}", "created_at": now} for n in range(CONTACTS)]),
    ])
    async with db.reader() as session:
        contact_ids = list(await session.scalars(select(Contact.id)))
        images = {e: list(await session.scalars(select(Image.id).where(Image.event_id == e)))
                  for e in event_ids}
    rnd = random.Random(7)
    visits, favs, log = {}, set(), []
    for seq in range(1, ACTIVITY + 1):
        c, e = rnd.choice(contact_ids), rnd.choice(event_ids)
        at = now - timedelta(minutes=rnd.randint(0, 60 * 24 * 60))
        v = visits.setdefault((e, c), {"photographer_id": pid, "event_id": e, "contact_id": c,
                                       "first_at": at, "last_at": at, "count": 1,
                                       "favorites": 0, "comments": 0, "single_downloads": 0,
                                       "bulk_downloads": 0})
        v["first_at"], v["last_at"] = min(v["first_at"], at), max(v["last_at"], at)
        image = rnd.choice(images[e])
        kind = rnd.choice(["favorite_added", "download_single", "visit", "comment_added"])
        if kind == "favorite_added" and (image, c, e) not in favs:
            favs.add((image, c, e))
            v["favorites"] += 1
        elif kind == "download_single":
            v["single_downloads"] += 1
        log.append({"photographer_id": pid, "seq": seq, "event_id": e, "contact_id": c,
                    "kind": kind, "payload": {"image_id": image}, "at": at})
    await db.write(insert_rows, [
        (Visit, list(visits.values())),
        (Favorite, [{"photographer_id": pid, "event_id": e, "image_id": i, "contact_id": c}
                    for i, c, e in favs]),
        *((ActivityEvent, log[start:start + 20_000]) for start in range(0, len(log), 20_000)),
    ])
    return pid, event_ids, contact_ids


def new_galleries(session: Session, photographer_id: int, count: int) -> list[int]:
    return [new_event(session, photographer_id, EventForm(title=f"Gallery {n}")).id
            for n in range(count)]


def insert_rows(session: Session, batches: list[tuple[type, list[dict]]]) -> None:
    """One unit of bulk inserts: a seed, so one big transaction is fine."""
    for model, rows in batches:
        session.execute(insert(model), rows)


async def timed(label: str, fn, runs: int = 20) -> None:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - began) * 1000)
    print(f"{label:>38}: median {statistics.median(times):6.1f} ms   worst {max(times):6.1f} ms",
          flush=True)


async def main(url: str) -> None:
    db = Database(url)
    began = time.perf_counter()
    pid, event_ids, contact_ids = await seed(db)
    await db.optimize()  # what the worker's hourly job (and its start) does on a live install
    print(f"seeded {CONTACTS:,} contacts, {ACTIVITY:,} activity rows in "
          f"{time.perf_counter() - began:.0f} s", flush=True)

    async def page(**kw):
        async with db.reader() as session:
            result = await activity_report.report(session, pid, **kw)
            assert result.rows or kw.get("q")

    async def detail():
        async with db.reader() as session:
            row = (await activity_report.report(session, pid)).rows[0]
            await activity_report.detail(session, pid, row.event_id, row.contact_id)
            await activity_report.favorites_of(session, pid, row.event_id, row.contact_id)

    async def record():
        async with db.reader() as session:
            await activity_report.contact_rows(session, pid, contact_ids[42])
            await activity_report.timeline(session, pid, contact_ids[42])

    await timed("first page, newest LAST SAVED", lambda: page())
    await timed("search 'client 123'", lambda: page(q="client 123"))
    await timed("filter by one gallery", lambda: page(event_id=event_ids[3]))
    await timed("sort by FAVORITES desc", lambda: page(sort="favorites"))
    await timed("page 100", lambda: page(page=100))
    await timed("detail (row + favorites tab)", detail)
    await timed("contact record (+ timeline)", record)
    await db.dispose()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", help="PostgreSQL server URL; a fresh database is made in it")
    args = parser.parse_args()
    if args.pg:
        import asyncpg

        name = f"proofroom_bench_{uuid.uuid4().hex[:8]}"

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(f"{args.pg}/test")
            await conn.execute(sql)
            await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://{args.pg.split('://', 1)[1]}/{name}"
        try:
            upgrade(url)
            asyncio.run(main(url))
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'scale.db'}"
        upgrade(url)
        asyncio.run(main(url))


if __name__ == "__main__":
    cli()
