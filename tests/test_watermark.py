"""A gallery's visible watermark: on the thumbnails and previews its clients browse, in the
studio's name unless told otherwise, never on a download or on the photographer's own view;
new settings make new marked copies; bad settings are refused and change nothing."""

from __future__ import annotations

import asyncio
import io
from urllib.parse import urlsplit

import pytest
from conftest import create_gallery, pass_gate, scalar, upload, wait_processed
from PIL import Image, ImageChops
from playwright.async_api import expect


def black_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (0, 0, 0)).save(out, "JPEG", quality=95)
    return out.getvalue()


def brightest(data: bytes, box: tuple[int, int, int, int] | None = None) -> int:
    """The brightest pixel (0-255), in `box` as fractions ×100 of the image if given."""
    with Image.open(io.BytesIO(data)) as img:
        gray = img.convert("L")
        if box:
            w, h = gray.size
            gray = gray.crop((w * box[0] // 100, h * box[1] // 100,
                              w * box[2] // 100, h * box[3] // 100))
        return gray.getextrema()[1]


def settings(**fields) -> dict:
    return {"title": "Marked Wedding", "download_single": "on", "download_bulk": "on",
            "download_size": "original", "photo_order": "taken", "watermark": "on",
            "watermark_text": "", "watermark_position": "center", "watermark_opacity": "60",
            **fields}


async def preview_once(visitor, url: str, looks_right) -> bytes:
    """The photo once the new settings reached the gallery (clients see a change within
    the gallery cache's 2 seconds)."""
    for _ in range(30):
        data = (await visitor.get(url)).content
        if looks_right(data):
            return data
        await asyncio.sleep(0.2)
    return data


async def marked_gallery(photographer) -> tuple[int, str, int, bytes]:
    original = black_photo()
    event_id = await create_gallery(photographer)
    assert (await upload(photographer, event_id, [("DARK.jpg", original)])).status_code == 200
    (image,) = await wait_processed(photographer, event_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/edit", settings())
    assert res.status_code == 303, res.text
    await photographer.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    return event_id, detail.split("/g/", 1)[1].split('"', 1)[0], image["id"], original


async def test_clients_browse_marked_photos_and_download_them_clean(
        photographer, new_client, db):
    event_id, slug, image_id, original = await marked_gallery(photographer)
    visitor = new_client()
    await pass_gate(visitor, slug, email="wm@example.com", name="Wren")
    preview = (await visitor.get(f"/g/{slug}/media/preview/{image_id}")).content
    thumb = (await visitor.get(f"/g/{slug}/media/thumb/{image_id}")).content
    # White text in the middle of a black photo; the edges stay black.
    assert brightest(preview, (30, 40, 70, 60)) > 90 and brightest(thumb, (30, 40, 70, 60)) > 60
    assert brightest(preview, (0, 0, 10, 10)) < 20
    # The photographer's own view and the client's download are not marked.
    own = (await photographer.get(f"/panel/media/preview/{image_id}")).content
    assert brightest(own) < 20
    download = await visitor.get(f"/g/{slug}/images/{image_id}/download")
    assert download.status_code == 200 and download.content == original

    # New settings, new copies: the corner now, the middle black again.
    res = await photographer.post_form(f"/panel/events/{event_id}/edit", settings(
        watermark_position="bottom_right", watermark_text="© Pat Studio 2026"))
    assert res.status_code == 303, res.text
    url = f"/g/{slug}/media/preview/{image_id}"
    corner = await preview_once(visitor, url, lambda d: brightest(d, (30, 40, 70, 60)) < 20)
    assert brightest(corner, (30, 40, 70, 60)) < 20 and brightest(corner, (60, 80, 100, 100)) > 90
    tiled = settings(watermark_position="tiled")
    assert (await photographer.post_form(f"/panel/events/{event_id}/edit", tiled)
            ).status_code == 303
    spread = await preview_once(visitor, url, lambda d: brightest(d, (0, 0, 50, 50)) > 60)
    quarters = [(0, 0, 50, 50), (50, 0, 100, 50), (0, 50, 50, 100), (50, 50, 100, 100)]
    assert all(brightest(spread, q) > 60 for q in quarters)

    # Off again: the photo as it is.
    res = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                       settings(watermark="off"))
    assert res.status_code == 303
    assert brightest(await preview_once(visitor, url, lambda d: brightest(d) < 20)) < 20
    assert await scalar(db, "SELECT watermark FROM events WHERE id = :e", e=event_id) in (
        False, 0)


async def test_bad_watermark_settings_are_refused_and_change_nothing(photographer, db):
    event_id, _, _, _ = await marked_gallery(photographer)
    for bad in ({"watermark_opacity": "95"}, {"watermark_opacity": "x"},
                {"watermark_position": "everywhere"}, {"watermark_text": "x" * 61},
                {"photo_order": "random"}):
        res = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                           settings(title="Changed", **bad))
        assert res.status_code == 400, (bad, res.text[:200])
    row = await scalar(db, "SELECT title || '|' || watermark_position || '|' || "
                           "watermark_opacity FROM events WHERE id = :e", e=event_id)
    assert row == "Marked Wedding|center|60"


# --- The studio logo as the mark ------------------------------------------------------------


def logo_png(color: tuple[int, int, int]) -> bytes:
    """An opaque coloured block on a transparent canvas: what is drawn is the logo."""
    img = Image.new("RGBA", (600, 240), (0, 0, 0, 0))
    img.paste(color + (255,), (40, 40, 560, 200))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def redness(data: bytes, box: tuple[int, int, int, int]) -> int:
    """How red the reddest pixel in `box` (fractions ×100) is: red minus green, 0-255."""
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
        part = img.convert("RGB").crop((w * box[0] // 100, h * box[1] // 100,
                                        w * box[2] // 100, h * box[3] // 100))
        red, green, _ = part.split()
        return ImageChops.subtract(red, green).getextrema()[1]


async def save_logo(client, data: bytes | None, **fields):
    files = {"logo": ("logo.png", data, "image/png")} if data is not None else None
    res = await client.post_form("/panel/settings/brand", {
        "business_name": "Red Door Studio", "accent": "#2f5d50", "font": "classic", **fields},
        files=files)
    assert res.status_code == 303, res.text


CENTRE, CORNER = (35, 40, 65, 60), (80, 85, 100, 100)


def wordmark_png() -> bytes:
    """A studio logo as a designer would hand it over: a ringed monogram and the studio's
    name in white on transparency."""
    from PIL import ImageDraw, ImageFont

    img = Image.new("RGBA", (900, 260), (0, 0, 0, 0))
    pen = ImageDraw.Draw(img)
    pen.ellipse((20, 20, 240, 240), outline=(255, 255, 255, 255), width=12)
    pen.text((130, 132), "RD", font=ImageFont.load_default(size=110), anchor="mm",
             fill=(255, 255, 255, 255))
    pen.text((280, 70), "RED DOOR", font=ImageFont.load_default(size=92),
             fill=(255, 255, 255, 255))
    pen.text((284, 176), "P H O T O G R A P H Y", font=ImageFont.load_default(size=40),
             fill=(255, 255, 255, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def test_the_studio_logo_marks_previews_and_never_downloads(photographer, new_client, db):
    await save_logo(photographer, logo_png((230, 20, 20)))
    event_id, slug, image_id, original = await marked_gallery(photographer)
    res = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                       settings(watermark_kind="logo"))
    assert res.status_code == 303, res.text
    assert await scalar(db, "SELECT watermark_kind FROM events WHERE id = :e",
                        e=event_id) == "logo"
    visitor = new_client()
    await pass_gate(visitor, slug, email="logo@example.com", name="Lo")
    url = f"/g/{slug}/media/preview/{image_id}"
    # Large and red in the centre (the logo, not the white text), the corners untouched.
    centre = await preview_once(visitor, url, lambda d: redness(d, CENTRE) > 60)
    assert redness(centre, CENTRE) > 60 and brightest(centre, (0, 0, 10, 10)) < 20
    thumb = (await visitor.get(f"/g/{slug}/media/thumb/{image_id}")).content
    assert redness(thumb, CENTRE) > 40
    # Downloads and the photographer's own view are the photo as it is.
    download = await visitor.get(f"/g/{slug}/images/{image_id}/download")
    assert download.status_code == 200 and download.content == original
    assert brightest((await photographer.get(f"/panel/media/preview/{image_id}")).content) < 20

    # Small, in the corner: the centre is black again.
    res = await photographer.post_form(f"/panel/events/{event_id}/edit", settings(
        watermark_kind="logo", watermark_position="bottom_right", watermark_opacity="80"))
    assert res.status_code == 303, res.text
    corner = await preview_once(visitor, url, lambda d: redness(d, CORNER) > 60)
    assert redness(corner, CORNER) > 60 and brightest(corner, CENTRE) < 20
    # Tiled: every quarter carries it.
    assert (await photographer.post_form(f"/panel/events/{event_id}/edit", settings(
        watermark_kind="logo", watermark_position="tiled"))).status_code == 303
    tiled = await preview_once(visitor, url, lambda d: redness(d, (0, 0, 50, 50)) > 40)
    for quarter in [(0, 0, 50, 50), (50, 0, 100, 50), (0, 50, 50, 100), (50, 50, 100, 100)]:
        assert redness(tiled, quarter) > 40, quarter

    # A new logo, the gallery's settings unchanged: new copies with the new logo (blue).
    await save_logo(photographer, logo_png((20, 40, 230)))
    blue = await preview_once(visitor, url, lambda d: redness(d, (0, 0, 50, 50)) < 20)
    assert redness(blue, (0, 0, 50, 50)) < 20 and brightest(blue, (0, 0, 50, 50)) > 30
    # The logo removed: the gallery stays marked, with the studio's name instead.
    await save_logo(photographer, None, remove_logo="on")
    text = await preview_once(visitor, url, lambda d: brightest(d, (0, 0, 50, 50)) > 90)
    assert brightest(text, (0, 0, 50, 50)) > 90 and redness(text, (0, 0, 100, 100)) < 30


async def test_no_logo_no_logo_mark_and_each_studio_its_own(photographer, other_photographer,
                                                            db):
    event_id, _, _, _ = await marked_gallery(photographer)
    # Without a logo the editor says so and offers the choice disabled…
    page = (await photographer.get(f"/panel/events/{event_id}/edit")).text
    assert "no logo yet" in page
    assert 'value="logo"' in page and page.split('value="logo"', 1)[1].split(">", 1)[0].count(
        "disabled") == 1
    # …and a forged post is refused clearly, nothing changed.
    res = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                       settings(title="Changed", watermark_kind="logo"))
    assert res.status_code == 400 and "no logo" in res.text
    assert await scalar(db, "SELECT title || '|' || watermark_kind FROM events WHERE id = :e",
                        e=event_id) == "Marked Wedding|text"
    bad = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                       settings(watermark_kind="sticker"))
    assert bad.status_code == 400
    # Another studio's logo is no help: the check is on the gallery's own studio.
    await save_logo(other_photographer, logo_png((230, 20, 20)))
    res = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                       settings(watermark_kind="logo"))
    assert res.status_code == 400
    # And that studio cannot mark this gallery with its logo either.
    res = await other_photographer.post_form(f"/panel/events/{event_id}/edit",
                                             settings(title="Taken", watermark_kind="logo"))
    assert res.status_code == 404
    assert await scalar(db, "SELECT title || '|' || watermark_kind FROM events WHERE id = :e",
                        e=event_id) == "Marked Wedding|text"
    page = (await other_photographer.get("/panel/events/new")).text
    assert "no logo yet" not in page and "mark-logo-preview" in page


@pytest.mark.browser
async def test_a_client_browses_the_gallery_marked_with_the_studio_logo(browser, photographer,
                                                                        new_client, server):
    """The grid and the lightbox show the logo mark at 1440 and 390 px; the editor shows
    the choice with the logo. Screenshots in tests/artifacts/."""
    from server.demo import draw_photo

    await save_logo(photographer, wordmark_png())
    event_id = await create_gallery(photographer)
    files = [(f"IMG_{4800 + n}.jpg", await asyncio.to_thread(draw_photo, 4800 + n, "Wedding",
                                                             (900, 600))) for n in range(8)]
    assert (await upload(photographer, event_id, files)).status_code == 200
    await wait_processed(photographer, event_id)
    assert (await photographer.post_form(f"/panel/events/{event_id}/edit", settings(
        watermark_kind="logo", watermark_opacity="45"))).status_code == 303
    await photographer.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    slug = detail.split("/g/", 1)[1].split('"', 1)[0]
    host = urlsplit(server.base_url).hostname
    for width, height in ((1440, 900), (390, 844)):
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, seen=errors: seen.append(m.text)
                if m.type == "error" else None)
        await page.goto(f"{server.base_url}/g/{slug}")
        await page.locator(".tile img").first.scroll_into_view_if_needed()
        await expect(page.locator(".tile img").nth(3)).to_have_js_property("complete", True)
        await expect(page.locator(".tile img").first).not_to_have_js_property("naturalWidth", 0)
        await page.evaluate("document.querySelector('#grid, .grid, main')?.scrollIntoView()")
        await page.screenshot(path=f"tests/artifacts/watermark-logo-{width}.png")
        await page.locator(".tile-open").first.click()
        await page.wait_for_timeout(400)
        await page.screenshot(path=f"tests/artifacts/watermark-logo-lightbox-{width}.png")
        assert not errors, errors
        await context.close()
        panel = await browser.new_context(viewport={"width": width, "height": height})
        await panel.add_cookies([{"name": k, "value": v, "domain": host, "path": "/"}
                                 for k, v in photographer.http.cookies.items()])
        editor = await panel.new_page()
        await editor.goto(f"{server.base_url}/panel/events/{event_id}/edit")
        await editor.locator(".mark-kinds").scroll_into_view_if_needed()
        assert await editor.locator('input[name="watermark_kind"][value="logo"]').is_checked()
        await editor.locator(".photos-fieldset").screenshot(
            path=f"tests/artifacts/watermark-editor-{width}.png")
        await panel.close()
