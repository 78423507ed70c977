"""The panel fits its screen (issue #15), looked at in Chromium with a realistic history.

- Activity at 1,280 and 1,440 px: all nine columns in view, nothing scrolled out of the
  table's wrapper, every date on one line with its full date and time in a title; narrower
  (1,100 px) the table scrolls inside its wrapper, never the page, with the contact column
  held in place.
- Phones (390 px): every page fits the width; the Menu button opens the nav with every link
  on screen; detail tabs too wide for the screen scroll, shaded at the edge that hides some.
- Pagers say Newer/Older only under a date sort.
- No console errors. Screenshots at 1,440 and 390 px go to $PROOFROOM_SHOTS
  (default /tmp/b15/shots) to be looked at.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Client,
    gate_contact_id,
    pass_gate,
    released_gallery,
    sign_up,
    start_server,
)
from sqlalchemy import text

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("PROOFROOM_SHOTS", "/tmp/b15/shots"))
CONTACTS = 240  # a busy season: one report row per (contact, gallery)
TITLES = ["Anna & Benjamin Whitmore-Castellanos Wedding", "Oakridge Elementary Spring Portraits",
          "Lee Family"]
NAMES = ["Maximiliana Rodríguez-Featherstonehaugh", "Jo Li", "Christopher Montgomery",
         "Anna", "Siobhán O'Callaghan-Whitfield"]


async def _seed(server) -> dict:
    """A photographer, three released galleries and CONTACTS clients who passed the gate and
    favorited, over HTTP; then a third of the rows get a cart under review at four figures
    and some the counts of a 600-photo gallery (the report's widest realistic cells)."""
    engine = server.engine()
    photographer = Client(server.base_url)
    try:
        await sign_up(photographer, engine)
        galleries = [await released_gallery(photographer, 3, title=t) for t in TITLES]
        gate = asyncio.Semaphore(8)

        async def client(i: int) -> int:
            event_id, slug, images = galleries[i % len(galleries)]
            visitor = Client(server.base_url)
            async with gate:
                try:
                    name = f"{NAMES[i % len(NAMES)]} {i}"
                    email = f"{name.split()[0].lower()}.{i}@family-photo-clients.example.com"
                    if i >= 12:  # the ids are only needed for the first few
                        await pass_gate(visitor, slug, email=email, name=name)
                        contact_id = 0
                    else:
                        contact_id = await gate_contact_id(visitor, slug, email=email, name=name)
                    for image in images[: 1 + i % 3]:
                        await visitor.post_json(f"/g/{slug}/images/{image['id']}/favorite",
                                                {"on": True})
                    if i % 7 == 0:
                        await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/comments",
                                                {"body": "Could we have this in black and white?"})
                finally:
                    await visitor.aclose()
            return contact_id

        contact_ids = await asyncio.gather(*(client(i) for i in range(CONTACTS)))
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE visits SET cart_items = 12, cart_value = 123456, "
                                    "cart_stage = 'review' WHERE id % 3 = 0"))
            await conn.execute(text("UPDATE visits SET cart_stage = 'ordered' WHERE id % 3 = 1"))
            await conn.execute(text("UPDATE visits SET favorites = 184, comments = 37, "
                                    "single_downloads = 112, bulk_downloads = 14 "
                                    "WHERE id % 5 = 0"))
        return {"cookies": dict(photographer.http.cookies.items()),
                "event_id": galleries[0][0], "contact_id": contact_ids[0]}
    finally:
        await photographer.aclose()
        await engine.dispose()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    server = start_server("sqlite", tmp_path_factory.mktemp("panel-fit"))
    try:
        yield server, asyncio.run(_seed(server))
    finally:
        server.stop()


@pytest.fixture
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


class Panel:
    """A logged-in page at one width that remembers every console error."""

    def __init__(self, page, base: str, width: int) -> None:
        self.page, self.base, self.width = page, base, width
        self.errors: list[str] = []
        page.on("console",
                lambda m: m.type == "error" and self.errors.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))

    async def open(self, path: str, shot: str | None = None) -> None:
        res = await self.page.goto(self.base + path)
        assert res.status == 200, (path, res.status)
        await self.page.wait_for_load_state("networkidle")
        if shot:
            SHOTS.mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(SHOTS / f"fit_{shot}_{self.width}.png"))

    async def page_overflow(self) -> int:
        """How far the page is wider than the window (0: it fits)."""
        return await self.page.evaluate(
            "document.documentElement.scrollWidth - window.innerWidth")


