"""The gallery page's uploader: the whole batch's progress (files and bytes), the empty
state gone as soon as photos are on their way, and a queue that survives the connection
dropping (the files it lost are sent again when it is back, each once)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from conftest import create_gallery, jpeg_bytes, scalar
from playwright.async_api import expect

pytestmark = pytest.mark.browser


def photos(n: int) -> list[dict]:
    return [{"name": f"DSC_{100 + i}.jpg", "mimeType": "image/jpeg",
             "buffer": jpeg_bytes(800, 600, color=(30 * i % 255, 80, 140))} for i in range(n)]


async def gallery_page(browser, photographer, server, event_id: int):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    page = await context.new_page()
    await page.goto(f"{server.base_url}/panel/events/{event_id}")
    return context, page


async def test_the_batch_shows_its_progress_and_resumes_after_the_connection_drops(
        browser, photographer, server, db):
    event_id = await create_gallery(photographer)
    context, page = await gallery_page(browser, photographer, server, event_id)
    await expect(page.locator("#images-empty")).to_be_visible()
    # The network is down for the first sends (and every retry) until the test brings it
    # back; then the browser says it is online again.
    line = {"up": False, "dropped": 0}

    async def flaky(route):
        if line["up"]:
            await route.continue_()
        else:
            line["dropped"] += 1
            await route.abort("connectionfailed")

    await page.route("**/panel/events/*/images", flaky)
    await page.set_input_files("#file-input", files=photos(4))
    await expect(page.locator("#images-empty")).to_have_count(0)
    summary = page.locator("#upload-summary")
    await expect(summary).to_be_visible()
    await expect(page.locator(".upload-item .up-status", has_text="Waiting for the connection")
                 ).not_to_have_count(0)
    await expect(summary).to_contain_text("connection lost, will resume")
    line["up"] = True
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(summary).to_contain_text("4 of 4 photos uploaded", timeout=30000)
    assert line["dropped"] >= 1
    await expect(page.locator("#image-grid .tile")).to_have_count(4, timeout=20000)
    assert await scalar(db, "SELECT count(*) FROM images WHERE event_id = :e", e=event_id) == 4
    await context.close()


async def test_a_file_the_server_refuses_is_not_sent_again(browser, photographer, server, db):
    event_id = await create_gallery(photographer)
    context, page = await gallery_page(browser, photographer, server, event_id)
    sends = []
    page.on("request", lambda r: sends.append(r.url) if r.method == "POST" else None)
    await page.set_input_files("#file-input", files=[
        *photos(1), {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}])
    summary = page.locator("#upload-summary")
    await expect(summary).to_contain_text("1 of 2 photos uploaded · 1 failed", timeout=20000)
    await expect(page.locator(".upload-item.failed .up-status")).to_contain_text("image")
    await page.wait_for_timeout(2500)  # past the first retry delay: nothing is sent again
    assert len(sends) == 2
    assert await scalar(db, "SELECT count(*) FROM images WHERE event_id = :e", e=event_id) == 1
    await context.close()
