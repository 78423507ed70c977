"""A client in Chromium: favorite (the email gate opens first), browse the lightbox with the
keyboard, download one photo — and the database holds exactly what she did."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import released_gallery, rows
from playwright.async_api import expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"


def is_favorite_post(response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/favorite")


async def test_a_client_favorites_browses_and_downloads(browser, photographer, server, db):
    event_id, slug, images = await released_gallery(photographer, 4)
    names = [i["filename"] for i in images]
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{server.base_url}/g/{slug}")
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(4)

    # The first heart asks who she is; once she answers, the favorite goes through.
    gate = page.locator("#gate")
    await expect(gate).to_be_hidden()
    await tiles.nth(0).hover()
    await tiles.nth(0).locator(".fav-btn").click()
    await expect(gate).to_be_visible()
    await page.fill("#gate-name", "Nora Bride")
    await page.fill("#gate-email", "nora.bride@example.com")
    async with page.expect_response(is_favorite_post) as first_fav:
        await page.click("#gate-form button[type=submit]")
    assert (await first_fav.value).status == 200
    await expect(gate).to_be_hidden()
    await expect(tiles.nth(0)).to_have_class(re.compile(r"\bis-fav\b"))

    # The second heart needs no gate.
    await tiles.nth(2).hover()
    async with page.expect_response(is_favorite_post) as second_fav:
        await tiles.nth(2).locator(".fav-btn").click()
    assert (await second_fav.value).status == 200
    await expect(gate).to_be_hidden()
    await expect(tiles.nth(2)).to_have_class(re.compile(r"\bis-fav\b"))
    await expect(page.locator("#fav-count")).to_have_text("2")

    # The lightbox: arrows move through the photos, Escape closes it.
    lightbox, name = page.locator("#lightbox"), page.locator("#lb-name")
    await page.locator(".tile-open").nth(1).click()
    await expect(lightbox).to_be_visible()
    await expect(name).to_have_text(names[1])
    await page.keyboard.press("ArrowRight")
    await expect(name).to_have_text(names[2])
    await expect(page.locator("#lb-fav")).to_have_attribute("aria-pressed", "true")
    await page.keyboard.press("ArrowLeft")
    await expect(name).to_have_text(names[1])
    await page.keyboard.press("Escape")
    await expect(lightbox).to_be_hidden()

    # Download one photo from the lightbox.
    await page.locator(".tile-open").nth(3).click()
    await expect(name).to_have_text(names[3])
    async with page.expect_download() as download_info:
        await page.click("#lb-download")
    download = await download_info.value
    assert download.suggested_filename == names[3]
    saved = await download.path()
    assert saved is not None and Path(saved).stat().st_size > 0

    await page.keyboard.press("Escape")
    await expect(lightbox).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"client-gallery-{server.backend}.png"))
    await context.close()

    pid = photographer.photographer_id
    ((contact_id, email, contact_name),) = await rows(
        db, "SELECT id, email, name FROM contacts WHERE photographer_id=:p", p=pid)
    assert (email, contact_name) == ("nora.bride@example.com", "Nora Bride")
    favorites = await rows(db, "SELECT image_id, contact_id FROM favorites "
                               "WHERE photographer_id=:p ORDER BY image_id", p=pid)
    assert favorites == sorted([(images[0]["id"], contact_id), (images[2]["id"], contact_id)])
    assert await rows(db, "SELECT kind, image_id, contact_id, event_id FROM downloads "
                          "WHERE photographer_id=:p", p=pid) == [
        ("single", images[3]["id"], contact_id, event_id)]
    kinds = await rows(db, "SELECT kind FROM activity_events WHERE photographer_id=:p "
                           "ORDER BY seq", p=pid)
    assert [k for (k,) in kinds] == ["visit", "favorite_added", "favorite_added",
                                     "download_single"]
