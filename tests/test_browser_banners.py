"""The client gallery's banners and announcements in Chromium (web/static/js/banners.js).

Front-end tests: banners.json is served by Playwright (`page.route`) with fixed answers, and
the gallery socket's `banners` message is stood in for by the DOM event gallery_live.js turns
it into (`proofroom:banners`). They check what the visitor sees: a top strip whose countdown
ticks from the server's clock, a card in the grid after the N-th photo, a dismissal that
survives a reload, an announcement shown once, a bottom strip fixed to a phone's screen —
with no console error and no sideways scrolling at 390 px."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import pass_gate, released_gallery, rows, seed_price_list, seed_workflow
from playwright.async_api import expect
from sqlalchemy import text

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
# The server's clock, far from the browser's: countdowns must follow it, not Date.now().
SERVER_NOW = datetime(2031, 3, 14, 9, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def banner(id_: int, **fields) -> dict:
    return {"id": id_, "kind": "banner", "position": "top", "after_n": 12, "style": "notice",
            "headline": f"Banner {id_}", "text": "Prints ship in time for the holidays.",
            "button": None, "countdown_to": None, "dismissible": False, **fields}


class FakeBanners:
    """What banners.json answers (editable between refreshes), and the problems the page
    logged (page errors, console errors)."""

    def __init__(self) -> None:
        self.banners: list[dict] = []
        self.problems: list[str] = []

    async def attach(self, page) -> None:
        async def answer(route) -> None:
            await route.fulfill(status=200, content_type="application/json", body=json.dumps(
                {"now": iso(SERVER_NOW), "banners": self.banners}))

        await page.route("**/banners.json", answer)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: self.problems.append(f"console: {msg.text}")
                if msg.type == "error" else None)


async def open_gallery(browser, server, slug: str, width: int, height: int = 900):
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    fake = FakeBanners()
    await fake.attach(page)
    await page.goto(f"{server.base_url}/g/{slug}")
    await page.wait_for_load_state("networkidle")
    return context, page, fake


async def card_place(page) -> dict:
    """Where the grid's between card is: its index among the grid's children, the grid's
    columns, how many cards and strips there are, and whether the card spans the row."""
    return await page.evaluate("""() => {
        const grid = document.getElementById('grid');
        const tiles = [...grid.querySelectorAll('.tile')];
        const card = grid.querySelector('.gb-card');
        const width = (node) => node.getBoundingClientRect().width;
        return { index: [...grid.children].indexOf(card),
                 cols: tiles.filter((t) => t.offsetTop === tiles[0].offsetTop).length,
                 cards: grid.querySelectorAll('.gb-card').length,
                 strips: document.querySelectorAll('.gb-strip').length,
                 full: Math.abs(width(card) - width(grid)) < 2 };
    }""")


async def socket_says_banners_changed(page) -> None:
    """What gallery_live.js does on a {"type": "banners"} message."""
    async with page.expect_response("**/banners.json"):
        await page.evaluate("""() => document.dispatchEvent(new CustomEvent('proofroom:banners',
            { detail: { type: 'banners', event_id: 1 } }))""")


async def test_front_end_top_strip_counts_down_from_the_server_clock_and_a_card_sits_after_n(
        browser, photographer, server):
    _, slug, _ = await released_gallery(photographer, 8)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    ends = SERVER_NOW + timedelta(days=2, hours=4, minutes=13, seconds=9)
    fake.banners = [
        banner(901, style="urgent", headline="Last days to order",
               text="Your gallery closes soon: order prints before it goes.",
               button={"label": "Open the shop", "url": f"/g/{slug}?view=shop"},
               countdown_to=iso(ends), dismissible=True),
        banner(902, position="between", after_n=3, style="celebrate",
               headline="Love these? Hang them on your wall",
               text="Use HOLIDAY15 for 15% off every print.",
               button={"label": "See prints", "url": f"/g/{slug}?view=shop"})]
    await socket_says_banners_changed(page)

    strip = page.locator("#banner-top .gb-strip")
    await expect(strip).to_have_count(1)
    await expect(strip.locator(".gb-headline")).to_have_text("Last days to order")
    await expect(strip.locator(".gb-cta")).to_have_attribute("href", re.compile(r"\?view=shop$"))
    # The browser's clock is years away from SERVER_NOW; the countdown is not.
    clock = strip.locator(".gb-countdown")
    await expect(clock).to_have_text(re.compile(r"^2d 04:1[23]:\d\d left$"))
    first = await clock.text_content()
    await expect(clock).not_to_have_text(first, timeout=3000)  # it ticks

    # The card follows the 3rd photo, at the end of its row (no row cut short), full width.
    card = await card_place(page)
    assert card["cards"] == 1 and card["full"]
    assert card["index"] == max(3, card["cols"]) and card["cols"] > 3
    await page.screenshot(path=str(ARTIFACTS / f"banners-desktop-{server.backend}.png"),
                          full_page=True)

    # Re-rendering is idempotent; an edit moves the card; scroll and the lightbox survive.
    await page.evaluate("window.scrollTo(0, document.getElementById('grid').offsetTop + 400)")
    # Chromium's own scroll anchoring would hide a page that does not keep its place.
    await page.evaluate("document.documentElement.style.overflowAnchor = 'none'")
    before = await page.evaluate("window.scrollY")
    fake.banners[1]["after_n"] = 6
    await socket_says_banners_changed(page)
    await socket_says_banners_changed(page)
    card = await card_place(page)
    assert card["cards"] == 1 and card["strips"] == 1
    assert card["index"] == min(-(-6 // card["cols"]) * card["cols"], 8)
    assert abs(await page.evaluate("window.scrollY") - before) < 5
    await page.locator(".tile-open").nth(6).click()
    await expect(page.locator("#lightbox")).to_be_visible()
    await expect(page.locator("#lb-name")).to_have_text("IMG_1006.jpg")
    await page.keyboard.press("Escape")
    await expect(page.locator("#lightbox")).to_be_hidden()

    # The banner ends: gone without a reload.
    fake.banners = []
    await socket_says_banners_changed(page)
    await expect(page.locator(".gb")).to_have_count(0)
    assert fake.problems == []
    await context.close()


async def test_front_end_a_dismissed_banner_stays_hidden_after_reload(browser, photographer,
                                                                     server):
    _, slug, _ = await released_gallery(photographer, 3)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    fake.banners = [banner(911, headline="Dismiss me", dismissible=True),
                    banner(912, headline="Always here")]
    await socket_says_banners_changed(page)
    await expect(page.locator(".gb-strip")).to_have_count(2)
    await expect(page.locator("[data-banner-id='912'] .gb-x")).to_have_count(0)  # not dismissible
    await page.click("[data-banner-id='911'] .gb-x")
    await expect(page.locator("[data-banner-id='911']")).to_have_count(0)
    await expect(page.locator("[data-banner-id='912']")).to_be_visible()

    await page.reload()
    await page.wait_for_load_state("networkidle")
    await socket_says_banners_changed(page)
    await expect(page.locator("[data-banner-id='912']")).to_be_visible()
    await expect(page.locator("[data-banner-id='911']")).to_have_count(0)
    keys = await page.evaluate("Object.keys(localStorage)")
    assert f"proofroom:banner-dismissed:{slug}:911" in keys
    assert fake.problems == []
    await context.close()


async def test_front_end_an_announcement_shows_once_and_never_again(browser, photographer,
                                                                  server):
    _, slug, _ = await released_gallery(photographer, 3)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    fake.banners = [banner(921, kind="announcement", headline="Order by Friday",
                           text="Order by Friday for delivery before Christmas.",
                           button={"label": "Shop prints", "url": f"/g/{slug}?view=shop"},
                           countdown_to=iso(SERVER_NOW + timedelta(hours=5)))]
    await socket_says_banners_changed(page)
    dialog = page.locator("#announcement")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#announcement-title")).to_have_text("Order by Friday")
    await expect(page.locator("#announcement-cta")).to_have_text("Shop prints")
    await expect(page.locator("#announcement-countdown")).to_have_text(
        re.compile(r"^0[45]:\d\d:\d\d left$"))
    await expect(page.locator(".gb-strip")).to_have_count(0)  # not a strip as well
    await page.wait_for_timeout(400)  # the dialog's fade-in
    await page.screenshot(path=str(ARTIFACTS / f"banners-announcement-{server.backend}.png"))
    await page.click("#announcement-ok")
    await expect(dialog).to_be_hidden()

    await socket_says_banners_changed(page)  # the same answer again: not shown again
    await expect(dialog).to_be_hidden()
    await page.reload()
    await page.wait_for_load_state("networkidle")
    await socket_says_banners_changed(page)
    await expect(dialog).to_be_hidden()
    # A new announcement is a new one: it shows.
    fake.banners.append(banner(922, kind="announcement", headline="New: canvas prints"))
    await socket_says_banners_changed(page)
    await expect(page.locator("#announcement-title")).to_have_text("New: canvas prints")
    # Shown is enough: a reload with it still open does not show it again.
    await page.reload()
    await page.wait_for_load_state("networkidle")
    await socket_says_banners_changed(page)
    await expect(dialog).to_be_hidden()
    assert fake.problems == []
    await context.close()


async def test_front_end_phone_bottom_strip_is_fixed_and_nothing_overflows(browser, photographer,
                                                                         server):
    _, slug, _ = await released_gallery(photographer, 6)
    context, page, fake = await open_gallery(browser, server, slug, 390, 844)
    fake.banners = [
        banner(931, style="notice", headline="Your gallery is ready",
               text="Tap the heart on the photos you love.", dismissible=True),
        banner(932, position="between", after_n=2, style="celebrate",
               headline="A wall of memories", text="Canvas, framed prints and albums.",
               button={"label": "Shop", "url": f"/g/{slug}?view=shop"}),
        banner(933, position="bottom", style="urgent", headline="Closes in 2 days",
               text="Save your favorites before the gallery expires.",
               button={"label": "Shop now", "url": f"/g/{slug}?view=shop"},
               countdown_to=iso(SERVER_NOW + timedelta(days=2, hours=1)), dismissible=True)]
    await socket_says_banners_changed(page)
    strip = page.locator("#banner-bottom .gb-strip")
    await expect(strip).to_be_visible()
    box = await page.evaluate("""() => {
        const slot = document.getElementById('banner-bottom');
        const r = slot.getBoundingClientRect();
        return { position: getComputedStyle(slot).position, bottom: Math.round(r.bottom),
                 height: r.height, width: Math.round(r.width),
                 scroll: document.documentElement.scrollWidth };
    }""")
    assert box["position"] == "fixed"
    assert box["bottom"] == 844 and box["width"] == 390
    assert box["height"] < 120  # slim
    assert box["scroll"] <= 390
    await page.screenshot(path=str(ARTIFACTS / f"banners-phone-{server.backend}.png"))
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await page.screenshot(path=str(ARTIFACTS / f"banners-phone-end-{server.backend}.png"))
    # The footer is not hidden under the fixed strip.
    footer_bottom = await page.evaluate(
        "document.querySelector('.gallery-footer').getBoundingClientRect().bottom")
    assert footer_bottom <= 844 - box["height"] + 1

    await page.click("[data-banner-id='933'] .gb-x")
    await expect(strip).to_have_count(0)
    assert not await page.evaluate("document.body.classList.contains('has-bottom-banner')")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    assert fake.problems == []
    await context.close()


async def test_front_end_a_cart_change_asks_for_the_banners_again(browser, photographer, server):
    _, slug, _ = await released_gallery(photographer, 3)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    fake.banners = [banner(941, headline="You have items in your cart")]
    async with page.expect_response("**/banners.json"):
        await page.evaluate("document.dispatchEvent(new CustomEvent('proofroom:cart-changed'))")
    await expect(page.locator("[data-banner-id='941']")).to_be_visible()
    assert fake.problems == []
    await context.close()


async def follow(db, event_id: int, workflow_id: int) -> None:
    """The gallery follows this workflow (its own pick), written behind the server's back."""
    async with db.begin() as conn:
        await conn.execute(text("UPDATE events SET workflow_id = :w WHERE id = :e"),
                           {"w": workflow_id, "e": event_id})


