"""The photographer reorders a gallery's photos on its page: a drag (here the keyboard's
Alt+←, the same save) saves the whole order, clients see it, and the order picker says
"My own order"; a refused save puts the grid back."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from conftest import gallery_photos, released_gallery
from playwright.async_api import expect

pytestmark = pytest.mark.browser
TILE_IDS = "tiles => tiles.map(t => Number(t.dataset.imageId))"


async def client_order(client, slug: str) -> list[int]:
    return [image["id"] for image in await gallery_photos(client, slug)]


async def test_a_photo_moved_on_the_gallery_page_moves_for_clients(
        browser, photographer, new_client, server):
    event_id, slug, images = await released_gallery(photographer, 4)
    ids = [image["id"] for image in images]
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await page.goto(f"{server.base_url}/panel/events/{event_id}")
    last = page.locator(f'#image-grid .tile[data-image-id="{ids[-1]}"]')
    await last.focus()
    await page.keyboard.press("Alt+ArrowLeft")
    await page.keyboard.press("Alt+ArrowLeft")
    wanted = [ids[0], ids[3], ids[1], ids[2]]
    await expect(page.locator("#photo-order")).to_have_value("manual")
    # Both moves saved, in order (the page saves one after the other).
    await expect(page.locator("#image-grid")).to_have_attribute(
        "data-saved", ",".join(map(str, wanted)))
    visitor = new_client()
    assert await client_order(visitor, slug) == wanted
    shown = await page.eval_on_selector_all("#image-grid .tile", TILE_IDS)
    assert shown == wanted

    # A save the server refuses (the gallery changed meanwhile) puts the grid back.
    await page.route("**/photo-order.json", lambda route: route.fulfill(
        status=400, content_type="application/json",
        body=json.dumps({"error": "The order must list every photo of this gallery once."})))
    await page.locator(f'#image-grid .tile[data-image-id="{ids[0]}"]').focus()
    await page.keyboard.press("Alt+ArrowRight")
    await expect(page.locator("#toast")).to_contain_text("every photo")
    shown = await page.eval_on_selector_all("#image-grid .tile", TILE_IDS)
    assert shown == wanted
    assert await client_order(visitor, slug) == wanted
    # The picker: back to file name order, for clients too.
    await page.select_option("#photo-order", "filename")
    await page.wait_for_url(f"{server.base_url}/panel/events/{event_id}")
    await expect(page.locator("#photo-order")).to_have_value("filename")
    assert await client_order(visitor, slug) == ids  # IMG_1000, IMG_1001…
    assert [p for p in problems if "400" not in p] == []
    await context.close()
