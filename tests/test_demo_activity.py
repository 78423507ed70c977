"""The demo shows the product: `proofroom serve --demo` seeds visitors whose favorites,
comments (with the photographer's replies), downloads, carts at every stage and orders fill
the Activity report and the dashboard, without duplicating anything on the next start; and
`proofroom demo --simulate` acts as clients over HTTP so the photographer sees new activity.

Both backends (the `server` fixture). The demo is seeded into the running server's database
from here, as `proofroom serve --demo` does before it serves, with a few photos per gallery.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from conftest import Client, Server, rows, scalar, viewing_now

from server.db import Database
from server.demo import DEMO_EMAIL, DEMO_PASSWORD, VISITORS, seed
from server.demo_clients import FIRST, simulate
from server.media import MediaStore

JSON = {"Accept": "application/json"}
PHOTOS = 4  # per demo gallery: enough for every visitor's script, quick to draw


async def seed_demo(server: Server) -> bool:
    """Seed the demo into the server's database (idempotent); whether it was created."""
    db = Database(server.database_url)
    try:
        _, _, created = await seed(db, MediaStore(server.media_root), 40_000_000,
                                   base_url=server.base_url, photos=PHOTOS)
    finally:
        await db.dispose()
    return created


async def demo_login(server: Server, new_client) -> Client:
    client = new_client()
    res = await client.post_form("/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert res.status_code == 303, res.text
    return client


async def demo_id(db) -> int:
    return await scalar(db, "SELECT id FROM photographers WHERE email = :e", e=DEMO_EMAIL)


async def report_rows(client: Client, **params) -> list[dict]:
    res = await client.get("/panel/activity", params=params, headers=JSON)
    assert res.status_code == 200, res.text
    return res.json()["rows"]


async def counts(db, photographer_id: int) -> dict[str, int]:
    """Everything a second seed could duplicate, for the demo photographer."""
    tables = ["activity_events", "contacts", "devices", "visits", "favorites", "comments",
              "downloads", "carts", "cart_items", "orders", "outbound_emails", "events",
              "images", "scheduled_actions"]
    found = {t: await scalar(db, f"SELECT count(*) FROM {t} WHERE photographer_id = :p",
                             p=photographer_id) for t in tables}
    found["seq"] = await scalar(db, "SELECT last_event_seq FROM photographers WHERE id = :p",
                                p=photographer_id)
    return found


async def test_the_demo_fills_the_activity_report(server, db, new_client):
    await seed_demo(server)
    me = await demo_login(server, new_client)
    # Only the seeded visitors: other tests on this server may have simulated a client or two.
    seeded = {name for names in VISITORS.values() for name in names}
    everyone = await report_rows(me)
    report = [r for r in everyone if r["name"] in seeded]
    visitors = sum(len(names) for names in VISITORS.values())
    assert len(report) == visitors >= 24  # a few dozen contacts…
    assert len({r["event_id"] for r in report}) == 3  # …across the three galleries
    assert sum(r["favorites"] > 0 for r in report) == visitors
    assert sum(r["comments"] > 0 for r in report) >= 10
    assert sum(r["single_downloads"] > 0 for r in report) >= 5
    assert sum(r["bulk_downloads"] > 0 for r in report) >= 1
    stages = {r["cart_stage"] for r in report if r["cart_items"] or r["cart_stage"]}
    assert {"cart", "details", "review", "ordered"} <= stages
    # The report's counters agree with the rows behind them (the services kept them).
    pid = await demo_id(db)
    assert sum(r["favorites"] for r in everyone) == await scalar(
        db, "SELECT count(*) FROM favorites WHERE photographer_id = :p", p=pid)
    # Replies from the photographer, some threads still waiting for one.
    by_author = dict(await rows(db, "SELECT author, count(*) FROM comments "
                                    "WHERE photographer_id = :p GROUP BY author", p=pid))
    assert 0 < by_author["photographer"] < by_author["client"]
    states = dict(await rows(db, "SELECT state, count(*) FROM orders WHERE photographer_id = :p "
                                 "GROUP BY state", p=pid))
    assert states.get("placed") and states.get("paid") and states.get("shipped")
    # Every action is an ActivityEvent with its own seq: the dashboard's feed lists them.
    kinds = {k for (k,) in await rows(db, "SELECT DISTINCT kind FROM activity_events "
                                          "WHERE photographer_id = :p", p=pid)}
    assert {"visit", "favorite_added", "comment_added", "comment_replied", "download_single",
            "download_bulk", "cart_updated", "order_placed", "order_updated"} <= kinds
    seqs = [s for (s,) in await rows(db, "SELECT seq FROM activity_events "
                                         "WHERE photographer_id = :p ORDER BY seq", p=pid)]
    assert seqs == list(range(1, len(seqs) + 1))
    feed = (await me.get("/panel/activity/feed.json")).json()["feed"]
    assert len(feed) >= 20
    card = (await me.get("/panel/summary.json")).json()
    assert card["today"]["favorites"] > 0 and card["open_orders"] > 0
    # Some visitors followed the emailed link, some did not (the report marks those).
    verified = await scalar(db, "SELECT count(*) FROM devices WHERE photographer_id = :p "
                                "AND verified_at IS NOT NULL", p=pid)
    assert 0 < verified < visitors
    # The galleries' clients acted: their workflow steps are planned (the timeline).
    assert await scalar(db, "SELECT count(*) FROM scheduled_actions "
                            "WHERE photographer_id = :p AND state = 'pending'", p=pid) > 0
    page = (await me.get("/panel/activity")).text
    assert "Emma Carter" in page and "Jessica Nguyen" in page


def _when(value) -> datetime:
    """A timestamp as read with plain SQL: naive UTC (SQLite gives it as text)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def test_the_demo_history_is_spread_over_weeks(server, db):
    """The seeded activity reads like a studio's real history: weeks of it, most recent
    within the last days, nothing in the future, each step after the one it follows."""
    await seed_demo(server)
    pid = await demo_id(db)
    now = datetime.now(UTC).replace(tzinfo=None)
    stamps = [(_when(at), kind, contact) for at, kind, contact in await rows(
        db, "SELECT at, kind, contact_id FROM activity_events WHERE photographer_id = :p "
            "ORDER BY seq", p=pid)]
    days = {at.date() for at, _, _ in stamps}
    assert len(days) >= 10, sorted(days)
    assert min(at for at, _, _ in stamps) <= now - timedelta(days=14)
    assert max(at for at, _, _ in stamps) <= now
    recent = [at for at, _, _ in stamps if at >= now - timedelta(days=3)]
    assert len(recent) >= 10  # most recent within the last few days
    # In the order they happened: a newer seq is never older.
    ats = [at for at, _, _ in stamps]
    assert ats == sorted(ats)
    # Each visitor's visit comes before their favorites.
    first_visit: dict[int, datetime] = {}
    for at, kind, contact in stamps:
        if kind == "visit":
            first_visit.setdefault(contact, at)
        if kind == "favorite_added":
            assert contact in first_visit and first_visit[contact] <= at
    # A reply comes after the comment it answers (hours later, not the same second).
    threads = await rows(db, "SELECT contact_id, image_id, author, created_at FROM comments "
                             "WHERE photographer_id = :p", p=pid)
    asked: dict[tuple, datetime] = {}
    for contact, image, author, at in sorted(threads, key=lambda r: _when(r[3])):
        if author == "client":
            asked.setdefault((contact, image), _when(at))
        else:
            assert _when(at) - asked[(contact, image)] >= timedelta(minutes=30)
    # Galleries went out before their first visitor, after the day they were taken.
    for released, event_date, first in await rows(
            db, "SELECT e.released_at, e.event_date, min(v.first_at) FROM events e "
                "JOIN visits v ON v.event_id = e.id WHERE e.photographer_id = :p "
                "GROUP BY e.id, e.released_at, e.event_date", p=pid):
        assert _when(event_date) < _when(released) < _when(first)


async def test_seeding_again_duplicates_nothing(server, db):
    await seed_demo(server)
    pid = await demo_id(db)
    before = await counts(db, pid)
    assert await seed_demo(server) is False
    assert await counts(db, pid) == before


async def test_the_simulator_acts_live_over_http(server, db, new_client):
    await seed_demo(server)
    pid = await demo_id(db)
    me = await demo_login(server, new_client)
    slugs = [s for (s,) in await rows(db, "SELECT slug FROM events WHERE photographer_id = :p",
                                      p=pid)]
    seq = await scalar(db, "SELECT last_event_seq FROM photographers WHERE id = :p", p=pid)
    said: list[str] = []
    done = await simulate(server.base_url, slugs, interval=0, actions=10, seed=7,
                          say=said.append)
    assert done == 10, said
    assert not [line for line in said if "refused" in line], said
    new = await rows(db, "SELECT kind, payload FROM activity_events WHERE photographer_id = :p "
                         "AND seq > :s ORDER BY seq", p=pid, s=seq)
    kinds = [k for k, _ in new]
    assert "visit" in kinds and "favorite_added" in kinds, kinds
    # The photographer sees the simulated clients: the report and the live feed.
    simulated = await report_rows(me, q="example.net")
    assert simulated and sum(r["favorites"] for r in simulated) > 0
    feed = (await me.get("/panel/activity/feed.json")).json()["feed"]
    assert any("example.net" in str(item) for item in feed)


async def test_proofroom_demo_simulate_from_the_command_line(server, db):
    await seed_demo(server)
    pid = await demo_id(db)
    seq = await scalar(db, "SELECT last_event_seq FROM photographers WHERE id = :p", p=pid)
    # The server's own environment: the galleries come from its database, the address from
    # its BASE_URL, as when run next to `proofroom serve --demo`.
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "demo", "--simulate",
                         "--interval", "0", "--actions", "4"],
        env=server.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "passed the email gate" in proc.stdout, proc.stdout
    # At least its first client's arrival (a repeated favorite of one photo logs nothing).
    kinds = {k for (k,) in await rows(db, "SELECT kind FROM activity_events "
                                          "WHERE photographer_id = :p AND seq > :s",
                                      p=pid, s=seq)}
    assert "visit" in kinds, kinds


async def test_simulated_clients_are_viewing_now(server, db, new_client):
    """While a simulated client is around, its page's socket is open: the dashboard lists
    it under "viewing now". (It leaves by presence's TTL, not at once: not checked here.)"""
    await seed_demo(server)
    pid = await demo_id(db)
    me = await demo_login(server, new_client)
    slug = await scalar(db, "SELECT slug FROM events WHERE photographer_id = :p "
                            "ORDER BY id LIMIT 1", p=pid)

    def simulated(viewers: list[dict]) -> bool:
        return any(v["contact_name"].split()[0] in FIRST for v in viewers)

    running = asyncio.create_task(simulate(server.base_url, [slug], interval=0.2, seed=11,
                                           say=lambda _: None))
    try:
        await viewing_now(me, simulated, timeout=20)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