async def panel(browser, seeded, width: int, height: int = 900) -> Panel:
    server, data = seeded
    context = await browser.new_context(viewport={"width": width, "height": height})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in data["cookies"].items()])
    return Panel(await context.new_page(), server.base_url, width)


TABLE = """() => {
  const wrap = document.querySelector('.table-wrap');
  const table = document.getElementById('activity-table');
  const box = wrap.getBoundingClientRect();
  const out = (el) => el.getBoundingClientRect().right > box.right + 0.5;
  const dates = [...table.querySelectorAll('td[data-col="created"], td[data-col="last_saved"]')];
  return {
    rows: table.tBodies[0].rows.length, scroll: wrap.scrollWidth, client: wrap.clientWidth,
    headsOut: [...table.tHead.rows[0].cells].filter(out).map((th) => th.textContent.trim()),
    dateLines: Math.max(...dates.map((td) => td.firstElementChild.getClientRects().length)),
    untitled: dates.filter((td) => !/\\d{4} \\d\\d:\\d\\d/.test(td.firstElementChild.title)).length,
    cut: [...table.querySelectorAll('.cart-cell a')].filter(out).length,
  };
}"""


@pytest.mark.parametrize("width", [1280, 1440])
async def test_the_activity_table_fits_at_desktop_widths(chromium, seeded, width):
    view = await panel(chromium, seeded, width)
    await view.open("/panel/activity", shot="activity")
    fit = await view.page.evaluate(TABLE)
    assert fit["rows"] == 50  # a full page of the seeded history
    assert fit["scroll"] <= fit["client"], fit  # nothing hidden behind a sideways scroll
    assert fit["headsOut"] == [] and fit["cut"] == 0, fit  # LAST SAVED, SAVED CART in view
    assert fit["dateLines"] == 1, fit  # "Dec 1, 14:05" on one line
    assert fit["untitled"] == 0, fit  # the full date and time in each date's title
    assert await view.page_overflow() <= 0
    assert not view.errors, view.errors


async def test_narrower_the_table_scrolls_in_its_wrapper_with_the_contact_held(chromium, seeded):
    view = await panel(chromium, seeded, 1100)
    await view.open("/panel/activity")
    fit = await view.page.evaluate(TABLE)
    assert fit["scroll"] > fit["client"]  # too wide here: it scrolls …
    assert await view.page_overflow() <= 0  # … inside its wrapper, never the page
    held = await view.page.evaluate("""() => {
      const wrap = document.querySelector('.table-wrap');
      wrap.scrollLeft = wrap.scrollWidth;
      const first = document.querySelector('#activity-table tbody td:first-child');
      return first.getBoundingClientRect().left - wrap.getBoundingClientRect().left;
    }""")
    assert abs(held) < 1, held  # the contact column stays at the wrapper's left edge
    assert not view.errors, view.errors


async def phone_pages(seeded) -> dict[str, str]:
    _, data = seeded
    detail = f"/panel/activity/{data['event_id']}/{data['contact_id']}"
    return {
        "dashboard": "/panel", "activity": "/panel/activity",
        "event-detail": f"/panel/events/{data['event_id']}",
        "activity-detail": f"{detail}?tab=downloads", "contacts": "/panel/contacts",
        "workflows": "/panel/workflows", "mail-log": "/panel/mail",
        "settings": "/panel/settings/account", "comments": "/panel/comments",
    }


async def test_on_a_phone_every_page_fits_and_every_nav_link_is_reachable(chromium, seeded):
    view = await panel(chromium, seeded, 390, height=844)
    page = view.page
    for name, path in (await phone_pages(seeded)).items():
        await view.open(path, shot=name)
        assert await view.page_overflow() <= 0, name

        menu = page.get_by_role("button", name="Menu")
        await menu.click()
        assert await menu.get_attribute("aria-expanded") == "true"
        links = page.locator("#panel-nav a")
        assert await links.count() == 7
        for i in range(7):
            link = links.nth(i)
            box = await link.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
            assert box["y"] >= 0 and box["y"] + box["height"] <= 844, (name, box)
            # On top: nothing covers it, a tap lands on it.
            on_top = await link.evaluate("""(a) => { const r = a.getBoundingClientRect();
              const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
              return a.contains(hit); }""")
            assert on_top, (name, await link.text_content())
        if name == "dashboard":
            SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "fit_menu-open_390.png"))
        await page.keyboard.press("Escape")
        assert await menu.get_attribute("aria-expanded") == "false"
        assert not await links.first.is_visible()

    # The menu's links go where they say: Mail log and Settings, out of reach before.
    for label, url in (("Mail log", "/panel/mail"), ("Settings", "/panel/settings/account")):
        await page.get_by_role("button", name="Menu").click()
        await page.get_by_role("link", name=label, exact=True).click()
        await page.wait_for_url(re.compile(re.escape(url) + "$"))
    assert not view.errors, view.errors