async def test_the_server_renders_its_banner_and_announcement_into_the_page(
        browser, photographer, server, db):
    """End to end, no fake: a top banner and an announcement from release, for every
    visitor; the gallery page shows both from its own data, the announcement once."""
    event_id, slug, _ = await released_gallery(photographer, 3)
    workflow_id, _ = await seed_workflow(db, photographer.photographer_id, steps=[
        {"kind": "banner", "name": "Welcome", "audience": "visitors", "content": {
            "position": "top", "style": "celebrate", "headline": "Welcome to your gallery",
            "text": "Heart the photos you love.", "dismissible": True}},
        {"kind": "announcement", "name": "Deadline", "audience": "visitors", "content": {
            "style": "notice", "headline": "Order by Friday",
            "text": "Order by Friday for delivery before Christmas."}}])
    await follow(db, event_id, workflow_id)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    await expect(page.locator("#announcement-title")).to_have_text("Order by Friday")
    await page.click("#announcement-close")
    await expect(page.locator("#banner-top .gb-headline")).to_have_text("Welcome to your gallery")
    await page.reload()
    await expect(page.locator("#banner-top .gb-headline")).to_have_text("Welcome to your gallery")
    await expect(page.locator("#announcement")).to_be_hidden()
    assert problems == []
    await context.close()


