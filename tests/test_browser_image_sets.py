"""Sets in the browser: the photographer makes two sets on the gallery page and moves
ticked photos into them (no reload); the client sees them as tabs, a tab shows only its
photos (and puts ?set= in the address, so a reload opens it), the lightbox steps within
the set, and the favorites view and its count work per set."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import gallery_photos, jpeg_bytes, released_gallery, rows, scalar
from playwright.async_api import expect

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).parent / "artifacts" / "sets"
SHOWN_IDS = "tiles => tiles.filter(t => t.offsetParent).map(t => Number(t.dataset.imageId))"


async def grid_sets(client, slug: str) -> dict[int, int | None]:
    return {image["id"]: image["s"] for image in await gallery_photos(client, slug)}


async def open_page(browser, server, problems: list[str], who=None):
    """A fresh browser (logged in as `who`, a photographer, if given) and its page, whose
    errors go to `problems`."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    if who is not None:
        host = urlsplit(server.base_url).hostname
        await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                                   for n, v in who.http.cookies.items()])
    page = await context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return context, page


async def test_sets_made_in_the_panel_are_tabs_for_the_client(
        browser, photographer, new_client, server, db):
    event_id, slug, images = await released_gallery(photographer, 6)
    ids = [image["id"] for image in images]
    names = {image["id"]: image["filename"] for image in images}
    problems: list[str] = []

    # ---- the photographer: two sets, photos ticked (a Shift range) and moved ----
    context, panel = await open_page(browser, server, problems, photographer)
    await panel.goto(f"{server.base_url}/panel/events/{event_id}")
    await panel.click("#set-new")
    await panel.fill("#set-name", "Ceremony")
    await panel.click("#set-save")
    ceremony_tab = panel.locator("#set-tabs .set-tab", has_text="Ceremony")
    await expect(ceremony_tab).to_have_class("set-tab active")  # opens on the new set
    await panel.click('#set-tabs [data-set="all"]')

    tile = lambda i: panel.locator(f'#image-grid .tile[data-image-id="{ids[i]}"] .pick')  # noqa: E731
    await tile(0).check()
    await tile(2).click(modifiers=["Shift"])  # 0..2
    await expect(panel.locator("#pick-count")).to_have_text("3 photos selected")
    await panel.click("#move-open")
    await panel.locator("#move-menu .menu-item", has_text="Ceremony").click()
    await expect(panel.locator("#toast")).to_contain_text("3 photos moved to Ceremony")
    await expect(ceremony_tab.locator(".count")).to_have_text("3")
    await expect(panel.locator('#set-tabs [data-set="none"] .count')).to_have_text("3")

    # A second set made from the menu takes the ticked photo with it.
    await tile(4).check()
    await panel.click("#move-open")
    await panel.locator("#move-menu .menu-new").click()
    await panel.fill("#set-name", "Reception")
    await panel.click("#set-save")
    reception_tab = panel.locator("#set-tabs .set-tab", has_text="Reception")
    await expect(reception_tab.locator(".count")).to_have_text("1")
    await ceremony_tab.click()
    assert await panel.eval_on_selector_all("#image-grid .tile", SHOWN_IDS) == ids[:3]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        await panel.set_viewport_size({"width": width, "height": 900})
        await panel.screenshot(path=SHOTS / f"panel-sets-{width}.png", full_page=True)
    await panel.set_viewport_size({"width": 1440, "height": 900})
    await context.close()

    visitor = new_client()
    saved = await grid_sets(visitor, slug)
    ceremony = saved[ids[0]]
    assert [saved[i] for i in ids] == [ceremony] * 3 + [None, saved[ids[4]], None]
    assert saved[ids[4]] not in (None, ceremony)

    # ---- the client: tabs, ?set=, the lightbox within the set, favorites per set ----
    context, page = await open_page(browser, server, problems)
    await page.goto(f"{server.base_url}/g/{slug}")
    tabs = page.locator("#set-nav .set-link")
    await expect(tabs).to_have_text(["All 6", "Ceremony 3", "Reception 1"])
    await tabs.nth(1).click()
    await expect(page.locator("#all-count")).to_have_text("3")
    assert await page.eval_on_selector_all("#grid .tile", SHOWN_IDS) == ids[:3]
    assert f"set={ceremony}" in page.url
    await expect(page.locator("#download-set")).to_be_visible()

    await page.reload()  # the address opens the set: the server renders its first page
    await expect(page.locator("#set-nav .set-link.active")).to_have_text("Ceremony 3")
    assert await page.eval_on_selector_all("#grid .tile", SHOWN_IDS) == ids[:3]
    for width in (1440, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=SHOTS / f"client-set-{width}.png", full_page=True)
    await page.set_viewport_size({"width": 1440, "height": 900})

    # The lightbox steps through the set only, round to its first photo.
    await page.locator(f'#grid .tile[data-image-id="{ids[0]}"] .tile-open').click()
    seen = []
    for _ in range(4):
        seen.append(await page.locator("#lb-name").text_content())
        await page.keyboard.press("ArrowRight")
    assert seen == [names[ids[0]], names[ids[1]], names[ids[2]], names[ids[0]]]
    await page.keyboard.press("Escape")

    # A favorite in the set (the gate first), one outside it: each set counts its own.
    await page.locator(f'#grid .tile[data-image-id="{ids[1]}"] .fav-btn').click()
    await page.fill("#gate-name", "Jane Client")
    await page.fill("#gate-email", "jane@example.com")
    await page.click("#gate-form button[type=submit]")
    await expect(page.locator("#fav-count")).to_have_text("1")
    await tabs.nth(0).click()
    assert "set=" not in page.url
    await expect(page.locator("#all-count")).to_have_text("6")
    await page.locator(f'#grid .tile[data-image-id="{ids[5]}"] .fav-btn').click()
    await expect(page.locator("#fav-count")).to_have_text("2")
    await tabs.nth(1).click()
    await expect(page.locator("#fav-count")).to_have_text("1")
    await page.click('.segmented .seg[data-view="favorites"]')
    assert await page.eval_on_selector_all("#grid .tile", SHOWN_IDS) == [ids[1]]
    await tabs.nth(2).click()  # Reception: no favorites there
    await expect(page.locator("#favorites-empty")).to_be_visible()
    await tabs.nth(0).click()
    assert await page.eval_on_selector_all("#grid .tile", SHOWN_IDS) == [ids[1], ids[5]]
    await context.close()

    # The activity report counts them per set.
    contact_id = await scalar(db, "SELECT id FROM contacts WHERE email = 'jane@example.com' "
                                  "AND photographer_id = :p", p=photographer.photographer_id)
    context, report = await open_page(browser, server, problems, photographer)
    await report.goto(f"{server.base_url}/panel/activity/{event_id}/{contact_id}")
    await expect(report.locator("#favorites-by-set")).to_have_text("By set: Ceremony 1 · No set 1")
    for width in (1440, 390):
        await report.set_viewport_size({"width": width, "height": 900})
        await report.screenshot(path=SHOTS / f"activity-by-set-{width}.png", full_page=True)
    await context.close()
    assert problems == []


async def test_photos_uploaded_while_a_set_is_shown_go_to_that_set(
        browser, photographer, server, db):
    event_id, _slug, _images = await released_gallery(photographer, 2)
    res = await photographer.post_json(f"/panel/events/{event_id}/sets.json",
                                       {"name": "Portraits"})
    portraits = res.json()["set"]["id"]
    problems: list[str] = []
    context, page = await open_page(browser, server, problems, photographer)
    await page.goto(f"{server.base_url}/panel/events/{event_id}")
    tab = page.locator(f'#set-tabs [data-set="{portraits}"]')
    await tab.click()
    await page.set_input_files("#file-input", files=[
        {"name": "PORTRAIT_1.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes(300, 450)}])
    await expect(tab.locator(".count")).to_have_text("1")
    await expect(page.locator('#set-tabs [data-set="all"] .count')).to_have_text("3")
    await context.close()
    placed = await rows(db, "SELECT filename, set_id FROM images WHERE event_id = :e "
                            "ORDER BY filename", e=event_id)
    assert [tuple(r) for r in placed] == [
        ("IMG_1000.jpg", None), ("IMG_1001.jpg", None), ("PORTRAIT_1.jpg", portraits)]
    assert problems == []
