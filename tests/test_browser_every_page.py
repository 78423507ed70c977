"""Every page, looked at as a photographer and a client would, at 1,440 px and 390 px, with
the demo's history behind it: none scrolls sideways, no button, link, heading or label has
its text cut off by its box (an ellipsis on purpose is fine), and no console error (but a
refusal page's own status). The screenshots are kept under tests/artifacts/pages/ (CI
keeps that folder: README, "Test it")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import rows, scalar
from test_demo_activity import demo_id, demo_login, seed_demo

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).parent / "artifacts" / "pages"
WIDTHS = ((1440, 900), (390, 844))

# Text whose box is narrower than its text, with nothing on purpose to show the cut.
CLIPPED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('h1, h2, h3, a, button, label, th, .btn, .badge')) {
    const cs = getComputedStyle(el);
    if (!el.getClientRects().length || cs.visibility === 'hidden') continue;
    if (el.closest('[hidden], .hidden, dialog:not([open]), .sr-only, .visually-hidden')) continue;
    const cut = (el.scrollWidth > el.clientWidth + 1 && cs.overflowX !== 'visible')
      || (el.scrollHeight > el.clientHeight + 2 && cs.overflowY === 'hidden'
          && cs.webkitLineClamp === 'none');
    if (cut && cs.textOverflow !== 'ellipsis' && el.textContent.trim()) {
      const text = el.textContent.trim().slice(0, 40);
      found.push(`${el.tagName.toLowerCase()}.${el.className}: "${text}"`);
    }
  }
  return found;
}"""


async def pages(db, photographer_id: int) -> dict[str, str]:
    """Name → path of every page a photographer opens, with the demo's own ids."""
    event_id, slug = (await rows(db, "SELECT id, slug FROM events WHERE photographer_id = :p "
                                     "AND status = 'released' ORDER BY id LIMIT 1",
                                 p=photographer_id))[0]
    contact_id = await scalar(db, "SELECT contact_id FROM visits WHERE event_id = :e "
                                  "ORDER BY favorites DESC LIMIT 1", e=event_id)
    image_id = await scalar(db, "SELECT image_id FROM comments WHERE event_id = :e LIMIT 1",
                            e=event_id)
    workflow_id, step_id = (await rows(
        db, "SELECT workflow_id, id FROM workflow_steps WHERE photographer_id = :p AND "
            "kind = 'banner' ORDER BY id LIMIT 1", p=photographer_id))[0]
    order_id = await scalar(db, "SELECT id FROM orders WHERE photographer_id = :p LIMIT 1",
                            p=photographer_id)
    list_id = await scalar(db, "SELECT id FROM price_lists WHERE photographer_id = :p "
                               "LIMIT 1", p=photographer_id)
    # The demo wedding comes in sets: its page, and its client gallery on its second set.
    set_event, set_slug, set_id = (await rows(
        db, "SELECT e.id, e.slug, s.id FROM image_sets s JOIN events e ON e.id = s.event_id "
            "WHERE e.photographer_id = :p ORDER BY s.position LIMIT 1 OFFSET 1",
        p=photographer_id))[0]
    event = f"/panel/events/{event_id}"
    flow = f"/panel/workflows/{workflow_id}"
    return {
        "dashboard": "/panel", "activity": "/panel/activity",
        "activity-detail": f"/panel/activity/{event_id}/{contact_id}",
        "contacts": "/panel/contacts", "contact": f"/panel/contacts/{contact_id}",
        "comments": "/panel/comments", "thread": f"/panel/comments/{contact_id}/{image_id}",
        "mail-log": "/panel/mail", "gallery-page": event, "gallery-settings": f"{event}/edit",
        "new-gallery": "/panel/events/new", "timeline": f"{event}/timeline",
        "account": "/panel/settings/account", "brand": "/panel/settings/brand",
        "gallery-types": "/panel/settings/gallery-types",
        "price-lists": "/panel/store/price-lists",
        "price-list": f"/panel/store/price-lists/{list_id}",
        "coupons": "/panel/store/coupons", "store-settings": "/panel/store/settings",
        "orders": "/panel/store/orders", "order": f"/panel/store/orders/{order_id}",
        "workflows": "/panel/workflows", "workflow": flow,
        "banner-step": f"{flow}/steps/{step_id}", "sending-rules": "/panel/workflows/sending-rules",
        "client-gallery": f"/g/{slug}", "gallery-page-sets": f"/panel/events/{set_event}",
        "client-gallery-set": f"/g/{set_slug}?set={set_id}",
    }


async def look(browser, server, cookies: dict, name: str, path: str, width: int,
               height: int) -> list[str]:
    context = await browser.new_context(viewport={"width": width, "height": height})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in cookies.items()])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}")
            if m.type == "error" else None)
    res = await page.goto(server.base_url + path)
    await page.wait_for_load_state("networkidle")
    problems = [f"HTTP {res.status}"] if res.status != 200 else []
    sideways = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
    if sideways > 0:
        problems.append(f"scrolls sideways by {sideways} px")
    problems += [f"cut: {c}" for c in await page.evaluate(CLIPPED)]
    problems += errors
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
    await context.close()
    return [f"{name} at {width}: {p}" for p in problems]


async def test_every_page_fits_at_desktop_and_phone_width(browser, server, db, new_client):
    if server.backend != "sqlite":
        pytest.skip("the pages look the same on PostgreSQL; one backend is enough here")
    await seed_demo(server)
    me = await demo_login(server, new_client)
    cookies = dict(me.http.cookies.items())
    found = await pages(db, await demo_id(db))
    problems: list[str] = []
    for name, path in found.items():
        for width, height in WIDTHS:
            # The client gallery as a visitor sees it: no photographer's cookies.
            jar = {} if name.startswith("client-gallery") else cookies
            problems += await look(browser, server, jar, name, path, width, height)
    assert problems == [], "\n".join(problems)
