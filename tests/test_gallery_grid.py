"""Big galleries stay light: the client gallery's HTML holds only the first page of tiles
(gallery.js builds the rest as the visitor scrolls), while its JSON holds every photo, its
pixel size, and the visitor's marks on photos beyond that page (favorites, comments)."""

from __future__ import annotations

import json
import re

from conftest import (
    gallery_photos,
    gate_contact_id,
    pass_gate,
    released_gallery,
    scalar,
    verify_device,
)
from sqlalchemy import text

FIRST_PAGE = 30  # server/gallery_grid.py
TILE = re.compile(r'<figure class="tile[^"]*" data-image-id="(\d+)" data-index="(\d+)" '
                  r'style="--ar: ([\d.]+)"')


async def grow_gallery(db, event_id: int, total: int) -> None:
    """Fill a gallery up to `total` ready photos with rows copied from an uploaded one
    (the page reads rows only, no photo file), named after the uploads so they sort
    last, every third one a portrait."""
    have = await scalar(db, "SELECT count(*) FROM images WHERE event_id=:e", e=event_id)
    source = await scalar(db, "SELECT min(id) FROM images WHERE event_id=:e", e=event_id)
    async with db.begin() as conn:
        for n in range(have, total):
            portrait = n % 3 == 0
            await conn.execute(text(
                "INSERT INTO images (photographer_id, event_id, filename, storage_key, position,"
                " width, height, bytes, taken_at, state, created_at, attempts)"
                " SELECT photographer_id, event_id, :name, :key, :pos, :w, :h, bytes, taken_at,"
                " state, created_at, attempts FROM images WHERE id=:src"),
                {"name": f"IMG_{5000 + n}.jpg", "key": f"grid-{event_id}-{n}", "pos": n,
                 "w": 2000 if portrait else 3000, "h": 3000 if portrait else 2000,
                 "src": source})


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="gallery-data">(.*?)</script>',
                      html, re.S)
    assert found, "the page embeds its data"
    return json.loads(found.group(1))


async def test_a_big_gallery_renders_one_page_of_tiles_and_embeds_every_photo(
        photographer, new_client, db):
    event_id, slug, _ = await released_gallery(photographer, 3)
    await grow_gallery(db, event_id, FIRST_PAGE + 25)
    page = await new_client().get(f"/g/{slug}")
    assert page.status_code == 200
    tiles = TILE.findall(page.text)
    photos = await gallery_photos(new_client(), slug)
    assert len(tiles) == FIRST_PAGE
    assert len(photos) == FIRST_PAGE + 25
    ids = [img["id"] for img in photos]
    assert len(set(ids)) == len(ids)
    # The HTML's tiles are the first page of the same order, each at its photo's ratio.
    assert [int(t[0]) for t in tiles] == ids[:FIRST_PAGE]
    assert [int(t[1]) for t in tiles] == list(range(FIRST_PAGE))
    for (_, index, ratio) in tiles:
        img = photos[int(index)]
        assert abs(float(ratio) - img["w"] / img["h"]) < 0.001
    assert {round(img["w"] / img["h"], 2) for img in photos} >= {0.67, 1.5}
    assert page.text.count('class="count">' + str(FIRST_PAGE + 25)) == 1  # "All photos 85"


async def test_a_tile_offers_both_variants_and_reserves_its_space(photographer, new_client):
    _, slug, images = await released_gallery(photographer, 2)
    html = (await new_client().get(f"/g/{slug}")).text
    image_id = images[0]["id"]
    tile = re.search(rf'data-image-id="{image_id}".*?</figure>', html, re.S).group(0)
    img = re.search(r"<img [^>]*>", tile).group(0)
    assert f'/g/{slug}/media/thumb/{image_id} 400w' in img  # 640×480: landscape
    assert f'/g/{slug}/media/preview/{image_id} 2048w' in img
    assert 'sizes="' in img and 'loading="lazy"' in img
    assert 'width="640"' in img and 'height="480"' in img  # the box before it loads


