"""The photographer watches a client live: dashboard and gallery side by side in Chromium.

Each client action appears on the Activity page (feed, table row, counters) without a
reload; the page object is the same one throughout (no navigation happens)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from conftest import released_gallery, rows
from playwright.async_api import expect

pytestmark = pytest.mark.browser


async def panel_page(browser, photographer, base_url: str):
    context = await browser.new_context(viewport={"width": 1400, "height": 900},
                                        accept_downloads=True)
    host = urlsplit(base_url).hostname
    await context.add_cookies([
        {"name": name, "value": value, "domain": host, "path": "/"}
        for name, value in photographer.http.cookies.items()
    ])
    page = await context.new_page()
    await page.goto(base_url + "/panel/activity")
    await expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
    return page


async def test_dashboard_shows_favorite_comment_and_download_as_they_happen(
        browser, photographer, server, db):
    _, slug, images = await released_gallery(photographer, 3)
    panel = await panel_page(browser, photographer, server.base_url)
    await panel.evaluate("window.__sameDocument = true")

    client_ctx = await browser.new_context(viewport={"width": 1200, "height": 850},
                                           accept_downloads=True)
    gallery = await client_ctx.new_page()
    await gallery.goto(f"{server.base_url}/g/{slug}")
    first = gallery.locator(".tile").nth(0)
    await first.hover()
    await first.locator(".fav-btn").click()
    await gallery.fill("#gate-name", "Dana Live")
    await gallery.fill("#gate-email", "dana.live@example.com")
    await gallery.click("#gate-form button[type=submit]")

    feed = panel.locator("#feed")
    await expect(feed).to_contain_text("Dana Live favorited")
    await expect(feed).to_contain_text(images[0]["filename"])
    row = panel.locator("#activity-table tbody tr").first
    await expect(row).to_contain_text("dana.live@example.com")
    await expect(row.locator('[data-col="favorites"]')).to_have_text("1")

    await gallery.locator(".tile-open").nth(1).click()
    await gallery.click("#lb-comments-toggle")
    await gallery.fill("#comment-body", "Could this one be black & white?")
    await gallery.keyboard.press("Enter")
    await expect(feed).to_contain_text("Could this one be black & white?")
    await expect(row.locator('[data-col="comments"]')).to_have_text("1")

    async with gallery.expect_download() as download:
        await gallery.click("#lb-download")
    await (await download.value).path()
    await expect(feed).to_contain_text(f"downloaded {images[1]['filename']}")
    await expect(row.locator('[data-col="single_downloads"]')).to_have_text("1")

    assert await panel.evaluate("window.__sameDocument") is True  # never reloaded
    await expect(panel.locator("#activity-table tbody tr")).to_have_count(1)
    await expect(panel.locator("#viewing-list")).to_contain_text("Dana Live")
    kinds = await rows(db, "SELECT kind FROM activity_events WHERE photographer_id=:p "
                           "ORDER BY seq", p=photographer.photographer_id)
    assert [k for (k,) in kinds] == ["visit", "favorite_added", "comment_added",
                                     "download_single"]
    await panel.screenshot(path="tests/artifacts/live-activity.png")
    await client_ctx.close()
    await panel.context.close()
