"""Tenancy: a photographer sees and touches only their own galleries, images and contacts.

Another photographer's id in any panel URL is a plain 404 — the same answer as an id that
does not exist — for reading and for writing, and nothing of the owner's changes.
"""

from __future__ import annotations

import uuid

from conftest import gate_contact_id, jpeg_bytes, released_gallery, rows, upload

#: Every table whose rows belong to one photographer (column `photographer_id`).
TENANT_TABLES = ("gallery_types", "contacts", "events", "images", "visits", "favorites",
                 "comments", "downloads", "activity_events", "auth_sessions", "devices",
                 "device_links")


async def tenant_rows(db, photographer_id: int) -> dict[str, list]:
    """Everything a photographer owns, row by row, to compare before and after."""
    snapshot = {"photographers": await rows(db, "SELECT * FROM photographers WHERE id=:p",
                                            p=photographer_id)}
    for table in TENANT_TABLES:
        snapshot[table] = await rows(
            db, f"SELECT * FROM {table} WHERE photographer_id=:p ORDER BY 1", p=photographer_id)
    return snapshot


async def owners_world(owner, new_client) -> dict:
    """A released gallery with two processed images and a contact who passed its email gate."""
    title = f"Owner Secret Wedding {uuid.uuid4().hex[:6]}"
    event_id, slug, images = await released_gallery(owner, n_images=2, title=title)
    email = f"client-{uuid.uuid4().hex[:8]}@example.com"
    contact_id = await gate_contact_id(new_client(), slug, email=email)
    return {"event_id": event_id, "slug": slug, "image_id": images[0]["id"],
            "other_image_id": images[1]["id"], "contact_id": contact_id, "title": title,
            "email": email}


def read_urls(w: dict) -> list[str]:
    e, i = w["event_id"], w["image_id"]
    return [
        f"/panel/events/{e}",
        f"/panel/events/{e}/edit",
        f"/panel/events/{e}/images.json",
        f"/panel/media/thumb/{i}",
        f"/panel/media/preview/{i}",
        f"/panel/media/original/{i}",
        f"/panel/contacts/{w['contact_id']}",
    ]


async def test_the_owner_can_open_every_url_of_their_gallery(photographer, new_client):
    # The control for the 404s below: the very same URLs work for their owner.
    world = await owners_world(photographer, new_client)
    for url in read_urls(world):
        res = await photographer.get(url)
        assert res.status_code == 200, url


async def test_another_photographer_gets_404_reading_any_of_them(
        photographer, other_photographer, new_client, db):
    world = await owners_world(photographer, new_client)
    before = await tenant_rows(db, photographer.photographer_id)

    for url in read_urls(world):
        res = await other_photographer.get(url)
        assert res.status_code == 404, url
        assert world["title"] not in res.text and world["email"] not in res.text, url

    assert await tenant_rows(db, photographer.photographer_id) == before


async def test_another_photographer_gets_404_writing_and_changes_nothing(
        photographer, other_photographer, new_client, db):
    world = await owners_world(photographer, new_client)
    e, i = world["event_id"], world["image_id"]
    before = await tenant_rows(db, photographer.photographer_id)
    intruder = other_photographer

    attempts = {
        f"/panel/events/{e}/edit": await intruder.post_form(
            f"/panel/events/{e}/edit", {"title": "Hijacked", "download_size": "original"}),
        f"/panel/events/{e}/status": await intruder.post_form(
            f"/panel/events/{e}/status", {"status": "draft"}),
        f"/panel/events/{e}/cover": await intruder.post_form(
            f"/panel/events/{e}/cover", {"image_id": str(world["other_image_id"])}),
        f"/panel/events/{e}/images": await upload(intruder, e, [("IMG_9999.jpg", jpeg_bytes())]),
        f"/panel/images/{i}/delete": await intruder.post_form(f"/panel/images/{i}/delete"),
        f"/panel/events/{e}/delete": await intruder.post_form(f"/panel/events/{e}/delete"),
    }
    for url, res in attempts.items():
        assert res.status_code == 404, (url, res.status_code, res.text[:300])

    assert await tenant_rows(db, photographer.photographer_id) == before
    for variant in ("thumb", "preview", "original"):  # the files are still there too
        res = await photographer.get(f"/panel/media/{variant}/{i}")
        assert res.status_code == 200, variant
    page = await photographer.get(f"/g/{world['slug']}")
    assert page.status_code == 200 and world["title"] in page.text  # still released


async def test_another_photographers_image_cannot_become_my_cover(
        photographer, other_photographer, new_client, db):
    world = await owners_world(photographer, new_client)
    mine, _, _ = await released_gallery(other_photographer, n_images=1)

    res = await other_photographer.post_form(f"/panel/events/{mine}/cover",
                                             {"image_id": str(world["image_id"])})
    assert res.status_code == 404
    assert await rows(db, "SELECT cover_image_id FROM events WHERE id=:e", e=mine) == [(None,)]


async def test_another_photographers_gallery_type_is_refused_in_the_event_form(
        photographer, other_photographer, db):
    (their_type,) = (await rows(db, "SELECT id FROM gallery_types WHERE photographer_id=:p "
                                    "ORDER BY id LIMIT 1", p=photographer.photographer_id))[0]
    intruder = other_photographer

    res = await intruder.post_form("/panel/events/new", {
        "title": "Borrowed Type", "gallery_type_id": str(their_type),
        "download_size": "original"})
    assert res.status_code == 400
    assert "Pick a gallery type from the list." in res.text
    assert await rows(db, "SELECT id FROM events WHERE photographer_id=:p",
                      p=intruder.photographer_id) == []

    # Editing their own gallery with it is refused the same way, and changes nothing.
    res = await intruder.post_form("/panel/events/new", {"title": "Mine",
                                                         "download_size": "original"})
    mine = int(res.headers["location"].rsplit("/", 1)[1])
    res = await intruder.post_form(f"/panel/events/{mine}/edit", {
        "title": "Mine, renamed", "gallery_type_id": str(their_type),
        "download_size": "original"})
    assert res.status_code == 400
    assert "Pick a gallery type from the list." in res.text
    assert await rows(db, "SELECT title, gallery_type_id FROM events WHERE id=:e",
                      e=mine) == [("Mine", None)]


async def test_another_photographers_gallery_type_cannot_be_deleted(
        photographer, other_photographer, db):
    before = await rows(db, "SELECT id, name FROM gallery_types WHERE photographer_id=:p "
                            "ORDER BY id", p=photographer.photographer_id)
    res = await other_photographer.post_form("/panel/settings/gallery-types",
                                             {"delete": str(before[0][0])})
    assert res.status_code == 404
    assert await rows(db, "SELECT id, name FROM gallery_types WHERE photographer_id=:p "
                          "ORDER BY id", p=photographer.photographer_id) == before


async def test_listing_pages_show_only_my_own_galleries_and_contacts(
        photographer, other_photographer, new_client):
    world = await owners_world(photographer, new_client)

    own_dashboard = (await photographer.get("/panel")).text
    own_contacts = (await photographer.get("/panel/contacts")).text
    assert world["title"] in own_dashboard and world["email"] in own_contacts

    dashboard = await other_photographer.get("/panel")
    contacts = await other_photographer.get("/panel/contacts")
    assert dashboard.status_code == contacts.status_code == 200
    assert world["title"] not in dashboard.text
    assert f"/panel/events/{world['event_id']}\"" not in dashboard.text
    assert world["email"] not in contacts.text
    assert f"/panel/contacts/{world['contact_id']}\"" not in contacts.text