async def test_marks_beyond_the_first_page_are_in_the_page_data(photographer, new_client, db):
    event_id, slug, _ = await released_gallery(photographer, 3)
    await grow_gallery(db, event_id, FIRST_PAGE + 12)
    visitor = new_client()
    await gate_contact_id(visitor, slug)
    photos = await gallery_photos(visitor, slug)
    far, farther = photos[FIRST_PAGE + 5]["id"], photos[-1]["id"]
    res = await visitor.post_json(f"/g/{slug}/images/{far}/favorite", {"on": True})
    assert res.status_code == 200
    res = await visitor.post_json(f"/g/{slug}/images/{farther}/comments",
                                  {"body": "Can this one be brighter?"})
    assert res.status_code == 200

    html = (await visitor.get(f"/g/{slug}")).text
    data = page_data(html)
    assert len(TILE.findall(html)) == FIRST_PAGE
    assert data["state"]["favorites"] == [far]
    assert data["state"]["threads"] == {str(farther): 1}
    assert f'data-image-id="{far}"' not in html  # not rendered: built by gallery.js
    assert re.search(r'id="fav-count">1<', html)


async def test_a_small_gallery_renders_every_tile(photographer, new_client):
    _, slug, images = await released_gallery(photographer, 3)
    html = (await new_client().get(f"/g/{slug}")).text
    assert sorted(int(t[0]) for t in TILE.findall(html)) == sorted(i["id"] for i in images)
    assert len(await gallery_photos(new_client(), slug)) == 3


async def test_a_file_name_cannot_break_out_of_the_page_data(photographer, new_client, db):
    event_id, slug, _ = await released_gallery(photographer, 1)
    await grow_gallery(db, event_id, 2)
    hostile = "IMG_</script><img src=x onerror=alert(1)>&'.jpg"
    async with db.begin() as conn:
        await conn.execute(text("UPDATE images SET filename=:n WHERE event_id=:e AND "
                                "storage_key LIKE 'grid-%'"), {"n": hostile, "e": event_id})
    html = (await new_client().get(f"/g/{slug}")).text
    assert "</script><img" not in html
    res = await new_client().get(f"/g/{slug}/photos.json")
    assert res.headers["content-type"] == "application/json"  # never rendered as HTML
    assert hostile in [img["filename"] for img in res.json()]


async def test_marks_json_is_what_the_page_would_show_this_visitor(photographer, new_client):
    _, slug, images = await released_gallery(photographer, 3)
    first, second = new_client(), new_client()
    assert (await first.get(f"/g/{slug}/marks.json")).status_code == 403  # before the gate
    await pass_gate(first, slug, email="nora@example.com")
    await first.post_json(f"/g/{slug}/images/{images[1]['id']}/favorite", {"on": True})
    await first.post_json(f"/g/{slug}/images/{images[2]['id']}/comments", {"body": "Lovely"})
    # A second device: only its own doings until it follows the emailed link…
    await pass_gate(second, slug, email="nora@example.com")
    res = await second.get(f"/g/{slug}/marks.json")
    assert res.status_code == 200 and res.headers["cache-control"] == "no-store"
    assert res.json() == {"favorites": [], "threads": {}, "unread": []}
    # …then the client's, exactly as its page embeds them.
    assert (await verify_device(second, slug, "nora@example.com")).status_code == 303
    marks = (await second.get(f"/g/{slug}/marks.json")).json()
    assert marks == {"favorites": [images[1]["id"]], "threads": {str(images[2]["id"]): 1},
                     "unread": []}
    state = page_data((await second.get(f"/g/{slug}")).text)["state"]
    assert {k: state[k] for k in marks} == marks


async def test_photos_json_is_revalidated_and_closed_behind_the_password(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 3, password="sea glass")
    visitor = new_client()
    res = await visitor.get(f"/g/{slug}/photos.json")
    assert res.status_code == 403 and images[0]["filename"] not in res.text
    assert (await visitor.post_form(f"/g/{slug}/unlock", {"password": "sea glass"})
            ).status_code == 303
    first = await visitor.get(f"/g/{slug}/photos.json")
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    assert sorted(p["id"] for p in first.json()) == sorted(i["id"] for i in images)
    etag = first.headers["etag"]
    same = await visitor.get(f"/g/{slug}/photos.json", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    # A photo deleted: the next use gets the new list, not the browser's copy.
    res = await photographer.post_form(f"/panel/images/{images[0]['id']}/delete")
    assert res.status_code in (200, 303), res.text
    after = await visitor.get(f"/g/{slug}/photos.json", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert images[0]["id"] not in [p["id"] for p in after.json()]