async def test_a_scheduled_banner_comes_and_goes_in_an_open_gallery_without_reload(
        browser, photographer, server, db):
    """End to end: the banner's start and end are scheduled; the worker's push reaches the
    open page over its socket and the page re-fetches — no reload, on a phone too."""
    event_id, slug, _ = await released_gallery(photographer, 3)
    now = datetime.now(UTC)
    workflow_id, _ = await seed_workflow(db, photographer.photographer_id, steps=[
        {"kind": "banner", "name": "Flash sale", "audience": "visitors", "anchor": "date",
         "at": now + timedelta(seconds=6), "end_anchor": "date",
         "end_at": now + timedelta(seconds=14), "content": {
             "position": "bottom", "style": "urgent", "headline": "Flash sale",
             "text": "20% off prints for the next hour.", "countdown": True}}])
    await follow(db, event_id, workflow_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})  # plans the edges
    assert res.status_code == 303
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    await page.locator(".fav-btn").first.click()  # the gate: the live line opens after it
    await page.fill("#gate-name", "Bea Client")
    await page.fill("#gate-email", "bea.banners@example.com")
    await page.click("#gate-form button[type=submit]")
    await expect(page.locator("html")).to_have_attribute("data-live", "live")
    strip = page.locator("#banner-bottom .gb-strip")
    await expect(strip).to_have_count(0)
    await expect(strip.locator(".gb-headline")).to_have_text("Flash sale", timeout=20000)
    await expect(strip.locator(".gb-countdown")).to_have_text(re.compile(r"^00:00:\d\d left$"))
    await expect(strip).to_have_count(0, timeout=20000)
    assert problems == []
    await context.close()


