"""A client gallery open while the photographer changes what it holds hears about it at
once: a photo ready or deleted, a new order, photos moved into a set, a set renamed or
deleted each send `{"type": "photos"}` to every open page of that gallery (named visitor
or not, after the commit), and to no other gallery's. The page then offers the new
version (tests/test_browser_gallery_photos_live.py)."""

from __future__ import annotations

import asyncio
import json

from conftest import (
    jpeg_bytes,
    open_gallery_socket,
    pass_gate,
    released_gallery,
    upload,
    wait_processed,
)


async def next_photos(ws, timeout: float = 10) -> dict:
    """The next `photos` message on the socket (others, such as banners, are skipped)."""
    async def read() -> dict:
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "photos":
                return message
    return await asyncio.wait_for(read(), timeout)


async def no_photos(ws, wait: float = 1.5) -> bool:
    try:
        await next_photos(ws, wait)
    except TimeoutError:
        return True
    return False


async def new_set(photographer, event_id: int, name: str) -> int:
    res = await photographer.post_json(f"/panel/events/{event_id}/sets.json", {"name": name})
    assert res.status_code == 200, res.text
    return res.json()["set"]["id"]


async def test_every_change_to_the_photos_reaches_open_pages_and_only_its_own(
        photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, 3)
    _, other_slug, _ = await released_gallery(photographer, 1)
    known, anonymous, elsewhere = new_client(), new_client(), new_client()
    await pass_gate(known, slug)
    await anonymous.get(f"/g/{slug}")
    await pass_gate(elsewhere, other_slug)
    pages = [await open_gallery_socket(known, slug), await open_gallery_socket(anonymous, slug)]
    other_page = await open_gallery_socket(elsewhere, other_slug)
    await asyncio.sleep(0.5)  # the sockets are subscribed
    ids = [image["id"] for image in images]

    ceremony = await new_set(photographer, event_id, "Ceremony")
    changes = [
        ("move", f"/panel/events/{event_id}/sets/move.json",
         {"ids": ids[:2], "set_id": ceremony}),
        ("rename", f"/panel/sets/{ceremony}/rename.json", {"name": "Vows"}),
        ("order", f"/panel/events/{event_id}/photo-order.json", {"ids": list(reversed(ids))}),
        ("delete set", f"/panel/sets/{ceremony}/delete.json", {}),
    ]
    for what, url, body in changes:
        res = await photographer.post_json(url, body)
        assert res.status_code == 200, (what, res.text)
        for ws in pages:
            assert await next_photos(ws) == {"type": "photos"}, what

    res = await photographer.post_form(f"/panel/images/{ids[2]}/delete", {})
    assert res.status_code in (200, 303), res.text
    for ws in pages:
        assert await next_photos(ws) == {"type": "photos"}

    await upload(photographer, event_id, [("new.jpg", jpeg_bytes(300, 200))])
    await wait_processed(photographer, event_id)
    for ws in pages:  # the new photo is ready
        assert await next_photos(ws) == {"type": "photos"}

    assert await no_photos(other_page)
    for ws in [*pages, other_page]:
        await ws.close()


async def test_a_refused_change_tells_nobody(photographer, other_photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, 2)
    visitor = new_client()
    await pass_gate(visitor, slug)
    page = await open_gallery_socket(visitor, slug)
    await asyncio.sleep(0.5)
    ids = [image["id"] for image in images]
    ceremony = await new_set(photographer, event_id, "Ceremony")

    # Another photographer's forged move and a malformed one: nothing moved, nothing said.
    res = await other_photographer.post_json(f"/panel/events/{event_id}/sets/move.json",
                                             {"ids": ids, "set_id": ceremony})
    assert res.status_code == 404
    res = await photographer.post_json(f"/panel/events/{event_id}/sets/move.json",
                                       {"ids": [ids[0], 99_999_999], "set_id": ceremony})
    assert res.status_code == 400
    assert await no_photos(page)
    await page.close()