async def test_on_a_phone_tabs_scroll_with_a_hint_and_show_the_open_tab(chromium, seeded):
    view = await panel(chromium, seeded, 390, height=844)
    pages = await phone_pages(seeded)
    await view.open(pages["activity-detail"])
    tabs = await view.page.evaluate("""() => { const t = document.querySelector('.tabs');
      const active = t.querySelector('a.active').getBoundingClientRect();
      const box = t.getBoundingClientRect(), style = getComputedStyle(t);
      return { scroll: t.scrollWidth, client: t.clientWidth, overflowX: style.overflowX,
               shades: (style.backgroundImage.match(/linear-gradient/g) || []).length,
               activeIn: active.left >= box.left - 0.5 && active.right <= box.right + 0.5 }; }""")
    assert tabs["scroll"] > tabs["client"] and tabs["overflowX"] == "auto", tabs
    assert tabs["shades"] == 4, tabs  # the covers and the shades of both edges
    assert tabs["activeIn"], tabs  # "Downloads" open: scrolled into view, not cut
    assert await view.page_overflow() <= 0
    assert not view.errors, view.errors


async def test_the_pager_follows_the_sort(chromium, seeded):
    view = await panel(chromium, seeded, 1440)
    words = {}
    for sort, direction in (("last", "desc"), ("last", "asc"), ("name", "asc"),
                            ("favorites", "desc")):
        await view.open(f"/panel/activity?sort={sort}&dir={direction}&page=2")
        words[sort, direction] = [t.strip() for t in
                                  await view.page.locator(".pager a").all_text_contents()]
    assert words["last", "desc"] == ["← Newer", "Older →"]
    assert words["last", "asc"] == ["← Older", "Newer →"]
    assert words["name", "asc"] == words["favorites", "desc"] == ["← Previous", "Next →"]
    assert not view.errors, view.errors


async def test_at_1440_every_page_fits(chromium, seeded):
    view = await panel(chromium, seeded, 1440)
    for name, path in (await phone_pages(seeded)).items():
        await view.open(path, shot=name)
        assert await view.page_overflow() <= 0, name
        # The whole nav in one row, no Menu button.
        assert not await view.page.get_by_role("button", name="Menu").is_visible(), name
        assert await view.page.locator("#panel-nav a").last.is_visible(), name
    assert not view.errors, view.errors


async def test_on_a_phone_send_files_gives_the_link_to_copy(chromium, seeded):
    """No SMTP_URL on this server: after SEND FILES the page says the email is queued and
    offers the link, whose Copy button copies it."""
    view = await panel(chromium, seeded, 390, height=844)
    await view.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await view.open((await phone_pages(seeded))["activity-detail"].replace("downloads",
                                                                             "favorites"))
    view.page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await view.page.get_by_role("button", name="Send files to download").click()
    await view.page.wait_for_url(re.compile(r"sent=1"))
    notice = view.page.locator("#sent-files")
    await notice.wait_for()
    assert "Queued — no mail server is configured." in await notice.text_content()
    link = await notice.get_by_role("textbox").input_value()
    assert re.search(r"/d/[\w\-.]+$", link), link
    copy = notice.get_by_role("button", name="Copy link")
    await copy.click()
    await view.page.wait_for_function("document.querySelector('#sent-files button')"
                                      ".textContent === 'Copied'")
    assert await view.page.evaluate("navigator.clipboard.readText()") == link
    await view.page.screenshot(path=str(SHOTS / "fit_send-files-queued_390.png"))
    assert await view.page_overflow() <= 0
    assert not view.errors, view.errors