async def test_a_cart_banner_appears_when_the_client_adds_to_her_cart(browser, photographer,
                                                                      server, db):
    """End to end: an "open cart" banner; the page's own cart change (store.js) makes the
    page ask again, and the banner shows without a reload."""
    event_id, slug, images = await released_gallery(photographer, 2)
    prices = await seed_price_list(db, photographer.photographer_id, event_id)
    workflow_id, _ = await seed_workflow(db, photographer.photographer_id, steps=[
        {"kind": "banner", "name": "Cart", "anchor": "cart_change", "audience": "open_cart",
         "content": {"position": "top", "style": "notice", "headline": "Your cart is waiting",
                     "text": "Check out before the gallery closes."}}])
    await follow(db, event_id, workflow_id)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    await expect(page.locator("#cart-open")).to_be_visible()
    await page.locator(".tile").first.hover()
    await page.locator(".tile .buy-btn").first.click()
    await page.fill("#gate-name", "Cara Client")
    await page.fill("#gate-email", "cara.banners@example.com")
    await page.click("#gate-form button[type=submit]")
    await page.locator(f".product[data-item-id='{prices['print']}']").click()
    await expect(page.locator("#banner-top .gb")).to_have_count(0)
    await page.click("#picker-add")
    await expect(page.locator("#cart-count")).to_have_text("1")
    await expect(page.locator("#banner-top .gb-headline")).to_have_text("Your cart is waiting")
    assert problems == []
    await context.close()


async def test_a_known_visitors_views_clicks_and_dismissals_are_counted(
        browser, photographer, new_client, server, db):
    """What the workflow page counts comes from the page: the banner shown (view), its
    button (click), its × (dismiss), each kept once for the visitor's contact."""
    event_id, slug, _ = await released_gallery(photographer, 3)
    workflow_id, (step_id,) = await seed_workflow(db, photographer.photographer_id, steps=[
        {"kind": "banner", "name": "Prints", "audience": "visitors", "content": {
            "position": "top", "style": "notice", "headline": "Prints are 20% off",
            "text": "", "dismissible": True,
            "buttons": [{"action": "favorites", "label": "See my favorites", "url": ""}]}}])
    await follow(db, event_id, workflow_id)
    visitor = new_client()
    await pass_gate(visitor, slug, email="fay@example.com", name="Fay")
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in visitor.http.cookies.items()])
    page = await context.new_page()
    await page.goto(f"{server.base_url}/g/{slug}")
    await expect(page.locator("#banner-top .gb-headline")).to_have_text("Prints are 20% off")
    await page.click("#banner-top .gb-cta")
    await page.wait_for_load_state()
    await page.click("#banner-top [data-dismiss]")
    await expect(page.locator("#banner-top .gb-headline")).to_have_count(0)

    async def kinds() -> set[str]:
        return {k for (k,) in await rows(db, "SELECT kind FROM banner_events WHERE "
                                             "step_id = :s", s=step_id)}
    async with asyncio.timeout(10):
        while await kinds() != {"view", "click", "dismiss"}:
            await asyncio.sleep(0.1)
    await context.close()


# ---- layouts, colours, repeats, in-page buttons, the editor's preview ----

SHOTS = Path("/tmp/b14/shots")


async def photos_loaded(page) -> None:
    """Every band's photo decoded (the page's CSP has no eval: no wait_for_function)."""
    await page.evaluate("""() => Promise.all([...document.querySelectorAll('.gb-media img')]
        .map((img) => img.decode()))""")


async def band_geometry(page, selector: str) -> dict:
    """Where a full-width band's photo and text are, and whether the page scrolls sideways."""
    return await page.evaluate("""(selector) => {
        const band = document.querySelector(selector);
        const rect = (node) => { const r = node.getBoundingClientRect();
            return { left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                     width: r.width, height: r.height }; };
        const img = band.querySelector('.gb-media img');
        return { band: rect(band), media: rect(band.querySelector('.gb-media')),
                 main: rect(band.querySelector('.gb-main')),
                 fit: getComputedStyle(img).objectFit, loaded: img.complete && img.naturalWidth > 0,
                 imgHeight: img.getBoundingClientRect().height,
                 scroll: document.documentElement.scrollWidth,
                 viewport: window.innerWidth };
    }""", selector)


