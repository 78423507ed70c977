"""A client with the gallery open in Chromium while the photographer sorts photos into a
set: the page says the gallery was just updated (it does not change under the client) and
shows the new version, with the set's tab, when asked; dismissed, the note stays away until
the next change. No console errors, no sideways scrolling on a phone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import open_watched_page, released_gallery
from playwright.async_api import expect

pytestmark = pytest.mark.browser

NOTE = ".gallery-updated"
SHOTS = Path(os.environ.get("PROOFROOM_SHOTS", "/tmp/b15/shots"))


async def open_gallery(browser, url: str, width: int):
    context, page, problems = await open_watched_page(browser, url, width, 800)
    await expect(page.locator("html")).to_have_attribute("data-live", "live", timeout=10000)
    return context, page, problems


async def move_into_new_set(photographer, event_id: int, ids: list[int], name: str) -> None:
    res = await photographer.post_json(f"/panel/events/{event_id}/sets.json", {"name": name})
    assert res.status_code == 200, res.text
    res = await photographer.post_json(f"/panel/events/{event_id}/sets/move.json",
                                       {"ids": ids, "set_id": res.json()["set"]["id"]})
    assert res.status_code == 200, res.text


@pytest.mark.parametrize("width", [1440, 390])
async def test_the_open_gallery_offers_the_new_version(browser, photographer, server, width):
    event_id, slug, images = await released_gallery(photographer, 3)
    context, page, problems = await open_gallery(browser, f"{server.base_url}/g/{slug}", width)
    note = page.locator(NOTE)
    await expect(note).to_be_hidden()
    await expect(page.locator("#set-nav")).to_have_count(0)

    await move_into_new_set(photographer, event_id, [images[0]["id"]], "Ceremony")
    await expect(note).to_be_visible(timeout=10000)
    await expect(page.locator("#grid .tile")).to_have_count(3)  # nothing moved under them
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"gallery-updated-{width}.png")

    await note.get_by_role("button", name="Show the new version").click()
    await expect(page.locator("#set-nav")).to_contain_text("Ceremony", timeout=10000)
    await expect(page.locator(NOTE)).to_be_hidden()

    # Dismissed, it waits for the next change.
    await expect(page.locator("html")).to_have_attribute("data-live", "live", timeout=10000)
    await move_into_new_set(photographer, event_id, [images[1]["id"]], "Portraits")
    await expect(page.locator(NOTE)).to_be_visible(timeout=10000)
    await page.locator(NOTE).get_by_role("button", name="Dismiss").click()
    await expect(page.locator(NOTE)).to_be_hidden()
    await move_into_new_set(photographer, event_id, [images[2]["id"]], "Party")
    await expect(page.locator(NOTE)).to_be_visible(timeout=10000)
    assert problems == []
    await context.close()
