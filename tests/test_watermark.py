"""A gallery's visible watermark: on the thumbnails and previews its clients browse, in the
studio's name unless told otherwise, never on a download or on the photographer's own view;
new settings make new marked copies; bad settings are refused and change nothing."""

from __future__ import annotations

import asyncio
import io

from conftest import create_gallery, pass_gate, scalar, upload, wait_processed
from PIL import Image


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