async def test_front_end_a_full_band_puts_its_photo_beside_the_text_or_above_on_a_phone(
        browser, photographer, server):
    _, slug, images = await released_gallery(photographer, 8)
    band = banner(951, layout="full", style="celebrate", headline="Hang them on your wall",
                  text="Canvas and framed prints of your favourite moments, ready in a week.",
                  image={"src": f"/g/{slug}/media/preview/{images[2]['id']}",
                         "alt": "The first dance"},
                  button={"label": "Shop prints", "url": f"/g/{slug}?view=shop"},
                  countdown_to=iso(SERVER_NOW + timedelta(days=3)), dismissible=True)
    between = banner(952, position="between", after_n=3, layout="full", style="notice",
                     headline="Between the photos", text="A band in the grid.",
                     image={"src": f"/g/{slug}/media/preview/{images[0]['id']}", "alt": ""})
    for width, height in ((1440, 900), (390, 844)):
        context, page, fake = await open_gallery(browser, server, slug, width, height)
        fake.banners = [band, between]
        await socket_says_banners_changed(page)
        await expect(page.locator("#banner-top .gb-full .gb-media img")).to_have_attribute(
            "alt", "The first dance")
        await photos_loaded(page)
        geo = await band_geometry(page, "#banner-top .gb-full")
        assert geo["loaded"] and geo["fit"] == "cover"
        assert geo["scroll"] <= geo["viewport"]  # nothing sideways
        if width == 1440:
            # Side by side: the photo fills its half, top to bottom; the text the other.
            assert abs(geo["media"]["width"] - geo["band"]["width"] / 2) < 4
            assert geo["media"]["right"] <= geo["main"]["left"] + 1
            assert abs(geo["media"]["height"] - geo["band"]["height"]) < 3
            assert abs(geo["imgHeight"] - geo["media"]["height"]) < 1
            assert geo["band"]["height"] >= 330  # its height is reserved, not the image's
        else:
            # Stacked: the photo above the text, both as wide as the band.
            assert geo["media"]["bottom"] <= geo["main"]["top"] + 1
            assert abs(geo["media"]["width"] - geo["band"]["width"]) <= 2  # its border
            assert abs(geo["main"]["width"] - geo["band"]["width"]) <= 2
            assert geo["media"]["height"] > 150
        # The grid's band is a whole row, after the end of the 3rd photo's row.
        row = await page.evaluate("""() => {
            const grid = document.getElementById('grid');
            const band = grid.querySelector('.gb-full');
            return { inGrid: band.classList.contains('gb-in-grid'),
                     after: band.previousElementSibling.dataset.index,
                     full: Math.abs(band.getBoundingClientRect().width
                                    - grid.getBoundingClientRect().width) < 2 };
        }""")
        assert row["inGrid"] and row["full"]
        await page.locator("#banner-top .gb-full").scroll_into_view_if_needed()
        await page.locator("#banner-top .gb-full").screenshot(
            path=str(SHOTS / f"banner-full-{width}-{server.backend}.png"))
        await page.screenshot(path=str(ARTIFACTS / f"banners-full-{width}-{server.backend}.png"),
                              full_page=width == 390)
        assert fake.problems == []
        await context.close()


