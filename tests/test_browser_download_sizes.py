"""The client's download-size choice in Chromium: with more than one size allowed, the
download buttons open a menu of them and the file arrives at the size picked; with one
size, the button downloads at once."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import create_gallery, jpeg_bytes, rows, scalar, upload, wait_processed
from PIL import Image
from playwright.async_api import expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"


async def gallery(photographer, db, sizes: list[str]) -> tuple[int, str]:
    event_id = await create_gallery(photographer, download_sizes=["", *sizes])
    res = await upload(photographer, event_id, [
        ("Big Day.jpg", jpeg_bytes(4500, 3000, color=(30, 120, 200))),
        *[(f"IMG_{n}.jpg", jpeg_bytes(1200, 800, color=(40 * n, 90, 160))) for n in range(5)]])
    assert res.status_code == 200, res.text
    await wait_processed(photographer, event_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303
    return event_id, await scalar(db, "SELECT slug FROM events WHERE id=:e", e=event_id)


async def shot(page, name: str, server) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"download-sizes-{name}-{server.backend}.png"),
                          animations="disabled")


async def open_past_gate(browser, server, slug: str, width: int):
    context = await browser.new_context(viewport={"width": width, "height": 900},
                                        accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{server.base_url}/g/{slug}")
    return page, errors


async def test_a_client_picks_web_in_the_menu_and_gets_the_web_size(browser, photographer,
                                                                     server, db):
    event_id, slug = await gallery(photographer, db, ["original", "high", "web"])
    page, errors = await open_past_gate(browser, server, slug, 1440)
    big = page.locator('.tile[data-image-id] img[alt="Big Day.jpg"]')
    await big.click()
    await page.click("#lb-download")
    await page.fill("#gate-name", "Nora Bride")  # the gate comes first, then the sizes
    await page.fill("#gate-email", "nora.bride@example.com")
    await page.click("#gate-form button[type=submit]")
    menu = page.locator(".size-menu")
    await expect(menu).to_be_visible()
    await expect(menu.locator(".size-menu-item")).to_have_text([
        "Original4500 × 3000 px", "High resolution3600 × 2400 px", "Web size2048 × 1365 px"])
    await shot(page, "photo-1440", server)

    # Esc closes the menu, not the lightbox.
    await page.keyboard.press("Escape")
    await expect(menu).to_have_count(0)
    await expect(page.locator("#lightbox")).to_be_visible()

    await page.click("#lb-download")
    async with page.expect_download() as info:
        await menu.get_by_role("menuitem", name="Web size").click()
    download = await info.value
    assert download.suggested_filename == "Big Day.jpg"
    with Image.open(io.BytesIO(Path(await download.path()).read_bytes())) as picture:
        assert picture.size == (2048, 1365)
    assert [tuple(r) for r in await rows(db, "SELECT kind, size FROM downloads WHERE "
                                             "event_id=:e", e=event_id)] == [("single", "web")]

    # "Download all" offers the same sizes, in words.
    await page.keyboard.press("Escape")
    await page.click("#download-all")
    await expect(menu.locator(".size-name")).to_have_text(["Original", "High resolution",
                                                           "Web size"])
    async with page.expect_download() as info:
        await menu.get_by_role("menuitem", name="High resolution").click()
    assert (await info.value).suggested_filename.endswith(".zip")
    assert [tuple(r) for r in await rows(db, "SELECT kind, size FROM downloads WHERE "
                                             "event_id=:e ORDER BY id", e=event_id)] == [
        ("single", "web"), ("bulk", "high")]
    assert errors == []

    # At phone width the menu stays on the screen under its button.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.click("#download-all")
    await expect(menu).to_be_visible()
    box = await menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    await shot(page, "all-390", server)
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.click("#download-all")
    await expect(menu).to_be_visible()
    await shot(page, "all-1440", server)
    await page.context.close()


async def test_a_single_size_gallery_downloads_without_a_menu(browser, photographer, server,
                                                              db):
    event_id, slug = await gallery(photographer, db, ["web"])
    page, errors = await open_past_gate(browser, server, slug, 1280)
    await page.locator('.tile[data-image-id] img[alt="Big Day.jpg"]').click()
    await page.click("#lb-download")
    await page.fill("#gate-name", "Nora Bride")
    await page.fill("#gate-email", "nora.bride@example.com")
    async with page.expect_download() as info:
        await page.click("#gate-form button[type=submit]")
    with Image.open(io.BytesIO(Path(await (await info.value).path()).read_bytes())) as picture:
        assert picture.size == (2048, 1365)
    await expect(page.locator(".size-menu")).to_have_count(0)
    async with page.expect_download():
        await page.click("#lb-download")  # known now: one click, straight to the file
    await expect(page.locator(".size-menu")).to_have_count(0)
    assert [size for (size,) in await rows(db, "SELECT size FROM downloads WHERE event_id=:e",
                                           e=event_id)] == ["web", "web"]
    assert errors == []
    await page.context.close()


async def test_the_photographer_checks_the_sizes_clients_may_pick(browser, photographer,
                                                                  server, db):
    event_id = await create_gallery(photographer, download_sizes=["", "original"])
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    page = await context.new_page()
    await page.goto(f"{server.base_url}/panel/events/{event_id}/edit")
    boxes = page.locator('input[name="download_sizes"][type="checkbox"]')
    await expect(boxes).to_have_count(3)
    await boxes.nth(0).uncheck()  # none checked: refused, said in the form
    await page.click("form.form-card button[type=submit]")
    await expect(page.locator(".alert-error")).to_contain_text("at least one download size")
    await boxes.nth(1).check()
    await boxes.nth(2).check()
    await shot(page, "form-1440", server)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.locator(".size-choice").scroll_into_view_if_needed()
    await shot(page, "form-390", server)
    await page.click("form.form-card button[type=submit]")
    await expect(page.locator(".download-sizes")).to_have_text(
        "downloads: high-res 3600 px, web 2048 px")
    await shot(page, "gallery-390", server)
    assert await scalar(db, "SELECT download_sizes FROM events WHERE id=:e",
                        e=event_id) == "high,web"
    await context.close()
