"""verify_action (Zulip's pattern, zerver/tests/test_events.py): for every activity kind,
load a page's state, perform the action over HTTP as the client or the photographer would,
take the events the panel socket pushes, apply them to the OLD state with the pages' own
JavaScript (web/static/js/activity_apply.js, run in Chromium), and compare with a fresh
load. The states: the Activity row of (gallery, contact) (row.json), the dashboard summary
(summary.json) and the feed (feed.json).

Each action's events are taken twice: live, from a socket open before the action, and by
replay, from a socket opened after it with the old page's seq; they must be identical (one
envelope for replay and live). A kind in server.events.KINDS without a case here fails.

Also: every panel page with live content renders the seq of its own snapshot (rule 8)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from conftest import Client, pass_gate, released_gallery, scalar, seed_price_list
from sqlalchemy import text
from test_realtime import open_panel_socket

from server.events import KINDS

LAST_SEQ = re.compile(r'id="live-root" data-last-seq="(\d+)" data-seq-from="(\w+)"')
FEED_LIMIT = 30  # what /panel/activity/feed.json returns (activity_report.recent)


class Scene:
    """One photographer, one released gallery, one client: what the cases act on."""

    def __init__(self, photographer: Client, visitor: Client, event_id: int, slug: str,
                 images: list[dict]) -> None:
        self.photographer, self.visitor = photographer, visitor
        self.event_id, self.slug, self.images = event_id, slug, images
        self.contact_id: int | None = None
        self.db = None  # the test's engine (the store cases read an order's id)
        self.prices: dict[str, int] = {}  # the gallery's price list (conftest.seed_price_list)


async def ok(response) -> None:
    assert response.status_code in (200, 303), (response.request.url, response.status_code,
                                                response.text[:300])


async def visit(s: Scene) -> None:
    await pass_gate(s.visitor, s.slug, email="verify@example.com", name="Vera Action")
    await ok(await s.visitor.get(f"/g/{s.slug}"))


async def favorite_added(s: Scene) -> None:
    await ok(await s.visitor.post_json(f"/g/{s.slug}/images/{s.images[0]['id']}/favorite",
                                       {"on": True}))


async def favorite_removed(s: Scene) -> None:
    await ok(await s.visitor.post_json(f"/g/{s.slug}/images/{s.images[0]['id']}/favorite",
                                       {"on": False}))


async def comment_added(s: Scene) -> None:
    await ok(await s.visitor.post_json(f"/g/{s.slug}/images/{s.images[1]['id']}/comments",
                                       {"body": "Could this one be a bit warmer?"}))


async def comment_replied(s: Scene) -> None:
    await ok(await s.photographer.post_json(
        f"/panel/comments/{s.contact_id}/{s.images[1]['id']}/reply", {"body": "Of course!"}))


async def download_single(s: Scene) -> None:
    await ok(await s.visitor.get(f"/g/{s.slug}/images/{s.images[2]['id']}/download"))


async def download_bulk(s: Scene) -> None:
    await ok(await s.visitor.get(f"/g/{s.slug}/download.zip?scope=all"))


async def cart_updated(s: Scene) -> None:
    await ok(await s.visitor.post_json(f"/g/{s.slug}/cart/items", {
        "item_id": s.prices["print"], "image_id": s.images[0]["id"],
        "choices": {"Paper": "Metallic"}, "quantity": 2}))


async def order_placed(s: Scene) -> None:
    res = await s.visitor.post_json(f"/g/{s.slug}/cart/details", {
        "name": "Vera Action", "email": "verify@example.com", "line1": "1 Main St",
        "city": "Springfield", "postal_code": "12345", "country": "US"})
    await ok(res)
    await ok(await s.visitor.post_json(f"/g/{s.slug}/checkout",
                                       {"version": res.json()["version"]}))


async def order_updated(s: Scene) -> None:
    order_id = await scalar(s.db, "SELECT id FROM orders WHERE event_id = :e", e=s.event_id)
    await ok(await s.photographer.post_form(f"/panel/store/orders/{order_id}/state",
                                            {"state": "paid"}))


async def _workflow_email(s: Scene, subject: str) -> None:
    """An active workflow for the scene's gallery (made once) gains a release-anchored
    email step to its clients (the scene's contact); re-releasing the gallery re-plans
    it, and the step is due at once (its release was minutes ago)."""
    pid, now = s.photographer.photographer_id, datetime.now(UTC).replace(tzinfo=None)
    workflow_id = await scalar(s.db, "SELECT workflow_id FROM events WHERE id = :e",
                               e=s.event_id)
    async with s.db.begin() as conn:
        if workflow_id is None:
            workflow_id = (await conn.execute(text(
                "INSERT INTO workflows (photographer_id, name, description, active, created_at,"
                " updated_at) VALUES (:p, 'Verify', '', :t, :now, :now) RETURNING id"),
                {"p": pid, "t": True, "now": now})).scalar_one()
            await conn.execute(text("UPDATE events SET workflow_id = :w WHERE id = :e"),
                               {"w": workflow_id, "e": s.event_id})
            await conn.execute(text(
                "INSERT INTO gallery_clients (event_id, contact_id, photographer_id, created_at)"
                " VALUES (:e, :c, :p, :now)"),
                {"e": s.event_id, "c": s.contact_id, "p": pid, "now": now})
        await conn.execute(text(
            "INSERT INTO workflow_steps (photographer_id, workflow_id, position, kind, name,"
            " anchor, offset_seconds, end_offset_seconds, audience, at_send_time, content,"
            " updated_at) VALUES (:p, :w, 0, 'email', :n, 'release', 0, 0, 'clients', :f,"
            " :c, :now)"),
            {"p": pid, "w": workflow_id, "n": subject, "f": False, "now": now,
             "c": json.dumps({"subject": subject, "body": "Hello {first_name}"})})
    await ok(await s.photographer.post_form(f"/panel/events/{s.event_id}/status",
                                            {"status": "released"}))


async def _logged(s: Scene, kind: str, timeout: float = 30) -> None:
    """Wait for the worker to log `kind` for the scene's gallery."""
    async with asyncio.timeout(timeout):
        while not await scalar(s.db, "SELECT count(*) FROM activity_events WHERE "
                               "event_id = :e AND kind = :k", e=s.event_id, k=kind):
            await asyncio.sleep(0.1)


async def workflow_email_sent(s: Scene) -> None:
    await _workflow_email(s, "Your gallery is live")
    await _logged(s, "workflow_email_sent")


async def workflow_skipped(s: Scene) -> None:
    async with s.db.begin() as conn:
        await conn.execute(text("UPDATE contacts SET unsubscribed_at = :now WHERE id = :c"),
                           {"now": datetime.now(UTC).replace(tzinfo=None), "c": s.contact_id})
    await _workflow_email(s, "A second note")
    await _logged(s, "workflow_skipped")


#: One action per kind, run in this order on one scene (a visit first: it makes the row).
CASES: dict[str, Callable[[Scene], Awaitable[None]]] = {
    "visit": visit,
    "favorite_added": favorite_added,
    "favorite_removed": favorite_removed,
    "comment_added": comment_added,
    "comment_replied": comment_replied,
    "download_single": download_single,
    "download_bulk": download_bulk,
    "cart_updated": cart_updated,
    "order_placed": order_placed,
    "order_updated": order_updated,
    "workflow_email_sent": workflow_email_sent,
    "workflow_skipped": workflow_skipped,
}


def test_every_event_kind_has_a_verify_action_case():
    missing = [kind for kind in KINDS if kind not in CASES]
    assert not missing, "; ".join(f"add a verify_action case for {k}" for k in missing)


async def page_seq(client: Client, url: str = "/panel") -> tuple[int, str]:
    res = await client.get(url)
    assert res.status_code == 200, (url, res.status_code)
    found = LAST_SEQ.search(res.text)
    assert found, f"{url} renders no live-root"
    return int(found.group(1)), found.group(2)


async def states(s: Scene) -> dict:
    p = s.photographer
    row = None
    if s.contact_id is not None:
        res = await p.get(f"/panel/activity/{s.event_id}/{s.contact_id}/row.json")
        assert res.status_code == 200, res.text
        row = res.json()
    summary = (await p.get("/panel/summary.json")).json()
    feed = (await p.get("/panel/activity/feed.json")).json()["feed"]
    return {"row": row, "summary": summary, "feed": feed}


def normalised(state: dict) -> dict:
    """Fields that legitimately differ between an applied and a loaded state: the row's
    database id (a row the visit event creates in the page has none), and how a time is
    spelled (compared as instants)."""
    state = json.loads(json.dumps(state))
    row = state["row"]
    if row is not None:
        row.pop("visit_id", None)
        for key in ("created", "last_saved"):
            row[key] = datetime.fromisoformat(row[key]).replace(tzinfo=None).isoformat()
    return state


async def take(ws, upto: int, timeout: float = 10) -> list[dict]:
    """Activity messages until the one with seq `upto` (other message types skipped)."""
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while not got or got[-1]["seq"] < upto:
            message = json.loads(await ws.recv())
            if message.get("type") == "activity":
                got.append(message)
    return got


APPLY = """async ({ old, events, limit }) => {
  const m = await import('/static/js/activity_apply.js');
  let { row, summary, feed } = old;
  for (const e of events) {
    row = m.applyToRow(row, e);
    summary = m.applyToSummary(summary, e);
    feed = m.applyToFeed(feed, e, limit);
  }
  return { row, summary, feed };
}"""


@pytest.mark.browser
async def test_verify_action_for_every_event_kind(photographer, new_client, server, browser,
                                                   db):
    event_id, slug, images = await released_gallery(photographer, 3)
    s = Scene(photographer, new_client(), event_id, slug, images)
    s.db, s.prices = db, await seed_price_list(db, photographer.photographer_id, event_id)

    # The pages' JavaScript, loaded the way the panel loads it; UTC as the server's "today".
    context = await browser.new_context(timezone_id="UTC")
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/panel")

    try:
        for kind in KINDS:
            case = CASES.get(kind)
            if case is None:
                pytest.fail(f"add a verify_action case for {kind}")
            old_seq, source = await page_seq(photographer)
            assert source == "content"
            old = await states(s)
            if old["feed"]:
                assert old["feed"][0]["seq"] == old_seq, "the feed and its page seq disagree"
            live_ws = await open_panel_socket(photographer, server.base_url, old_seq)
            await asyncio.sleep(0.2)  # subscribed: the action's events arrive live
            await case(s)
            new_seq, _ = await page_seq(photographer)
            assert new_seq > old_seq, f"{kind}: the action logged no event"
            live = await take(live_ws, new_seq)
            await live_ws.close()
            replay_ws = await open_panel_socket(photographer, server.base_url, old_seq)
            replayed = await take(replay_ws, new_seq)
            await replay_ws.close()
            assert replayed == live, f"{kind}: replayed and live envelopes differ"
            assert [e["seq"] for e in live] == list(range(old_seq + 1, new_seq + 1))
            assert kind in [e["kind"] for e in live], (kind, [e["kind"] for e in live])
            if s.contact_id is None:
                s.contact_id = next(e["contact_id"] for e in live if e["contact_id"])
                old["row"] = None  # the row does not exist before the client's first visit

            applied = await page.evaluate(APPLY, {"old": old, "events": live,
                                                  "limit": FEED_LIMIT})
            fresh = await states(s)
            if kind == "visit":  # the row a page makes from the visit event
                # CREATED: the event's `at`; the database's first_at is touch_visit's own
                # clock read, a few ms earlier (server/public.py). Same instant to a page.
                made, stored = (datetime.fromisoformat(r["row"]["created"]).replace(tzinfo=None)
                                for r in (applied, fresh))
                assert abs((made - stored).total_seconds()) < 1, (made, stored)
                applied["row"]["created"] = fresh["row"]["created"]
            assert normalised(applied) == normalised(fresh), f"verify_action: {kind}"
            if kind in ("favorite_added", "favorite_removed", "comment_added",
                        "download_single", "download_bulk", "cart_updated",
                        "order_placed"):  # the case moved something
                assert normalised(fresh)["row"] != normalised(old)["row"], kind
        assert not errors, errors
    finally:
        await context.close()


async def test_every_live_panel_page_renders_the_seq_of_its_own_snapshot(
        photographer, new_client, server, db):
    """Rule 8: each panel page with live content passes `last_seq` read with its content
    (data-seq-from="content"), and it is the newest seq when nothing else happens; pages
    with no live content (Settings → Account, the workflow builder) fall back to the
    session's photographer row."""
    event_id, slug, images = await released_gallery(photographer, 2)
    visitor = new_client()
    await visit(Scene(photographer, visitor, event_id, slug, images))
    await ok(await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/comments",
                                     {"body": "Hello"}))
    pid = photographer.photographer_id
    contact_id = await scalar(db, "SELECT id FROM contacts WHERE photographer_id=:p", p=pid)
    newest = await scalar(db, "SELECT last_event_seq FROM photographers WHERE id=:p", p=pid)
    assert newest >= 2
    live_pages = [
        "/panel", "/panel/activity", "/panel/contacts", f"/panel/contacts/{contact_id}",
        "/panel/comments", f"/panel/comments/{contact_id}/{images[0]['id']}", "/panel/mail",
        "/panel/settings/gallery-types", f"/panel/events/{event_id}",
        f"/panel/events/{event_id}/edit", "/panel/events/new",
        f"/panel/events/{event_id}/timeline",
        *(f"/panel/activity/{event_id}/{contact_id}?tab={tab}"
          for tab in ("favorites", "comments", "downloads", "cart")),
    ]
    for url in live_pages:
        assert await page_seq(photographer, url) == (newest, "content"), url
    assert await page_seq(photographer, "/panel/settings/account") == (newest, "session")