async def test_front_end_a_full_band_reserves_its_height_before_the_photo_loads(
        browser, photographer, server):
    """The photo arrives late: the band is already as tall as it will be (no layout shift)."""
    _, slug, images = await released_gallery(photographer, 3)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    release = asyncio.Event()

    async def slow(route) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/media/preview/**", slow)
    fake.banners = [banner(955, layout="full", image={
        "src": f"/g/{slug}/media/preview/{images[1]['id']}", "alt": "late"})]
    await socket_says_banners_changed(page)
    before = await band_geometry(page, "#banner-top .gb-full")
    assert not before["loaded"]
    release.set()
    await photos_loaded(page)
    after = await band_geometry(page, "#banner-top .gb-full")
    assert after["band"]["height"] == before["band"]["height"]
    assert after["main"]["top"] == before["main"]["top"]
    await context.close()


def rgb(hex_: str) -> str:
    r, g, b = (int(hex_[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def test_front_end_custom_colours_paint_the_banner_and_the_announcement(
        browser, photographer, server):
    _, slug, _ = await released_gallery(photographer, 3)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    colors = {"bg": "#102a43", "ink": "#f0f4f8", "accent": "#ffd166", "accent_ink": "#1b1b1b"}
    fake.banners = [
        banner(961, style="custom", colors=colors, headline="Midnight sale",
               button={"label": "Shop", "url": "https://example.com/"}),
        # Anything but #rrggbb never reaches a style: the banner falls back to a preset.
        banner(962, style="custom", headline="Bad colours", colors={
            "bg": "red;background:url(https://evil.example/x)", "ink": "#000000",
            "accent": "#000000", "accent_ink": "#ffffff"}),
        banner(963, kind="announcement", style="custom", colors=colors, headline="Custom dialog",
               button={"label": "Go", "url": "https://example.com/"})]
    await socket_says_banners_changed(page)
    await expect(page.locator("#announcement")).to_be_visible()
    painted = await page.evaluate("""() => {
        const style = (sel) => getComputedStyle(document.querySelector(sel));
        return { bg: style("[data-banner-id='961']").backgroundColor,
                 ink: style("[data-banner-id='961'] .gb-headline").color,
                 btn: style("[data-banner-id='961'] .gb-cta").backgroundColor,
                 btnInk: style("[data-banner-id='961'] .gb-cta").color,
                 bad: document.querySelector("[data-banner-id='962']").className,
                 badStyle: document.querySelector("[data-banner-id='962']").getAttribute('style'),
                 dialog: style('#announcement').backgroundColor,
                 dialogCta: style('#announcement-cta').backgroundColor,
                 dialogInk: style('#announcement-title').color };
    }""")
    assert painted["bg"] == rgb(colors["bg"])
    assert painted["ink"] == rgb(colors["ink"])
    assert painted["btn"] == rgb(colors["accent"])
    assert painted["btnInk"] == rgb(colors["accent_ink"])
    assert "gb-notice" in painted["bad"] and "gb-custom" not in painted["bad"]
    assert not painted["badStyle"]
    assert painted["dialog"] == rgb(colors["bg"])
    assert painted["dialogCta"] == rgb(colors["accent"])
    assert painted["dialogInk"] == rgb(colors["ink"])
    await page.screenshot(path=str(SHOTS / f"banner-custom-{server.backend}.png"))
    assert fake.problems == []
    await context.close()


async def test_front_end_a_repeating_card_follows_every_nth_photos_row(browser, photographer,
                                                                       server):
    _, slug, _ = await released_gallery(photographer, 12)
    context, page, fake = await open_gallery(browser, server, slug, 1440)

    async def cards(banner_id: int) -> dict:
        # The answer arrived; wait until the page has put it on the grid.
        await expect(page.locator(f"#grid [data-banner-id='{banner_id}']").first).to_be_attached()
        return await page.evaluate("""() => {
            const grid = document.getElementById('grid');
            const tiles = [...grid.querySelectorAll('.tile')];
            return { cols: tiles.filter((t) => t.offsetTop === tiles[0].offsetTop).length,
                     after: [...grid.querySelectorAll('.gb-in-grid')].map(
                         (c) => Number(c.previousElementSibling.dataset.index) + 1) };
        }""")

    fake.banners = [banner(971, position="between", after_n=5, repeat=True, layout="card",
                           headline="Every five")]
    await socket_says_banners_changed(page)
    placed = await cards(971)
    assert placed["cols"] == 5  # 1440 px: five photos a row
    assert placed["after"] == [5, 10]  # photo 15 is not there: no card after the last row

    # Fewer than a row: once per row, at its end (never a row cut short).
    fake.banners = [banner(972, position="between", after_n=2, repeat=True, layout="strip",
                           headline="Every two")]
    await socket_says_banners_changed(page)
    assert (await cards(972))["after"] == [5, 10, 12]
    # Not repeating: once.
    fake.banners = [banner(973, position="between", after_n=2, headline="Once")]
    await socket_says_banners_changed(page)
    assert (await cards(973))["after"] == [5]
    assert fake.problems == []
    await context.close()


async def create_coupon(photographer, code: str) -> None:
    res = await photographer.post_form("/panel/store/coupons", {
        "code": code, "kind": "percent", "amount": "10", "active": "on"})
    assert res.status_code == 303, res.text


async def cart_coupon(page) -> str:
    return await page.evaluate("""async () => {
        const slug = JSON.parse(document.getElementById('gallery-data').textContent).slug;
        const res = await fetch(`/g/${slug}/store.json`, { credentials: 'same-origin' });
        return (await res.json()).cart?.coupon || '';
    }""")


async def test_front_end_a_shop_button_with_a_coupon_opens_the_store_in_place(
        browser, photographer, new_client, server, db):
    """A banner's button to this gallery's store with a coupon: no reload; the gate first
    (the visitor is new), then the store, and the code on the cart. A fresh page load from
    an email's button does the same for a known visitor."""
    event_id, slug, _ = await released_gallery(photographer, 3)
    await seed_price_list(db, photographer.photographer_id, event_id)
    code = f"WALL{random_suffix()}"
    await create_coupon(photographer, code)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    await expect(page.locator("#store-open")).to_be_visible()
    here = f"{server.base_url}/g/{slug}"
    fake.banners = [
        banner(981, headline="10% off prints", button={
            "label": "Shop with 10% off", "url": f"{here}?view=shop&coupon={code}"}),
        banner(982, position="bottom", headline="Your favorites", button={
            "label": "See favorites", "url": f"{here}?view=favorites"})]
    await socket_says_banners_changed(page)
    await page.evaluate("window.__marker = 'still here'")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url)
            if frame == page.main_frame else None)

    await page.click("[data-banner-id='982'] .gb-cta")
    await expect(page.locator(".seg[data-view='favorites']")).to_have_class(re.compile("active"))
    await expect(page.locator("#favorites-empty")).to_be_visible()

    await page.click("[data-banner-id='981'] .gb-cta")
    await expect(page.locator("#gate")).to_be_visible()  # applying a coupon needs the gate
    await page.fill("#gate-name", "Wally Wall")
    await page.fill("#gate-email", f"wally.{random_suffix()}@example.com")
    await page.click("#gate-form button[type=submit]")
    await expect(page.locator("#store-picker")).to_be_visible()
    await expect(page.locator("#toast")).to_have_text(f"Coupon {code} applied.")
    assert await cart_coupon(page) == code
    assert await page.evaluate("window.__marker") == "still here"
    assert navigations == []
    assert fake.problems == []
    await context.close()

    # From an email: a fresh load of ?view=shop&coupon= by a known visitor.
    visitor = new_client()
    await pass_gate(visitor, slug, email=f"erin.{random_suffix()}@example.com", name="Erin")
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in visitor.http.cookies.items()])
    page = await context.new_page()
    await page.goto(f"{server.base_url}/g/{slug}?view=shop&coupon={code.lower()}")
    await expect(page.locator("#store-picker")).to_be_visible()
    await expect(page.locator("#gate")).to_be_hidden()
    await expect(page.locator("#toast")).to_have_text(f"Coupon {code} applied.")
    assert await cart_coupon(page) == code
    await context.close()


def random_suffix() -> str:
    return datetime.now(UTC).strftime("%H%M%S%f")[-8:]


async def open_preview_page(browser, server, slug: str, width: int = 1440):
    """The gallery as the editor's preview frames it: the page's data says "preview" (the
    real route is the lead's /panel/events/{id}/banner-preview; here the visitor's page is
    rewritten on its way in). Returns the context, page, fake and the requests log."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    fake = FakeBanners()
    await fake.attach(page)
    log: dict[str, list] = {"requests": [], "sockets": []}
    page.on("request", lambda req: log["requests"].append((req.method, req.url)))
    page.on("websocket", lambda ws: log["sockets"].append(ws.url))

    async def as_preview(route) -> None:
        response = await route.fetch()
        body = await response.text()
        assert '"preview": false' in body
        await route.fulfill(response=response, body=body.replace('"preview": false',
                                                                 '"preview": true'))

    await page.route(re.compile(rf".*/g/{slug}$"), as_preview)
    await page.goto(f"{server.base_url}/g/{slug}")
    await page.wait_for_load_state("networkidle")
    return context, page, fake, log


