"""The demo account's "Simulate a client" button: a simulated client acts live inside the
app (the same `simulate` as `proofroom demo --simulate`), one run per studio, the demo
account only.

Both backends (the `server` fixture). The demo is seeded into the running server's
database as in tests/test_demo_activity.py. Every test stops the run it started, so the
shared demo account is quiet again for whatever runs next.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from urllib.parse import urlsplit

import pytest
from conftest import claim_redis_db, rows, scalar
from playwright.async_api import expect
from test_demo_activity import demo_id, demo_login, seed_demo

URL = "/panel/demo/simulate"


@contextlib.asynccontextmanager
async def stopped_after(me):
    """Whatever the test starts is stopped when it ends (pass or fail)."""
    try:
        yield
    finally:
        res = await me.post_json(URL + "/stop")
        assert res.status_code == 200, res.text


async def last_seq(db, pid: int) -> int:
    return await scalar(db, "SELECT last_event_seq FROM photographers WHERE id = :p", p=pid)


async def new_kinds(db, pid: int, after: int, want: str, timeout: float = 30) -> set[str]:
    """The kinds of the studio's events after seq `after`, once `want` is among them."""
    deadline = time.monotonic() + timeout
    while True:
        kinds = {k for (k,) in await rows(
            db, "SELECT kind FROM activity_events WHERE photographer_id = :p AND seq > :s",
            p=pid, s=after)}
        if want in kinds or time.monotonic() > deadline:
            return kinds
        await asyncio.sleep(0.2)


async def test_the_button_is_on_the_demo_dashboard_only(server, new_client, photographer):
    await seed_demo(server)
    me = await demo_login(server, new_client)
    page = (await me.get("/panel")).text
    assert "data-demo-sim-start" in page and "/static/js/demo_simulate.js" in page
    other = (await photographer.get("/panel")).text
    assert "data-demo-sim-start" not in other and "demo_simulate.js" not in other
    # …and the routes refuse everyone else, whatever they send.
    assert (await photographer.get(URL, headers={"Accept": "application/json"})
            ).status_code == 403
    assert (await photographer.post_json(URL)).status_code == 403
    assert (await photographer.post_json(URL + "/stop")).status_code == 403


async def test_a_press_starts_one_live_client_and_a_second_press_says_it_runs(
        server, db, new_client):
    await seed_demo(server)
    pid = await demo_id(db)
    me = await demo_login(server, new_client)
    seq = await last_seq(db, pid)
    async with stopped_after(me):
        first = await me.post_json(URL)
        assert first.status_code == 200, first.text
        assert first.json()["started"] is True and first.json()["running"] is True
        ends_at = first.json()["ends_at"]
        # The simulated client arrives and acts: its events reach the studio's activity.
        kinds = await new_kinds(db, pid, seq, "favorite_added")
        assert {"visit", "favorite_added"} <= kinds, kinds
        # A second press (from another tab) starts nothing: it says the one running.
        again = await me.post_json(URL)
        assert again.status_code == 200
        assert again.json() == {"running": True, "started": False, "ends_at": ends_at}
        status = (await me.get(URL, headers={"Accept": "application/json"})).json()
        assert status["running"] is True and status["ends_at"] == ends_at
        visitors = await scalar(db, "SELECT count(DISTINCT contact_id) FROM activity_events "
                                    "WHERE photographer_id = :p AND seq > :s AND kind = 'visit'",
                                p=pid, s=seq)
        assert visitors >= 1
    # Stopped: the status says so, and a new press may start again.
    status = (await me.get(URL, headers={"Accept": "application/json"})).json()
    assert status == {"running": False, "started": False, "ends_at": None}


async def test_the_post_needs_the_csrf_token(server, new_client):
    await seed_demo(server)
    me = await demo_login(server, new_client)
    res = await me.post_json(URL, csrf=False)
    assert res.status_code == 403
    status = (await me.get(URL, headers={"Accept": "application/json"})).json()
    assert status["running"] is False


@pytest.mark.browser
async def test_the_dashboard_moves_after_the_press_without_a_reload(browser, server, db,
                                                                   new_client):
    await seed_demo(server)
    me = await demo_login(server, new_client)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": k, "value": v, "domain": host, "path": "/"}
                               for k, v in me.http.cookies.items()])
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    async with stopped_after(me):
        await page.goto(server.base_url + "/panel")
        await expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
        await page.evaluate("window.__sameDocument = true")
        top = await page.locator("#feed .feed-item").first.get_attribute("data-seq")
        await page.click("[data-demo-sim-start]")
        status = page.locator("[data-demo-sim-status]")
        await expect(status).to_contain_text("until")
        await expect(page.locator("[data-demo-sim-stop]")).to_be_visible()
        # A new event from the simulated client lands on top of the feed, live.
        newer = page.locator("#feed .feed-item").first
        await expect(newer).not_to_have_attribute("data-seq", top or "", timeout=30_000)
        await expect(page.locator("#viewing-list")).not_to_contain_text(
            "Nobody right now", timeout=30_000)
        await page.screenshot(path="tests/artifacts/demo-simulate-1440.png")
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path="tests/artifacts/demo-simulate-390.png")
        # Stop: the page says the client left.
        await page.click("[data-demo-sim-stop]")
        await expect(status).to_contain_text("left at")
        await expect(page.locator("[data-demo-sim-stop]")).to_be_hidden()
        assert await page.evaluate("window.__sameDocument") is True
    assert not errors, errors
    await context.close()


async def test_a_run_ends_by_itself_and_on_stop_and_lets_the_next_one_start(server, db):
    """The run behind the button (server/demo_clients.start_live), driven directly on a
    Redis of this test's: it ends when its time is up, and soon after a Stop; each time
    it hands the studio's slot back."""
    import redis.asyncio as aioredis

    from server import demo_clients

    await seed_demo(server)
    pid = await demo_id(db)
    slugs = [s for (s,) in await rows(db, "SELECT slug FROM events WHERE photographer_id = :p "
                                          "AND status = 'released'", p=pid)]
    lock = claim_redis_db()
    client = aioredis.Redis.from_url(lock.url)
    try:
        _, task = await demo_clients.start_live(client, pid, server.base_url, slugs,
                                                seconds=1, interval=0.2)
        assert task is not None
        await asyncio.wait_for(task, 60)  # its time is up: it ends on its own…
        assert await demo_clients.live_until(client, pid) is None  # …and frees the slot
        _, task = await demo_clients.start_live(client, pid, server.base_url, slugs,
                                                seconds=600, interval=0.2)
        assert task is not None and await demo_clients.live_until(client, pid) is not None
        _, second = await demo_clients.start_live(client, pid, server.base_url, slugs)
        assert second is None  # one run per studio
        await demo_clients.stop_live(client, pid)
        await asyncio.wait_for(task, 60)  # Stop ends it long before its ten minutes
        assert await demo_clients.live_until(client, pid) is None
    finally:
        await client.aclose()
        lock.release()
