"""The client's gallery at /g/<slug>: what a visitor sees and what each action leaves behind.

A draft or expired gallery is a clear page, never a crash; a password gallery opens only
with its password; favoriting, commenting and downloading need the email gate first, and
every one of them writes its state row plus exactly one ActivityEvent numbered 1, 2, 3…
for the photographer. Downloads keep the exact file names and bytes and honour the
gallery's download settings (single / bulk on or off, web size, PIN).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from conftest import (
    Client,
    create_gallery,
    gallery_photos,
    gate_contact_id,
    jpeg_bytes,
    released_gallery,
    rows,
    scalar,
    upload,
    wait_processed,
)
from PIL import Image

GATE_MESSAGE = "Tell us your name and email first."


# Local helpers ---------------------------------------------------------------------------


async def gallery_with(photographer: Client, db, files: list[tuple[str, bytes]],
                       release: bool = True, **fields) -> tuple[int, str, list[dict]]:
    """A gallery holding exactly these files: (event id, slug, images in upload order)."""
    event_id = await create_gallery(photographer, **fields)
    res = await upload(photographer, event_id, files)
    assert res.status_code == 200, res.text
    images = await wait_processed(photographer, event_id)
    assert [i["state"] for i in images] == ["ready"] * len(files)
    if release:
        res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                           {"status": "released"})
        assert res.status_code == 303
    slug = await scalar(db, "SELECT slug FROM events WHERE id=:e", e=event_id)
    return event_id, slug, images


def attachment_name(header: str) -> str:
    """The file name a browser saves under (RFC 6266: filename* wins over filename)."""
    extended = re.search(r"filename\*=(?i:utf-8)''([^;]+)", header)
    if extended:
        return unquote(extended.group(1))
    plain = re.search(r'filename="([^"]*)"', header)
    assert plain, header
    return plain.group(1)


def as_dict(payload) -> dict:
    return json.loads(payload) if isinstance(payload, str) else payload


async def activity(db, photographer_id: int) -> list[tuple]:
    """(seq, kind, event_id, contact_id, payload) of the photographer, in seq order."""
    return [
        (seq, kind, event_id, contact_id, as_dict(payload))
        for seq, kind, event_id, contact_id, payload in await rows(
            db, "SELECT seq, kind, event_id, contact_id, payload FROM activity_events "
                "WHERE photographer_id=:p ORDER BY seq", p=photographer_id)
    ]


async def kinds(db, photographer_id: int) -> list[str]:
    return [kind for _, kind, *_ in await activity(db, photographer_id)]


async def count(db, table: str, photographer_id: int, where: str = "", **params) -> int:
    sql = f"SELECT COUNT(*) FROM {table} WHERE photographer_id=:p"
    return await scalar(db, sql + (f" AND {where}" if where else ""), p=photographer_id,
                        **params)


async def visitor_past_gate(new_client, slug: str, email: str = "jane@example.com",
                            name: str = "Jane Client") -> tuple[Client, int]:
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug, email=email, name=name)
    return visitor, contact_id


async def edit(photographer: Client, event_id: int, **fields) -> None:
    """Post the event editor the way the panel does (every field, unchecked boxes absent)."""
    data = {"title": "Smith Wedding", "download_single": "on", "download_bulk": "on",
            "download_size": "original", **fields}
    res = await photographer.post_form(f"/panel/events/{event_id}/edit", data)
    assert res.status_code == 303, res.text


# Closed galleries ------------------------------------------------------------------------


async def test_a_draft_gallery_is_a_clear_404_page_for_clients(photographer, new_client, db):
    _, slug, images = await gallery_with(photographer, db, [("IMG_0001.jpg", jpeg_bytes())],
                                         release=False)
    visitor = new_client()

    page = await visitor.get(f"/g/{slug}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "This gallery does not exist or is not published yet." in page.text
    assert "IMG_0001.jpg" not in page.text

    res = await visitor.post_json(f"/g/{slug}/gate", {"email": "jane@example.com",
                                                      "name": "Jane"})
    assert res.status_code == 404
    assert res.json()["error"] == "This gallery does not exist or is not published yet."
    res = await visitor.get(f"/g/{slug}/media/thumb/{images[0]['id']}")
    assert res.status_code == 404
    assert await count(db, "contacts", photographer.photographer_id) == 0

    assert (await visitor.get("/g/no-such-gallery-000000")).status_code == 404


async def test_an_expired_gallery_is_a_clear_410_page(photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    await edit(photographer, event_id, expires_on=yesterday)
    visitor = new_client()

    page = await visitor.get(f"/g/{slug}")
    assert page.status_code == 410
    assert page.headers["content-type"].startswith("text/html")
    assert "This gallery has expired." in page.text
    assert images[0]["filename"] not in page.text

    res = await visitor.post_json(f"/g/{slug}/gate", {"email": "jane@example.com",
                                                      "name": "Jane"})
    assert res.status_code == 410
    assert "expired" in res.json()["error"]
    assert (await visitor.get(f"/g/{slug}/media/thumb/{images[0]['id']}")).status_code == 410
    assert await count(db, "contacts", photographer.photographer_id) == 0


async def test_a_future_expiry_date_keeps_the_gallery_open(photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, 1)
    next_month = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    await edit(photographer, event_id, expires_on=next_month)
    page = await new_client().get(f"/g/{slug}")
    assert page.status_code == 200
    assert images[0]["filename"] in page.text


# Password --------------------------------------------------------------------------------


async def test_a_password_gallery_opens_only_with_its_password(photographer, new_client):
    _, slug, images = await released_gallery(photographer, 1, password="blue hydrangea")
    thumb = f"/g/{slug}/media/thumb/{images[0]['id']}"
    visitor = new_client()

    page = await visitor.get(f"/g/{slug}")
    assert page.status_code == 200
    assert "This gallery is private." in page.text
    assert images[0]["filename"] not in page.text
    assert (await visitor.get(thumb)).status_code == 403

    res = await visitor.post_form(f"/g/{slug}/unlock", {"password": "blue hydrangeas"})
    assert res.status_code == 400
    assert "That password is not right." in res.text
    assert "pr_unlock" not in res.cookies
    assert "This gallery is private." in (await visitor.get(f"/g/{slug}")).text

    res = await visitor.post_form(f"/g/{slug}/unlock", {"password": "blue hydrangea"})
    assert res.status_code == 303
    assert res.headers["location"] == f"/g/{slug}"
    assert "pr_unlock" in res.cookies
    page = await visitor.get(f"/g/{slug}")
    assert images[0]["filename"] in page.text and "This gallery is private." not in page.text
    assert (await visitor.get(thumb)).status_code == 200

    # The cookie is what unlocks it: another browser is still in front of the lock.
    assert "This gallery is private." in (await new_client().get(f"/g/{slug}")).text


# The email gate --------------------------------------------------------------------------


async def test_client_actions_before_the_gate_are_403_with_a_message(photographer,
                                                                     new_client, db):
    _, slug, images = await released_gallery(photographer, 1)
    image = f"/g/{slug}/images/{images[0]['id']}"
    visitor = new_client()
    await visitor.get(f"/g/{slug}")
    as_json = {"Accept": "application/json"}

    answers = [
        await visitor.post_json(f"{image}/favorite", {"on": True}),
        await visitor.post_json(f"{image}/comments", {"body": "Love it"}),
        await visitor.get(f"{image}/download", headers=as_json),
        await visitor.get(f"/g/{slug}/download.zip?scope=all", headers=as_json),
    ]
    for res in answers:
        assert res.status_code == 403, res.request.url
        assert res.json()["error"] == GATE_MESSAGE

    for table in ("contacts", "visits", "favorites", "comments", "downloads",
                  "activity_events"):
        assert await count(db, table, photographer.photographer_id) == 0, table


async def test_the_gate_makes_one_contact_and_a_visit_per_gallery(photographer,
                                                                   other_photographer,
                                                                   new_client, db):
    first_id, first_slug, _ = await released_gallery(photographer, 1)
    second_id, second_slug, _ = await released_gallery(photographer, 1)
    pid = photographer.photographer_id

    visitor, contact_id = await visitor_past_gate(new_client, first_slug,
                                                  email="jane@example.com", name="Jane Client")
    assert await rows(db, "SELECT id, email, name FROM contacts WHERE photographer_id=:p",
                      p=pid) == [(contact_id, "jane@example.com", "Jane Client")]
    ((event_id, visit_contact, first_at, last_at),) = await rows(
        db, "SELECT event_id, contact_id, first_at, last_at FROM visits WHERE photographer_id=:p",
        p=pid)
    assert (event_id, visit_contact) == (first_id, contact_id)
    assert first_at is not None and last_at is not None and first_at <= last_at
    assert "Jane Client" in (await visitor.get(f"/g/{first_slug}")).text

    # The same email in another gallery of this photographer (another browser, other case)
    # is the same contact, with a second visit.
    _, again = await visitor_past_gate(new_client, second_slug, email="Jane@Example.COM",
                                       name="Jane Client")
    assert again == contact_id
    assert await count(db, "contacts", pid) == 1
    assert sorted(await rows(db, "SELECT event_id, contact_id FROM visits "
                                 "WHERE photographer_id=:p", p=pid)) == [
        (first_id, contact_id), (second_id, contact_id)]

    # Another photographer's gallery knows nothing of her: a contact of its own.
    _, other_slug, _ = await released_gallery(other_photographer, 1)
    _, theirs = await visitor_past_gate(new_client, other_slug, email="jane@example.com")
    assert theirs != contact_id
    assert await count(db, "contacts", other_photographer.photographer_id) == 1
    assert await count(db, "contacts", pid) == 1


# Favorites -------------------------------------------------------------------------------


async def test_favorite_toggles_rows_and_logs_each_change_once(photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 2)
    pid, image_id = photographer.photographer_id, images[0]["id"]
    visitor, contact_id = await visitor_past_gate(new_client, slug)
    url = f"/g/{slug}/images/{image_id}/favorite"

    async def favorites() -> list[tuple]:
        return await rows(db, "SELECT image_id, contact_id, event_id FROM favorites "
                              "WHERE photographer_id=:p", p=pid)

    res = await visitor.post_json(url, {"on": True})
    assert res.status_code == 200 and res.json() == {"ok": True, "on": True}
    assert await favorites() == [(image_id, contact_id, event_id)]
    assert await kinds(db, pid) == ["visit", "favorite_added"]
    assert 'aria-pressed="true"' in (await visitor.get(f"/g/{slug}")).text

    # Asking for the state it is already in changes nothing and logs nothing.
    assert (await visitor.post_json(url, {"on": True})).status_code == 200
    assert await favorites() == [(image_id, contact_id, event_id)]
    assert await kinds(db, pid) == ["visit", "favorite_added"]

    res = await visitor.post_json(url, {"on": False})
    assert res.status_code == 200 and res.json()["on"] is False
    assert await favorites() == []
    assert await kinds(db, pid) == ["visit", "favorite_added", "favorite_removed"]

    assert (await visitor.post_json(url, {"on": False})).status_code == 200
    assert await favorites() == []
    assert await kinds(db, pid) == ["visit", "favorite_added", "favorite_removed"]

    log = await activity(db, pid)
    for _, _, logged_event, logged_contact, payload in log[1:]:
        assert (logged_event, logged_contact) == (event_id, contact_id)
        assert payload["image_id"] == image_id
        assert payload["filename"] == images[0]["filename"]


# Comments --------------------------------------------------------------------------------

HOSTILE = '<script>alert("hi")</script> & <b>bold</b> \'quoted\''


async def test_comments_are_plain_text_kept_verbatim(photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 2)
    pid, image_id = photographer.photographer_id, images[0]["id"]
    visitor, contact_id = await visitor_past_gate(
        new_client, slug, name="<script>alert('name')</script>")
    url = f"/g/{slug}/images/{image_id}/comments"

    res = await visitor.post_json(url, {"body": HOSTILE})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/json")
    assert [(c["author"], c["body"]) for c in res.json()["comments"]] == [("client", HOSTILE)]
    assert await rows(db, "SELECT image_id, contact_id, author, body FROM comments "
                          "WHERE photographer_id=:p", p=pid) == [
        (image_id, contact_id, "client", HOSTILE)]
    assert await kinds(db, pid) == ["visit", "comment_added"]

    res = await visitor.get(url, headers={"Accept": "application/json"})
    assert [c["body"] for c in res.json()["comments"]] == [HOSTILE]
    # Another image's thread is separate.
    other = await visitor.get(f"/g/{slug}/images/{images[1]['id']}/comments")
    assert other.json() == {"comments": []}

    page = (await visitor.get(f"/g/{slug}")).text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page  # shown, escaped


async def test_a_file_name_never_becomes_markup_in_the_gallery(photographer, new_client, db):
    name = "<script>alert(1)<img src=x onerror=alert(2)>.jpg"
    _, slug, images = await gallery_with(photographer, db, [(name, jpeg_bytes())])
    assert images[0]["filename"] == name
    page = (await new_client().get(f"/g/{slug}")).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert (await gallery_photos(new_client(), slug))[0]["filename"] == name


# Single downloads ------------------------------------------------------------------------


async def test_a_single_download_is_the_exact_original_under_its_exact_name(
        photographer, new_client, db):
    name = "IMG_4821 (edited) é, Anna's final.JPG"
    original = jpeg_bytes(900, 600, color=(10, 200, 30))
    event_id, slug, images = await gallery_with(
        photographer, db, [(name, original), ("IMG_0002.jpg", jpeg_bytes())])
    pid = photographer.photographer_id
    image_id = next(i["id"] for i in images if i["filename"] == name)
    visitor, contact_id = await visitor_past_gate(new_client, slug)

    res = await visitor.get(f"/g/{slug}/images/{image_id}/download")
    assert res.status_code == 200
    assert res.content == original
    assert res.headers["content-disposition"].startswith("attachment")
    assert attachment_name(res.headers["content-disposition"]) == name

    assert await rows(db, "SELECT event_id, contact_id, image_id, kind, size, file_count, bytes "
                          "FROM downloads WHERE photographer_id=:p", p=pid) == [
        (event_id, contact_id, image_id, "single", "original", 1, len(original))]
    log = await activity(db, pid)
    assert [kind for _, kind, *_ in log] == ["visit", "download_single"]
    assert log[-1][4]["image_id"] == image_id
    assert log[-1][4]["filename"] == name


async def test_web_size_downloads_a_jpeg_no_larger_than_2048px(photographer, new_client, db):
    event_id, slug, images = await gallery_with(
        photographer, db, [("Big Day.png", png_bytes(3000, 2000)),
                           ("IMG_0002.jpg", jpeg_bytes(640, 480))], download_size="web")
    visitor, _ = await visitor_past_gate(new_client, slug)

    res = await visitor.get(f"/g/{slug}/images/{images[0]['id']}/download")
    assert res.status_code == 200
    picture = Image.open(io.BytesIO(res.content))
    assert picture.format == "JPEG"
    assert max(picture.size) <= 2048
    assert picture.width > picture.height  # the same picture, scaled down
    assert attachment_name(res.headers["content-disposition"]) == "Big Day.jpg"
    assert await rows(db, "SELECT kind, size FROM downloads WHERE event_id=:e",
                      e=event_id) == [("single", "web")]

    # The ZIP holds the web size too, under the same names.
    res = await visitor.get(f"/g/{slug}/download.zip?scope=all")
    assert res.status_code == 200
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert sorted(archive.namelist()) == ["Big Day.jpg", "IMG_0002.jpg"]
        for entry in archive.namelist():
            picture = Image.open(io.BytesIO(archive.read(entry)))
            assert picture.format == "JPEG" and max(picture.size) <= 2048


def png_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


# Bulk downloads --------------------------------------------------------------------------

FILES = [
    ("IMG_0001.jpg", jpeg_bytes(640, 480, color=(200, 10, 10))),
    ("Ceremony – first kiss.jpg", jpeg_bytes(480, 640, color=(10, 200, 10))),
    ("DSC 0003 (2).JPG", jpeg_bytes(500, 500, color=(10, 10, 200))),
]


async def test_download_all_is_a_valid_zip_of_every_original(photographer, new_client, db):
    event_id, slug, _ = await gallery_with(photographer, db, FILES)
    pid = photographer.photographer_id
    visitor, contact_id = await visitor_past_gate(new_client, slug)

    res = await visitor.get(f"/g/{slug}/download.zip?scope=all")
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/zip"
    assert int(res.headers["content-length"]) == len(res.content)
    assert attachment_name(res.headers["content-disposition"]) == "Smith Wedding.zip"
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(name for name, _ in FILES)
        for name, data in FILES:
            assert archive.read(name) == data

    assert await rows(db, "SELECT event_id, contact_id, image_id, kind, scope, file_count, "
                          "bytes FROM downloads WHERE photographer_id=:p", p=pid) == [
        (event_id, contact_id, None, "bulk", "all", 3, len(res.content))]
    log = await activity(db, pid)
    assert [kind for _, kind, *_ in log] == ["visit", "download_bulk"]
    assert log[-1][4]["files"] == 3


async def test_two_files_with_one_name_both_reach_the_zip(photographer, new_client, db):
    first, second = jpeg_bytes(color=(1, 2, 3)), jpeg_bytes(color=(250, 250, 0))
    _, slug, _ = await gallery_with(photographer, db, [("IMG_0001.jpg", first),
                                                       ("IMG_0001.jpg", second)])
    visitor, _ = await visitor_past_gate(new_client, slug)
    res = await visitor.get(f"/g/{slug}/download.zip?scope=all")
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert archive.namelist() == ["IMG_0001.jpg", "IMG_0001 (2).jpg"]
        assert {archive.read(n) for n in archive.namelist()} == {first, second}


async def test_download_favorites_holds_exactly_the_favorites(photographer, new_client, db):
    event_id, slug, images = await gallery_with(photographer, db, FILES)
    visitor, _ = await visitor_past_gate(new_client, slug)
    chosen = [images[0], images[2]]
    for image in chosen:
        res = await visitor.post_json(f"/g/{slug}/images/{image['id']}/favorite", {"on": True})
        assert res.status_code == 200
    # Someone else's favorites are not hers.
    other, _ = await visitor_past_gate(new_client, slug, email="sam@example.com", name="Sam")
    await other.post_json(f"/g/{slug}/images/{images[1]['id']}/favorite", {"on": True})

    res = await visitor.get(f"/g/{slug}/download.zip?scope=favorites")
    assert res.status_code == 200
    assert int(res.headers["content-length"]) == len(res.content)
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert sorted(archive.namelist()) == sorted(i["filename"] for i in chosen)
    assert "favorites" in attachment_name(res.headers["content-disposition"])
    assert await rows(db, "SELECT kind, scope, file_count FROM downloads WHERE event_id=:e",
                      e=event_id) == [("bulk", "favorites", 2)]


async def test_download_favorites_without_favorites_is_a_clear_400(photographer, new_client, db):
    event_id, slug, _ = await released_gallery(photographer, 1)
    visitor, _ = await visitor_past_gate(new_client, slug)
    res = await visitor.get(f"/g/{slug}/download.zip?scope=favorites",
                            headers={"Accept": "application/json"})
    assert res.status_code == 400
    assert res.json()["error"] == "You have no favorites to download yet."
    assert await count(db, "downloads", photographer.photographer_id) == 0


# Download settings -----------------------------------------------------------------------


async def test_downloads_switched_off_are_403_and_write_nothing(photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 1, download_single="",
                                             download_bulk="")
    pid = photographer.photographer_id
    visitor, _ = await visitor_past_gate(new_client, slug)
    as_json = {"Accept": "application/json"}

    res = await visitor.get(f"/g/{slug}/images/{images[0]['id']}/download", headers=as_json)
    assert res.status_code == 403
    assert res.json()["error"] == "Single-image downloads are not available for this gallery."
    for scope in ("all", "favorites"):
        res = await visitor.get(f"/g/{slug}/download.zip?scope={scope}", headers=as_json)
        assert res.status_code == 403
        assert res.json()["error"] == "Full-gallery downloads are not available for this gallery."

    page = (await visitor.get(f"/g/{slug}")).text
    assert 'id="lb-download"' not in page and 'id="download-all"' not in page
    assert await count(db, "downloads", pid) == 0
    assert await kinds(db, pid) == ["visit"]


async def test_only_single_downloads_on_leaves_the_zip_closed(photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 1, download_bulk="")
    visitor, _ = await visitor_past_gate(new_client, slug)
    assert (await visitor.get(f"/g/{slug}/images/{images[0]['id']}/download")).status_code == 200
    assert (await visitor.get(f"/g/{slug}/download.zip?scope=all")).status_code == 403
    assert await rows(db, "SELECT kind FROM downloads WHERE photographer_id=:p",
                      p=photographer.photographer_id) == [("single",)]


async def test_a_download_pin_closes_downloads_until_it_is_entered(photographer,
                                                                   new_client, db):
    _, slug, images = await released_gallery(photographer, 2, download_pin="2468")
    pid = photographer.photographer_id
    single = f"/g/{slug}/images/{images[0]['id']}/download"
    bulk = f"/g/{slug}/download.zip?scope=all"
    visitor, _ = await visitor_past_gate(new_client, slug)
    as_json = {"Accept": "application/json"}

    for url in (single, bulk):
        res = await visitor.get(url, headers=as_json)
        assert res.status_code == 403
        assert res.json()["error"] == "Enter the download PIN your photographer gave you."
    res = await visitor.post_json(f"/g/{slug}/pin", {"pin": "8642"})
    assert res.status_code == 400
    assert res.json()["error"] == "That PIN is not right."
    assert (await visitor.get(single, headers=as_json)).status_code == 403
    assert await count(db, "downloads", pid) == 0

    res = await visitor.post_json(f"/g/{slug}/pin", {"pin": "2468"})
    assert res.status_code == 200 and "pr_pin" in res.cookies
    assert (await visitor.get(single)).status_code == 200
    assert (await visitor.get(bulk)).status_code == 200
    assert sorted(await rows(db, "SELECT kind FROM downloads WHERE photographer_id=:p",
                             p=pid)) == [("bulk",), ("single",)]

    # The PIN belongs to the browser that entered it.
    stranger, _ = await visitor_past_gate(new_client, slug, email="sam@example.com")
    assert (await stranger.get(single, headers=as_json)).status_code == 403


# The activity log ------------------------------------------------------------------------


async def test_every_action_takes_the_next_seq_and_each_row_has_one_event(photographer,
                                                                          new_client, db):
    first_id, first_slug, first_images = await released_gallery(photographer, 3)
    _, second_slug, second_images = await released_gallery(photographer, 2)
    pid = photographer.photographer_id

    async def seqs() -> list[int]:
        return [seq for seq, *_ in await activity(db, pid)]

    async def step(action) -> None:
        """Run one client action and check it appended exactly the next number."""
        before = await seqs()
        res = await action
        assert res.status_code == 200, res.text
        after = await seqs()
        assert after == list(range(1, len(before) + 2))
        assert await scalar(db, "SELECT last_event_seq FROM photographers WHERE id=:p",
                            p=pid) == len(after)

    jane, sam = new_client(), new_client()
    await jane.get(f"/g/{first_slug}")
    await step(jane.post_json(f"/g/{first_slug}/gate", {"email": "jane@example.com",
                                                        "name": "Jane"}))
    for image in first_images:
        await step(jane.post_json(f"/g/{first_slug}/images/{image['id']}/favorite",
                                  {"on": True}))
    await step(jane.post_json(f"/g/{first_slug}/images/{first_images[0]['id']}/comments",
                              {"body": "Brighter, please"}))
    await step(jane.post_json(f"/g/{first_slug}/images/{first_images[1]['id']}/comments",
                              {"body": "Crop tighter"}))
    await step(jane.get(f"/g/{first_slug}/images/{first_images[2]['id']}/download"))
    await step(jane.get(f"/g/{first_slug}/download.zip?scope=favorites"))
    await sam.get(f"/g/{second_slug}")
    await step(sam.post_json(f"/g/{second_slug}/gate", {"email": "sam@example.com",
                                                        "name": "Sam"}))
    await step(sam.post_json(f"/g/{second_slug}/images/{second_images[1]['id']}/favorite",
                             {"on": True}))
    await step(sam.get(f"/g/{second_slug}/download.zip?scope=all"))
    # Her gate cookie names her in every gallery of this photographer: her first look at
    # another one is a visit of its own.
    await step(jane.get(f"/g/{second_slug}"))
    await step(jane.post_json(f"/g/{second_slug}/images/{second_images[0]['id']}/comments",
                              {"body": "Other gallery"}))

    # Looking changes nothing.
    before = await seqs()
    await jane.get(f"/g/{first_slug}")
    await jane.get(f"/g/{first_slug}/images/{first_images[0]['id']}/comments")
    assert await seqs() == before

    await assert_one_event_per_row(db, pid)
    assert await count(db, "visits", pid, "event_id=:e", e=first_id) == 1


async def assert_one_event_per_row(db, pid: int) -> None:
    """Each favorite, comment, download and visit row came with exactly one ActivityEvent of
    its own kind, for the same gallery and contact (nothing was removed in these tests)."""
    log = await activity(db, pid)
    by_kind: dict[str, list[tuple]] = {}
    for _, kind, event_id, contact_id, payload in log:
        by_kind.setdefault(kind, []).append((event_id, contact_id, payload))

    def logged(kind: str, key=None) -> list:
        return sorted((e, c, key(p) if key else None) for e, c, p in by_kind.get(kind, []))

    favorites = await rows(db, "SELECT event_id, contact_id, image_id FROM favorites "
                               "WHERE photographer_id=:p", p=pid)
    comments = await rows(db, "SELECT event_id, contact_id, id FROM comments "
                              "WHERE photographer_id=:p", p=pid)
    singles = await rows(db, "SELECT event_id, contact_id, image_id FROM downloads "
                             "WHERE photographer_id=:p AND kind='single'", p=pid)
    bulks = await rows(db, "SELECT event_id, contact_id, scope FROM downloads "
                           "WHERE photographer_id=:p AND kind='bulk'", p=pid)
    visits = await rows(db, "SELECT event_id, contact_id, NULL FROM visits "
                            "WHERE photographer_id=:p", p=pid)
    assert logged("favorite_added", lambda p: p["image_id"]) == sorted(map(tuple, favorites))
    assert logged("comment_added", lambda p: p["comment_id"]) == sorted(map(tuple, comments))
    assert logged("download_single", lambda p: p["image_id"]) == sorted(map(tuple, singles))
    assert logged("download_bulk", lambda p: p["scope"]) == sorted(map(tuple, bulks))
    assert logged("visit") == sorted(map(tuple, visits))
    assert set(by_kind) <= {"visit", "favorite_added", "comment_added", "download_single",
                            "download_bulk"}


async def test_simultaneous_actions_still_number_1_to_n_without_gaps(photographer,
                                                                     new_client, db):
    _, slug, images = await released_gallery(photographer, 6)
    pid = photographer.photographer_id
    jane, _ = await visitor_past_gate(new_client, slug)
    sam, _ = await visitor_past_gate(new_client, slug, email="sam@example.com", name="Sam")

    answers = await asyncio.gather(*[
        visitor.post_json(f"/g/{slug}/images/{image['id']}/favorite", {"on": True})
        for image in images for visitor in (jane, sam)
    ])
    assert [res.status_code for res in answers] == [200] * 12
    assert [seq for seq, *_ in await activity(db, pid)] == list(range(1, 2 + 12 + 1))
    assert await count(db, "favorites", pid) == 12
    await assert_one_event_per_row(db, pid)


# Another gallery's images ----------------------------------------------------------------


async def test_an_image_of_another_gallery_is_404_through_this_gallerys_urls(
        photographer, new_client, db):
    _, slug, _ = await released_gallery(photographer, 1)
    _, other_slug, other_images = await released_gallery(photographer, 1)
    pid, foreign = photographer.photographer_id, other_images[0]["id"]
    visitor, _ = await visitor_past_gate(new_client, slug)
    before = await kinds(db, pid)
    as_json = {"Accept": "application/json"}
    base = f"/g/{slug}"

    answers = [
        await visitor.post_json(f"{base}/images/{foreign}/favorite", {"on": True}),
        await visitor.post_json(f"{base}/images/{foreign}/comments", {"body": "Hi"}),
        await visitor.get(f"{base}/images/{foreign}/comments", headers=as_json),
        await visitor.get(f"{base}/images/{foreign}/download", headers=as_json),
        await visitor.get(f"{base}/media/thumb/{foreign}"),
        await visitor.get(f"{base}/media/preview/{foreign}"),
    ]
    for res in answers:
        assert res.status_code == 404, res.request.url
    # A visitor who has not given an email yet is told the same.
    stranger = new_client()
    for url in (f"{base}/images/{foreign}/comments", f"{base}/media/thumb/{foreign}"):
        assert (await stranger.get(url, headers=as_json)).status_code == 404, url

    for table in ("favorites", "comments", "downloads"):
        assert await count(db, table, pid) == 0, table
    assert await kinds(db, pid) == before
    # Through its own gallery the same image is fine.
    assert (await visitor.get(f"/g/{other_slug}/media/thumb/{foreign}")).status_code == 200