async def post_preview(page, banners: list[dict], kind: str = "proofroom:banner-preview") -> None:
    """What the editor does: postMessage from the framing page (here the page itself is the
    top window, so it is its own parent)."""
    await page.evaluate("""([type, answer]) => window.postMessage({ type, answer },
        location.origin)""", [kind, {"now": iso(SERVER_NOW), "banners": banners}])


async def test_front_end_the_preview_renders_what_the_editor_posts_and_fetches_nothing(
        browser, photographer, server):
    _, slug, _ = await released_gallery(photographer, 6)
    context, page, fake, log = await open_preview_page(browser, server, slug)
    await page.wait_for_timeout(300)
    fake.banners = [banner(991, headline="From banners.json: never shown")]
    await page.evaluate("document.dispatchEvent(new CustomEvent('proofroom:banners'))")
    await page.evaluate("document.dispatchEvent(new CustomEvent('proofroom:cart-changed'))")

    await post_preview(page, [banner(992, headline="Ignored")], kind="something-else")
    shown = banner(993, layout="card", style="urgent", headline="Preview card",
                   countdown_to=iso(SERVER_NOW + timedelta(hours=2)), dismissible=True)
    await post_preview(page, [shown])
    await expect(page.locator("#banner-top [data-banner-id='993']")).to_be_visible()
    await expect(page.locator("#banner-top .gb-countdown")).to_have_text(
        re.compile(r"^0[12]:\d\d:\d\d left$"))
    await expect(page.locator("[data-banner-id='992']")).to_have_count(0)
    # A dismissal in the preview lasts until the next answer, and is not remembered.
    await page.click("[data-banner-id='993'] .gb-x")
    await expect(page.locator("[data-banner-id='993']")).to_have_count(0)
    edited = {**shown, "headline": "Preview card, edited"}
    await post_preview(page, [edited])
    await expect(page.locator("[data-banner-id='993'] .gb-headline")).to_have_text(
        "Preview card, edited")

    # An announcement shows at every answer that has it, seen or not; re-filled when open.
    note = banner(994, kind="announcement", headline="Order by Friday")
    await post_preview(page, [edited, note])
    await expect(page.locator("#announcement")).to_be_visible()
    await post_preview(page, [edited, {**note, "headline": "Order by Thursday"}])
    await expect(page.locator("#announcement-title")).to_have_text("Order by Thursday")
    await page.click("#announcement-ok")
    await expect(page.locator("#announcement")).to_be_hidden()
    await post_preview(page, [edited, note])
    await expect(page.locator("#announcement-title")).to_have_text("Order by Friday")
    await page.click("#announcement-ok")

    # Buttons: this gallery's views act in place; anywhere else is only described (the
    # editor's frame stays on the gallery).
    await page.evaluate("window.__marker = 'still here'")
    await post_preview(page, [
        banner(996, headline="Favorites", button={
            "label": "See favorites", "url": f"{server.base_url}/g/{slug}?view=favorites"}),
        banner(997, headline="Elsewhere", button={
            "label": "Our site", "url": "https://example.com/studio"})])
    await page.click("[data-banner-id='996'] .gb-cta")
    await expect(page.locator(".seg[data-view='favorites']")).to_have_class(re.compile("active"))
    await page.click("[data-banner-id='997'] .gb-cta")
    await expect(page.locator("#toast")).to_have_text(
        "Preview — this button opens https://example.com/studio")
    assert await page.evaluate("window.__marker") == "still here"
    await page.click(".seg[data-view='all']")

    # Gated actions are only described; nothing opens the gate.
    await page.locator(".tile").first.hover()
    await page.locator(".tile .fav-btn").first.click()
    await expect(page.locator("#toast")).to_have_text(
        "Preview — clients can do this in their gallery")
    await expect(page.locator("#gate")).to_be_hidden()
    await expect(page.locator(".tile.is-fav")).to_have_count(0)

    await page.wait_for_timeout(300)
    urls = [url for _, url in log["requests"]]
    assert not [u for u in urls if u.endswith("/banners.json")]
    assert not [u for m, u in log["requests"] if m == "POST" and "/banners/" in u]  # no counts
    assert log["sockets"] == []
    assert await page.evaluate("Object.keys(localStorage)") == []
    assert fake.problems == []
    await context.close()


