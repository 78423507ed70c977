"""The client's download-size choice: the photographer allows any of original, high-res
(3600 px) and web (2048 px); the client picks one per download (`?size=`). Each size
serves its own file, a size the gallery does not offer is refused and leaves nothing
behind, the editor needs at least one, and purchased files ignore the gallery's sizes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from conftest import (
    Client,
    create_gallery,
    gate_contact_id,
    jpeg_bytes,
    rows,
    scalar,
    seed_price_list,
    upload,
    wait_processed,
)
from PIL import Image

BIG = jpeg_bytes(5000, 3000, color=(30, 120, 200))  # larger than high-res: a copy of its own
SMALL = jpeg_bytes(640, 480, color=(200, 60, 30))  # smaller: every size but web is itself
ALL = ["original", "high", "web"]


async def sized_gallery(photographer: Client, db, sizes: list[str],
                        files: list[tuple[str, bytes]] | None = None, **fields):
    """A released gallery offering `sizes`: (event id, slug, images in upload order)."""
    event_id = await create_gallery(photographer, download_sizes=["", *sizes], **fields)
    res = await upload(photographer, event_id,
                       files or [("Big Day.jpg", BIG), ("IMG_0002.jpg", SMALL)])
    assert res.status_code == 200, res.text
    images = await wait_processed(photographer, event_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303
    slug = await scalar(db, "SELECT slug FROM events WHERE id=:e", e=event_id)
    return event_id, slug, images


def dimensions(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as img:
        return img.format, img.size


async def downloads_of(db, event_id: int) -> list[tuple]:
    return [tuple(r) for r in await rows(
        db, "SELECT kind, scope, image_id, size FROM downloads WHERE event_id=:e ORDER BY id",
        e=event_id)]


async def download_payloads(db, event_id: int) -> list[dict]:
    found = await rows(db, "SELECT payload FROM activity_events WHERE event_id=:e AND kind "
                           "LIKE 'download_%' ORDER BY seq", e=event_id)
    return [p if isinstance(p, dict) else json.loads(p) for (p,) in found]


def large_copy(server, db_key: str) -> Path:
    derived = db_key.rsplit(".", 1)[0] + ".jpg"
    return server.media_root / "large" / derived[:2] / derived


async def test_each_offered_size_serves_its_own_file(server, photographer, new_client, db):
    event_id, slug, images = await sized_gallery(photographer, db, ALL)
    big, small = images[0]["id"], images[1]["id"]
    # The high-res copy is made at upload, only for the photo larger than it.
    keys = dict(await rows(db, "SELECT id, storage_key FROM images WHERE event_id=:e",
                           e=event_id))
    assert large_copy(server, keys[big]).is_file()
    assert not large_copy(server, keys[small]).exists()
    visitor = new_client()
    await gate_contact_id(visitor, slug)

    original = await visitor.get(f"/g/{slug}/images/{big}/download?size=original")
    assert original.status_code == 200 and original.content == BIG

    high = await visitor.get(f"/g/{slug}/images/{big}/download?size=high")
    assert high.status_code == 200
    assert dimensions(high.content) == ("JPEG", (3600, 2160))
    assert 'Big%20Day.jpg' in high.headers["content-disposition"]

    web = await visitor.get(f"/g/{slug}/images/{big}/download?size=web")
    preview = await visitor.get(f"/g/{slug}/media/preview/{big}")
    assert web.status_code == 200 and web.content == preview.content  # the preview itself
    assert dimensions(web.content) == ("JPEG", (2048, 1229))

    # A photo no larger than high-res is served as it is, and recorded as what it is.
    small_high = await visitor.get(f"/g/{slug}/images/{small}/download?size=high")
    assert small_high.status_code == 200 and small_high.content == SMALL

    # No size asked: the largest the gallery offers, as before there was a choice.
    plain = await visitor.get(f"/g/{slug}/images/{big}/download")
    assert plain.status_code == 200 and plain.content == BIG

    assert await downloads_of(db, event_id) == [
        ("single", "image", big, "original"), ("single", "image", big, "high"),
        ("single", "image", big, "web"), ("single", "image", small, "original"),
        ("single", "image", big, "original")]
    assert [p["size"] for p in await download_payloads(db, event_id)] == [
        "original", "high", "web", "original", "original"]



async def test_a_photo_processed_before_high_res_existed_gets_it_on_first_need(
        server, photographer, new_client, db):
    event_id, slug, images = await sized_gallery(photographer, db, ["high", "web"])
    big = images[0]["id"]
    key = await scalar(db, "SELECT storage_key FROM images WHERE id=:i", i=big)
    copy = large_copy(server, key)
    copy.unlink()  # as if processed before there were high-res copies
    visitor = new_client()
    await gate_contact_id(visitor, slug)

    res = await visitor.get(f"/g/{slug}/images/{big}/download?size=high")
    assert res.status_code == 200 and dimensions(res.content) == ("JPEG", (3600, 2160))
    assert copy.is_file() and copy.read_bytes() == res.content  # kept for the next one

    copy.unlink()  # the ZIP makes the missing ones before it is built
    res = await visitor.get(f"/g/{slug}/download.zip?scope=all&size=high")
    assert res.status_code == 200
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert dimensions(archive.read("Big Day.jpg")) == ("JPEG", (3600, 2160))
        assert archive.read("IMG_0002.jpg") == SMALL
    assert copy.is_file()

    # Deleting the photo deletes its high-res copy too.
    res = await photographer.post_form(f"/panel/images/{big}/delete")
    assert res.status_code in (200, 303), res.text
    assert not copy.exists()


async def test_a_size_the_gallery_does_not_offer_is_refused_and_not_recorded(
        photographer, new_client, db):
    event_id, slug, images = await sized_gallery(photographer, db, ["web"])
    big = images[0]["id"]
    visitor = new_client()
    await gate_contact_id(visitor, slug)
    before = await scalar(db, "SELECT count(*) FROM activity_events WHERE event_id=:e",
                          e=event_id)

    refused = await visitor.get(f"/g/{slug}/images/{big}/download?size=original")
    assert refused.status_code == 403
    assert "does not offer original downloads" in refused.text
    refused = await visitor.get(f"/g/{slug}/download.zip?scope=all&size=high")
    assert refused.status_code == 403
    assert "does not offer high resolution downloads" in refused.text
    unknown = await visitor.get(f"/g/{slug}/images/{big}/download?size=huge")
    assert unknown.status_code == 400

    assert await downloads_of(db, event_id) == []
    assert await scalar(db, "SELECT count(*) FROM activity_events WHERE event_id=:e",
                        e=event_id) == before

    # The one size it offers needs no choice: served without asking.
    res = await visitor.get(f"/g/{slug}/images/{big}/download")
    assert res.status_code == 200 and dimensions(res.content) == ("JPEG", (2048, 1229))
    assert await downloads_of(db, event_id) == [("single", "image", big, "web")]


async def test_a_zip_at_the_chosen_size(photographer, new_client, db):
    event_id, slug, images = await sized_gallery(photographer, db, ["original", "web"])
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug)

    res = await visitor.get(f"/g/{slug}/download.zip?scope=all&size=web")
    assert res.status_code == 200
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert sorted(archive.namelist()) == ["Big Day.jpg", "IMG_0002.jpg"]
        assert dimensions(archive.read("Big Day.jpg")) == ("JPEG", (2048, 1229))
        assert dimensions(archive.read("IMG_0002.jpg")) == ("JPEG", (640, 480))

    res = await visitor.get(f"/g/{slug}/download.zip?scope=all&size=original")
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert archive.read("Big Day.jpg") == BIG and archive.read("IMG_0002.jpg") == SMALL

    assert await downloads_of(db, event_id) == [("bulk", "all", None, "web"),
                                                 ("bulk", "all", None, "original")]
    assert [p["size"] for p in await download_payloads(db, event_id)] == ["web", "original"]
    # The photographer's Activity names each size in words.
    page = (await photographer.get(
        f"/panel/activity/{event_id}/{contact_id}?tab=downloads")).text
    assert "(web size)" in page and "(original)" in page and "(web)" not in page


async def test_the_editor_needs_at_least_one_size_and_keeps_their_order(photographer, db):
    event_id = await create_gallery(photographer, download_sizes=["", "web", "original"])
    assert await scalar(db, "SELECT download_sizes FROM events WHERE id=:e",
                        e=event_id) == "original,web"
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    assert "downloads: original, web 2048 px" in detail
    form = (await photographer.get(f"/panel/events/{event_id}/edit")).text
    assert 'value="original" checked' in form and 'value="web" checked' in form
    assert 'value="high" checked' not in form

    base = {"title": "Smith Wedding", "download_single": "on", "download_bulk": "on"}
    none = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                        {**base, "title": "Renamed", "download_sizes": ""})
    assert none.status_code == 400 and "Pick at least one download size." in none.text
    odd = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                       {**base, "download_sizes": ["", "web", "poster"]})
    assert odd.status_code == 400
    assert await rows(db, "SELECT title, download_sizes FROM events WHERE id=:e",
                      e=event_id) == [("Smith Wedding", "original,web")]

    res = await photographer.post_form(f"/panel/events/{event_id}/edit",
                                       {**base, "download_sizes": ["", "high"]})
    assert res.status_code == 303
    assert await scalar(db, "SELECT download_sizes FROM events WHERE id=:e",
                        e=event_id) == "high"


async def test_another_photographers_gallery_sizes_cannot_be_changed(
        photographer, other_photographer, db):
    event_id = await create_gallery(photographer, download_sizes=["", "original"])
    res = await other_photographer.post_form(f"/panel/events/{event_id}/edit", {
        "title": "Hijacked", "download_sizes": ["", "web"]})
    assert res.status_code == 404
    assert await rows(db, "SELECT title, download_sizes FROM events WHERE id=:e",
                      e=event_id) == [("Smith Wedding", "original")]


async def test_purchased_files_ignore_the_gallerys_sizes(photographer, new_client, db):
    event_id, slug, images = await sized_gallery(photographer, db, ["web"])
    ids = await seed_price_list(db, photographer.photographer_id, event_id)
    visitor = new_client()
    await gate_contact_id(visitor, slug)
    big = images[0]["id"]
    await visitor.post_json(f"/g/{slug}/cart/items", {"item_id": ids["full"], "image_id": big})
    cart = (await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane Client", "email": "jane@example.com"})).json()
    url = (await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]})
           ).json()["order_url"]
    order_id = await scalar(db, "SELECT id FROM orders WHERE photographer_id=:p",
                            p=photographer.photographer_id)
    res = await photographer.post_form(f"/panel/store/orders/{order_id}/state",
                                       {"state": "paid"})
    assert res.status_code == 303, res.text

    bought = await visitor.get(f"{url}/files/{big}")
    assert bought.status_code == 200 and bought.content == BIG  # full size, not web
    archive = await visitor.get(f"{url}/files.zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert opened.read("Big Day.jpg") == BIG
    sizes = [size for *_, size in await downloads_of(db, event_id)]
    assert sizes == ["original", "original"]


def test_the_migration_carries_each_gallerys_size_over(tmp_path):
    """Galleries made before the choice keep what they offered: original or web."""
    import sqlite3

    from server.migrate import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0012")
    with sqlite3.connect(path) as conn:
        for n, size in enumerate(("original", "web")):
            conn.execute(
                "INSERT INTO events (photographer_id, title, slug, status, download_single, "
                "download_bulk, download_size, created_at, updated_at) VALUES (1, 'Old', ?, "
                "'draft', 1, 1, ?, '2026-01-01', '2026-01-01')", (f"old-{n}", size))
    upgrade(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT download_size, download_sizes FROM events ORDER BY id"
                            ).fetchall() == [("original", "original"), ("web", "web")]
