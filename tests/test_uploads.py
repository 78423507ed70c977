"""Uploading images: originals kept with their exact names, derived sizes made by the job,
bad files refused one by one while the rest of the batch goes in."""

from __future__ import annotations

import io

from conftest import create_gallery, jpeg_bytes, rows, upload, wait_processed
from PIL import Image


async def test_upload_keeps_exact_name_and_makes_thumbnail_and_preview(photographer, server, db):
    event_id = await create_gallery(photographer)
    big = jpeg_bytes(3000, 2000)
    res = await upload(photographer, event_id, [("IMG_4821 (edited) é.JPG", big)])
    assert res.status_code == 200
    assert res.json()["results"][0]["ok"] is True

    images = await wait_processed(photographer, event_id)
    assert [i["filename"] for i in images] == ["IMG_4821 (edited) é.JPG"]
    assert images[0]["state"] == "ready"

    thumb = await photographer.get(f"/panel/media/thumb/{images[0]['id']}")
    preview = await photographer.get(f"/panel/media/preview/{images[0]['id']}")
    original = await photographer.get(f"/panel/media/original/{images[0]['id']}")
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 400
    assert max(Image.open(io.BytesIO(preview.content)).size) == 2048
    assert original.content == big
    (key,) = (await rows(db, "SELECT storage_key FROM images WHERE event_id=:e", e=event_id))[0]
    assert "IMG_4821" not in key  # the client's name never reaches the disk


async def test_bad_files_are_refused_with_a_message_each_and_the_rest_go_in(photographer, db):
    event_id = await create_gallery(photographer)
    good = jpeg_bytes()
    truncated = good[: len(good) // 2]
    bomb = io.BytesIO()
    Image.new("1", (13000, 13000)).save(bomb, "PNG")  # 169 Mpx > the 120 Mpx limit
    res = await upload(photographer, event_id, [
        ("IMG_0001.jpg", good),
        ("notes.txt", b"this is not an image"),
        ("IMG_0002.jpg", truncated),
        ("huge.png", bomb.getvalue()),
        ("empty.jpg", b""),
    ])
    assert res.status_code == 200
    results = {r["filename"]: r for r in res.json()["results"]}
    assert results["IMG_0001.jpg"]["ok"]
    assert "Not an image" in results["notes.txt"]["error"]
    assert "truncated" in results["IMG_0002.jpg"]["error"]
    assert "too large" in results["huge.png"]["error"]
    assert "empty" in results["empty.jpg"]["error"]
    names = await rows(db, "SELECT filename FROM images WHERE event_id=:e", e=event_id)
    assert [n for (n,) in names] == ["IMG_0001.jpg"]
    await wait_processed(photographer, event_id)


async def test_a_batch_of_only_bad_files_is_a_400(photographer, db):
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [("x.jpg", b"nope")])
    assert res.status_code == 400
    assert await rows(db, "SELECT id FROM images WHERE event_id=:e", e=event_id) == []