async def test_front_end_an_unknown_visitor_gets_a_line_then_the_known_one_after_the_gate(
        browser, photographer, server):
    """Needs the server's anonymous gallery socket (lead): before the gate the page holds
    an anonymous line; passing the gate stops it and opens the known visitor's line."""
    _, slug, _ = await released_gallery(photographer, 3)
    context, page, fake = await open_gallery(browser, server, slug, 1440)
    sockets: list = []
    page.on("websocket", lambda ws: sockets.append(ws))
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("data-live", "live")
    await expect(page.locator("html")).to_have_attribute("data-live-as", "anonymous")
    await page.locator(".fav-btn").first.click()
    await page.fill("#gate-name", "Ana Nonymous")
    await page.fill("#gate-email", f"ana.{random_suffix()}@example.com")
    await page.click("#gate-form button[type=submit]")
    await expect(page.locator("html")).to_have_attribute("data-live-as", "known")
    await expect(page.locator("html")).to_have_attribute("data-live", "live")
    assert len(sockets) == 2
    assert sockets[0].is_closed() and not sockets[1].is_closed()
    await context.close()


async def test_a_scheduled_banner_reaches_a_visitor_who_has_not_passed_the_gate(
        browser, photographer, server, db):
    """End to end, needs the server's anonymous gallery socket (lead): a banner's start and
    end reach the open page of a visitor nobody knows yet, without reload."""
    event_id, slug, _ = await released_gallery(photographer, 3)
    now = datetime.now(UTC)
    workflow_id, _ = await seed_workflow(db, photographer.photographer_id, steps=[
        {"kind": "banner", "name": "Flash sale", "audience": "visitors", "anchor": "date",
         "at": now + timedelta(seconds=6), "end_anchor": "date",
         "end_at": now + timedelta(seconds=14), "content": {
             "position": "top", "style": "urgent", "headline": "Flash sale",
             "text": "20% off prints for the next hour."}}])
    await follow(db, event_id, workflow_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    await expect(page.locator("html")).to_have_attribute("data-live", "live")
    strip = page.locator("#banner-top .gb-strip")
    await expect(strip.locator(".gb-headline")).to_have_text("Flash sale", timeout=20000)
    await expect(strip).to_have_count(0, timeout=20000)
    assert problems == []
    await context.close()


async def test_the_editors_preview_route_renders_posted_banners(browser, photographer, server):
    """End to end, needs the lead's GET /panel/events/{id}/banner-preview: the real gallery
    for its owner, in preview: no banners.json, no socket, posted banners shown."""
    event_id, slug, images = await released_gallery(photographer, 4)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    page = await context.new_page()
    requests: list[str] = []
    sockets: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    res = await page.goto(f"{server.base_url}/panel/events/{event_id}/banner-preview")
    assert res is not None and res.status == 200
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate(
        "JSON.parse(document.getElementById('gallery-data').textContent).preview") is True
    await post_preview(page, [banner(995, layout="full", headline="Framed", image={
        "src": f"/g/{slug}/media/preview/{images[0]['id']}", "alt": ""})])
    await expect(page.locator("#banner-top .gb-full .gb-headline")).to_have_text("Framed")
    assert not [u for u in requests if u.endswith("/banners.json")]
    assert sockets == []
    await context.close()


async def test_an_edit_saved_in_the_editor_shows_in_the_open_gallery(
        browser, photographer, server, db):
    """The photographer saves a new headline in the step editor; every open gallery page
    (a visitor before the gate here) shows it without a reload, and a personal banner
    (first name) makes each page fetch its own."""
    event_id, slug, _ = await released_gallery(photographer, 3)
    workflow_id, (step_id,) = await seed_workflow(db, photographer.photographer_id, steps=[
        {"kind": "banner", "name": "Sale", "audience": "visitors", "anchor": "release",
         "content": {"position": "top", "style": "notice", "headline": "Prints on sale",
                     "text": "Until Friday."}}])
    await follow(db, event_id, workflow_id)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    await expect(page.locator("html")).to_have_attribute("data-live", "live")
    await page.evaluate("window.__marker = 1")
    headline = page.locator("#banner-top .gb-headline")
    await expect(headline).to_have_text("Prints on sale")
    step = f"/panel/workflows/{workflow_id}/steps/{step_id}"
    form = {"kind": "banner", "name": "Sale", "anchor": "release", "amount": "0",
            "unit": "days", "direction": "after", "style": "urgent", "position": "top",
            "layout": "strip", "headline": "Last weekend of the sale", "text": "Until Sunday.",
            "dismissible": "on"}
    assert (await photographer.post_form(step, form)).status_code == 303
    await expect(headline).to_have_text("Last weekend of the sale", timeout=10000)
    await expect(page.locator("#banner-top .gb-strip")).to_have_class(re.compile("gb-urgent"))
    res = await photographer.post_form(step, {**form, "headline": "Hello {first_name}"})
    assert res.status_code == 303
    await expect(headline).to_have_text(re.compile(r"^Hello "), timeout=10000)
    assert await page.evaluate("window.__marker") == 1  # never reloaded
    assert problems == []
    await context.close()
