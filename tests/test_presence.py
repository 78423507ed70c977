""""Viewing now": a known visitor's open gallery page is their live socket, and nothing else.

The page no longer posts a beat every 20 s (thousands of requests a minute on a school's
picture day); the socket beats when it opens and when its tab is shown again, and the hub
renews every visible socket of its process in one Redis round trip. These tests run a
server whose presence beat is one second (PROOFROOM_PRESENCE_BEAT=1, so a page is gone 2.5 s
after its last renewal) and check over HTTP what the photographer's dashboard lists.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from conftest import (
    BACKENDS,
    RELAXED_LIMITS,
    Client,
    gate_contact_id,
    open_gallery_socket,
    released_gallery,
    serve_backend,
    sign_up,
    viewing_now,
)
from playwright.async_api import expect

BEAT = 1.0  # seconds: PROOFROOM_PRESENCE_BEAT of the server below
TTL = BEAT * 2.5


@pytest.fixture(scope="module", params=BACKENDS)
def quick_server(request, tmp_path_factory):
    limits = {**RELAXED_LIMITS, "PROOFROOM_PRESENCE_BEAT": str(BEAT)}
    yield from serve_backend(request.param, tmp_path_factory.mktemp("presence"), limits=limits)


@pytest.fixture
async def studio(quick_server):
    """A photographer with one released gallery and one known visitor on it."""
    photographer = Client(quick_server.base_url)
    engine = quick_server.engine()
    await sign_up(photographer, engine)
    event_id, slug, images = await released_gallery(photographer, 1, title="School Day")
    visitor = Client(quick_server.base_url)
    contact_id = await gate_contact_id(visitor, slug, "parent@example.com", "Pat Parent")
    yield photographer, visitor, slug, event_id, contact_id
    await engine.dispose()
    for client in (photographer, visitor):
        await client.http.aclose()


async def listed(photographer: Client) -> set[tuple[int, int]]:
    viewers = (await photographer.get("/panel/activity/viewing.json")).json()["viewers"]
    return {(v["event_id"], v["contact_id"]) for v in viewers}


async def test_an_open_page_stays_viewing_long_after_its_first_beat(studio):
    photographer, visitor, slug, event_id, contact_id = studio
    page = await open_gallery_socket(visitor, slug)
    await viewing_now(photographer, lambda v: len(v) == 1)
    # Well past the time a single beat lasts: only the hub's renewal keeps it listed.
    for _ in range(4):
        await asyncio.sleep(TTL / 2)
        assert await listed(photographer) == {(event_id, contact_id)}
    await page.close()


async def test_a_closed_page_drops_out_of_viewing_now(studio):
    photographer, visitor, slug, _, _ = studio
    page = await open_gallery_socket(visitor, slug)
    await viewing_now(photographer, lambda v: len(v) == 1)
    await page.close()
    await viewing_now(photographer, lambda v: v == [], timeout=TTL + 2 * BEAT + 5)


async def test_a_hidden_tab_is_not_viewing_and_is_back_when_shown(studio):
    photographer, visitor, slug, event_id, contact_id = studio
    page = await open_gallery_socket(visitor, slug)
    await viewing_now(photographer, lambda v: len(v) == 1)
    await page.send(json.dumps({"visible": False}))
    await viewing_now(photographer, lambda v: v == [], timeout=TTL + 2 * BEAT + 5)
    await asyncio.sleep(5)  # shown again after a while: listed at once, not at the next round
    await page.send(json.dumps({"visible": True}))
    shown = time.monotonic()
    await viewing_now(photographer, lambda v: len(v) == 1, timeout=5)
    assert time.monotonic() - shown < BEAT * 3
    # Junk from the page changes nothing and does not end the socket.
    for junk in ("{", "[]", '{"visible": "yes"}', '{"visible": 1}', "null"):
        await page.send(junk)
    await asyncio.sleep(TTL + BEAT)
    assert await listed(photographer) == {(event_id, contact_id)}
    await page.close()


async def test_a_crowd_is_counted_and_only_the_latest_fifty_are_named(studio, quick_server):
    """A school's picture day: the dashboard names 50 viewers and counts the rest."""
    photographer, _, slug, event_id, _ = studio
    parents = [Client(quick_server.base_url) for _ in range(53)]
    await asyncio.gather(*(gate_contact_id(p, slug, f"crowd{n}@example.com", f"Parent {n}")
                           for n, p in enumerate(parents)))
    pages = await asyncio.gather(*(open_gallery_socket(p, slug) for p in parents))
    await viewing_now(photographer, lambda v: len(v) == 50)
    answer = (await photographer.get("/panel/activity/viewing.json")).json()
    assert answer["total"] == 53 and len(answer["viewers"]) == 50
    assert {v["event_id"] for v in answer["viewers"]} == {event_id}
    await asyncio.gather(*(page.close() for page in pages))
    await asyncio.gather(*(p.http.aclose() for p in parents))


@pytest.mark.browser
async def test_the_gallery_page_holds_one_socket_and_says_when_it_is_hidden(
        studio, browser):
    """The gallery page keeps one socket for as long as it is open (its stream may be
    silent for hours: no watchdog reconnects it), and reports its tab's visibility."""
    photographer, visitor, slug, event_id, contact_id = studio
    context = await browser.new_context()
    base = str(visitor.http.base_url).rstrip("/")
    await context.add_cookies([{"name": n, "value": v, "url": base}
                               for n, v in visitor.http.cookies.items()])
    page = await context.new_page()
    sockets, errors = [], []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    await page.goto(f"{base}/g/{slug}")
    await expect(page.locator("html")).to_have_attribute("data-live", "live")
    await viewing_now(photographer, lambda v: len(v) == 1)
    await asyncio.sleep(17)  # past live_socket.js's 15 s watchdog, on a silent stream
    assert len(sockets) == 1, sockets
    assert await listed(photographer) == {(event_id, contact_id)}

    await page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    await viewing_now(photographer, lambda v: v == [], timeout=TTL + 2 * BEAT + 5)
    await page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    await viewing_now(photographer, lambda v: len(v) == 1, timeout=5)
    assert len(sockets) == 1 and not errors, (sockets, errors)
    await context.close()
