"""A gallery's photo order: by capture time (the camera's EXIF date; photos without one
after, by file name) unless the photographer picks file name or drags their own order.
Clients see the photographer's order; a forged or partial order changes nothing."""

from __future__ import annotations

import io

from conftest import create_gallery, gallery_photos, upload, wait_processed
from PIL import Image

EXIF_IFD, DATETIME_ORIGINAL = 0x8769, 0x9003


def photo(taken: str | None, color=(90, 120, 150)) -> bytes:
    """A JPEG whose camera says it was taken at `taken` ("2024:06:01 14:00:00")."""
    exif = Image.Exif()
    if taken:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = taken
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


async def gallery_order(client, slug: str) -> list[str]:
    """The file names in the order the client gallery page lists them."""
    return [image["filename"] for image in await gallery_photos(client, slug)]


async def shot_gallery(photographer) -> tuple[int, str, dict[str, int]]:
    event_id = await create_gallery(photographer)
    # Uploaded in neither name nor capture order; one has no date.
    files = [("C_0003.jpg", photo("2024:06:01 14:00:00")), ("A_0001.jpg", photo(None)),
             ("B_0002.jpg", photo("2024:06:01 09:30:00")),
             ("D_0004.jpg", photo("2024:06:01 11:15:00"))]
    res = await upload(photographer, event_id, files)
    assert res.status_code == 200, res.text
    images = await wait_processed(photographer, event_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    slug = detail.split("/g/", 1)[1].split('"', 1)[0]
    return event_id, slug, {i["filename"]: i["id"] for i in images}


async def test_capture_time_then_file_name_then_the_photographers_own_order(
        photographer, new_client):
    event_id, slug, ids = await shot_gallery(photographer)
    visitor = new_client()
    assert await gallery_order(visitor, slug) == [
        "B_0002.jpg", "D_0004.jpg", "C_0003.jpg", "A_0001.jpg"]  # undated last

    res = await photographer.post_form(f"/panel/events/{event_id}/photo-order",
                                       {"order": "filename"})
    assert res.status_code == 303, res.text
    assert await gallery_order(visitor, slug) == [
        "A_0001.jpg", "B_0002.jpg", "C_0003.jpg", "D_0004.jpg"]

    mine = ["D_0004.jpg", "A_0001.jpg", "C_0003.jpg", "B_0002.jpg"]
    res = await photographer.post_json(f"/panel/events/{event_id}/photo-order.json",
                                       {"ids": [ids[name] for name in mine]})
    assert res.status_code == 200, res.text
    assert await gallery_order(visitor, slug) == mine
    # Choosing "my own order" starts from the order shown now (here: capture time again).
    await photographer.post_form(f"/panel/events/{event_id}/photo-order", {"order": "taken"})
    await photographer.post_form(f"/panel/events/{event_id}/photo-order", {"order": "manual"})
    assert await gallery_order(visitor, slug) == [
        "B_0002.jpg", "D_0004.jpg", "C_0003.jpg", "A_0001.jpg"]


async def test_a_forged_order_is_refused_and_changes_nothing(
        photographer, other_photographer, new_client):
    event_id, slug, ids = await shot_gallery(photographer)
    url = f"/panel/events/{event_id}/photo-order.json"
    visitor = new_client()
    before = await gallery_order(visitor, slug)
    _, _, theirs = await shot_gallery(other_photographer)
    every = list(ids.values())
    forged = {
        "one missing": every[:-1],
        "one twice": [*every[:-1], every[0]],
        "another studio's photo": [*every[:-1], next(iter(theirs.values()))],
        "not ids": ["1", "2"],
        "none": [],
    }
    for why, order in forged.items():
        res = await photographer.post_json(url, {"ids": order})
        assert res.status_code == 400, (why, res.text)
    res = await photographer.post_form(f"/panel/events/{event_id}/photo-order",
                                       {"order": "random"})
    assert res.status_code == 400
    # Another photographer cannot reorder this gallery, even with its own ids.
    res = await other_photographer.post_json(url, {"ids": every[::-1]})
    assert res.status_code == 404
    res = await other_photographer.post_form(f"/panel/events/{event_id}/photo-order",
                                             {"order": "filename"})
    assert res.status_code == 404
    assert await gallery_order(visitor, slug) == before
