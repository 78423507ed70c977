"""Sets: a gallery's photos grouped (Ceremony, Reception …). The photographer makes,
renames, orders and deletes them and moves photos between them; the client gallery shows
the non-empty ones as tabs (every photo's set is the grid JSON's "s"), a set's ZIP holds
exactly its photos, and the activity report counts favorites per set. A bad or forged
request changes nothing, and no photographer reaches another's sets or photos."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from conftest import gallery_photos, gate_contact_id, pass_gate, released_gallery, rows


def page_data(html: str) -> dict:
    return json.loads(html.split('id="gallery-data"', 1)[1].split(">", 1)[1]
                      .split("</script>", 1)[0])


async def grid_sets(client, slug: str, query: str = "") -> dict[str, int | None]:
    """{file name: its set id} as the client gallery's JSON says."""
    return {image["filename"]: image["s"] for image in await gallery_photos(client, slug)}


def set_tabs(html: str) -> list[str]:
    """The names on the client gallery's set tabs, in order ("All" first)."""
    if 'id="set-nav"' not in html:
        return []
    nav = html.split('id="set-nav"', 1)[1].split("</div>", 1)[0]
    return [part.split(">", 1)[1].split(" <span", 1)[0].strip()
            for part in nav.split('class="set-link')[1:]]


def first_page(html: str) -> list[int]:
    """The image ids of the tiles the page renders as HTML."""
    grid = html.split('id="grid"', 1)[1].split("</main>", 1)[0].split('id="tile-template"')[0]
    return [int(part.split('"', 1)[0]) for part in grid.split('data-image-id="')[1:]]


async def new_set(photographer, event_id: int, name: str) -> int:
    res = await photographer.post_json(f"/panel/events/{event_id}/sets.json", {"name": name})
    assert res.status_code == 200, res.text
    return res.json()["set"]["id"]


async def move(photographer, event_id: int, ids: list[int], set_id: int | None):
    return await photographer.post_json(f"/panel/events/{event_id}/sets/move.json",
                                        {"ids": ids, "set_id": set_id})


async def sets_in_db(db, event_id: int) -> list[tuple[str, int]]:
    return [tuple(r) for r in await rows(
        db, "SELECT name, position FROM image_sets WHERE event_id = :e ORDER BY position",
        e=event_id)]


async def test_make_rename_order_and_delete_sets_and_bad_ones_change_nothing(photographer, db):
    event_id, slug, images = await released_gallery(photographer, n_images=2)
    ceremony = await new_set(photographer, event_id, "  Ceremony  ")  # trimmed
    reception = await new_set(photographer, event_id, "Reception")
    assert await sets_in_db(db, event_id) == [("Ceremony", 1), ("Reception", 2)]

    url = f"/panel/events/{event_id}/sets.json"
    for bad in ("", "   ", "x" * 61, "ceremony", "RECEPTION ", None, 7):
        res = await photographer.post_json(url, {"name": bad})
        assert res.status_code == 400, (bad, res.text)
    res = await photographer.post_json(f"/panel/sets/{reception}/rename.json",
                                       {"name": "CEREMONY"})
    assert res.status_code == 400 and "already has a set" in res.json()["error"]
    assert await sets_in_db(db, event_id) == [("Ceremony", 1), ("Reception", 2)]

    res = await photographer.post_json(f"/panel/sets/{reception}/rename.json",
                                       {"name": "Party"})
    assert res.status_code == 200 and res.json()["set"]["name"] == "Party"
    # Its own name in another case is a rename, not a clash.
    res = await photographer.post_json(f"/panel/sets/{reception}/rename.json",
                                       {"name": "PARTY"})
    assert res.status_code == 200

    order = f"/panel/events/{event_id}/sets/order.json"
    for bad in ([ceremony], [reception, ceremony, ceremony], [reception, ceremony, 999999],
                [], "x", [reception, "1"]):
        res = await photographer.post_json(order, {"ids": bad})
        assert res.status_code == 400, (bad, res.text)
    assert await sets_in_db(db, event_id) == [("Ceremony", 1), ("PARTY", 2)]
    res = await photographer.post_json(order, {"ids": [reception, ceremony]})
    assert res.status_code == 200, res.text
    assert await sets_in_db(db, event_id) == [("PARTY", 1), ("Ceremony", 2)]

    # Deleting a set keeps its photos in the gallery, in no set.
    ids = [i["id"] for i in images]
    assert (await move(photographer, event_id, ids, ceremony)).status_code == 200
    res = await photographer.post_json(f"/panel/sets/{ceremony}/delete.json", {})
    assert res.status_code == 200, res.text
    assert await sets_in_db(db, event_id) == [("PARTY", 1)]
    assert set((await grid_sets(photographer, slug)).values()) == {None}
    assert len(await grid_sets(photographer, slug)) == 2
    res = await photographer.post_json(f"/panel/sets/{ceremony}/delete.json", {})
    assert res.status_code == 404


async def test_a_gallery_has_at_most_fifty_sets(photographer, db):
    event_id, _slug, _images = await released_gallery(photographer, n_images=1)
    for n in range(50):
        await new_set(photographer, event_id, f"Set {n}")
    res = await photographer.post_json(f"/panel/events/{event_id}/sets.json", {"name": "One more"})
    assert res.status_code == 400 and "at most 50" in res.json()["error"]
    assert len(await sets_in_db(db, event_id)) == 50


async def test_moved_photos_show_as_set_tabs_in_the_client_gallery(photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, n_images=5)
    ids = {i["filename"]: i["id"] for i in images}
    ceremony = await new_set(photographer, event_id, "Ceremony")
    await new_set(photographer, event_id, "Empty one")
    reception = await new_set(photographer, event_id, "Reception")
    visitor = new_client()
    # No photo in a set yet: no tabs at all.
    assert set_tabs((await visitor.get(f"/g/{slug}")).text) == []

    res = await move(photographer, event_id, [ids["IMG_1000.jpg"], ids["IMG_1002.jpg"]],
                     ceremony)
    assert res.status_code == 200 and res.json()["moved"] == 2
    res = await move(photographer, event_id, [ids["IMG_1003.jpg"]], reception)
    assert res.status_code == 200
    assert await grid_sets(visitor, slug) == {
        "IMG_1000.jpg": ceremony, "IMG_1001.jpg": None, "IMG_1002.jpg": ceremony,
        "IMG_1003.jpg": reception, "IMG_1004.jpg": None}
    page = (await visitor.get(f"/g/{slug}")).text
    assert set_tabs(page) == ["All", "Ceremony", "Reception"]  # the empty set is hidden
    assert first_page(page) == [i["id"] for i in images]

    # ?set= opens on that set: its first page is the set's photos only, in gallery order.
    page = (await visitor.get(f"/g/{slug}?set={ceremony}")).text
    assert first_page(page) == [ids["IMG_1000.jpg"], ids["IMG_1002.jpg"]]
    assert page_data(page)["state"]["set"] == ceremony
    assert len(await gallery_photos(visitor, slug)) == 5  # the JSON keeps every photo
    # A set that is not this gallery's (or nonsense) opens the whole gallery.
    for bad in ("999999", "abc", "-1", ""):
        page = (await visitor.get(f"/g/{slug}?set={bad}")).text
        assert len(first_page(page)) == 5 and page_data(page)["state"]["set"] is None

    # Out of a set again: null.
    res = await move(photographer, event_id, [ids["IMG_1003.jpg"]], None)
    assert res.status_code == 200
    assert (await grid_sets(visitor, slug))["IMG_1003.jpg"] is None
    assert set_tabs((await visitor.get(f"/g/{slug}")).text) == ["All", "Ceremony"]

    # The panel's grid shows each photo's set and the Sets bar its counts.
    panel = (await photographer.get(f"/panel/events/{event_id}")).text
    assert f'data-image-id="{ids["IMG_1000.jpg"]}" data-set-id="{ceremony}"' in panel
    assert 'data-set="none"' in panel and 'id="sets-bar"' in panel


async def test_forged_moves_change_nothing(photographer, other_photographer):
    event_id, slug, images = await released_gallery(photographer, n_images=2)
    other_event, _other_slug, _ = await released_gallery(photographer, n_images=1)
    ids = [i["id"] for i in images]
    mine = await new_set(photographer, event_id, "Ceremony")
    elsewhere = await new_set(photographer, other_event, "Elsewhere")
    before = await grid_sets(photographer, slug)
    other_image = (await photographer.get(f"/panel/events/{other_event}/images.json")).json()
    stranger = other_image["images"][0]["id"]

    for body, status in (
        ({"ids": [*ids, stranger], "set_id": mine}, 400),  # a photo of another gallery
        ({"ids": [ids[0], 2**31 - 1], "set_id": mine}, 400),  # no such photo
        ({"ids": [ids[0], 10**12], "set_id": mine}, 400),  # no such id at all
        ({"ids": [], "set_id": mine}, 400),
        ({"ids": "all", "set_id": mine}, 400),
        ({"ids": [ids[0], "2"], "set_id": mine}, 400),
        ({"ids": ids, "set_id": "1"}, 400),
        ({"ids": ids, "set_id": elsewhere}, 404),  # a set of another gallery
        ({"ids": ids, "set_id": 2**31 - 1}, 404),
        ({"ids": ids, "set_id": 10**12}, 400),
    ):
        res = await photographer.post_json(f"/panel/events/{event_id}/sets/move.json", body)
        assert res.status_code == status, (body, res.text)
    assert await grid_sets(photographer, slug) == before
    # Without the CSRF header: refused.
    res = await photographer.post_json(f"/panel/events/{event_id}/sets/move.json",
                                       {"ids": ids, "set_id": mine}, csrf=False)
    assert res.status_code == 403
    assert await grid_sets(photographer, slug) == before


async def test_another_photographer_can_neither_see_nor_change_the_sets(
        photographer, other_photographer, db):
    event_id, slug, images = await released_gallery(photographer, n_images=2)
    ids = [i["id"] for i in images]
    ceremony = await new_set(photographer, event_id, "Ceremony")
    await move(photographer, event_id, ids[:1], ceremony)
    their_event, _their_slug, theirs = await released_gallery(other_photographer, n_images=1)
    their_set = await new_set(other_photographer, their_event, "Mine")
    before = await sets_in_db(db, event_id)
    sets_before = await grid_sets(photographer, slug)

    o = other_photographer
    assert (await o.get(f"/panel/events/{event_id}")).status_code == 404
    for url, body in (
        (f"/panel/events/{event_id}/sets.json", {"name": "Hijack"}),
        (f"/panel/sets/{ceremony}/rename.json", {"name": "Hijack"}),
        (f"/panel/sets/{ceremony}/delete.json", {}),
        (f"/panel/events/{event_id}/sets/order.json", {"ids": [ceremony]}),
        (f"/panel/events/{event_id}/sets/move.json", {"ids": ids, "set_id": None}),
        # The first's set, from the other's own gallery.
        (f"/panel/events/{their_event}/sets/move.json",
         {"ids": [theirs[0]["id"]], "set_id": ceremony}),
    ):
        res = await o.post_json(url, body)
        assert res.status_code == 404, (url, res.text)
    # The first's photos into the other's own set: not photos of that gallery.
    res = await o.post_json(f"/panel/events/{their_event}/sets/move.json",
                            {"ids": ids, "set_id": their_set})
    assert res.status_code == 400
    assert await sets_in_db(db, event_id) == before
    assert await grid_sets(photographer, slug) == sets_before
    assert (await rows(db, "SELECT count(*) FROM images WHERE set_id = :s",
                       s=their_set))[0][0] == 0


async def test_a_sets_zip_holds_exactly_its_photos_and_is_logged_with_its_name(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, n_images=4)
    ids = [i["id"] for i in images]
    ceremony = await new_set(photographer, event_id, "Ceremony")
    empty = await new_set(photographer, event_id, "Empty")
    await move(photographer, event_id, [ids[1], ids[3]], ceremony)
    other_event, _s, _i = await released_gallery(photographer, n_images=1)
    foreign = await new_set(photographer, other_event, "Foreign")

    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug)
    res = await visitor.get(f"/g/{slug}/download.zip?scope=set&set={ceremony}")
    assert res.status_code == 200, res.text
    names = sorted(zipfile.ZipFile(io.BytesIO(res.content)).namelist())
    assert names == sorted(images[i]["filename"] for i in (1, 3))
    assert "Ceremony" in res.headers["content-disposition"]

    for query, status in ((f"scope=set&set={foreign}", 404), ("scope=set&set=999999", 404),
                          ("scope=set", 400), ("scope=set&set=x", 400),
                          (f"scope=set&set={empty}", 400)):
        res = await visitor.get(f"/g/{slug}/download.zip?{query}")
        assert res.status_code == status, (query, res.text)

    logged = await rows(db, "SELECT scope, file_count FROM downloads WHERE contact_id = :c",
                        c=contact_id)
    assert [tuple(r) for r in logged] == [("set", 2)]
    payloads = await rows(db, "SELECT payload FROM activity_events WHERE kind = "
                              "'download_bulk' AND contact_id = :c", c=contact_id)
    payload = payloads[0][0]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["scope"] == "set" and payload["set_name"] == "Ceremony"
    assert payload["set_id"] == ceremony and payload["files"] == 2


async def test_the_activity_report_counts_favorites_per_set(photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, n_images=4)
    ids = [i["id"] for i in images]
    ceremony = await new_set(photographer, event_id, "Ceremony")
    reception = await new_set(photographer, event_id, "Reception")
    await move(photographer, event_id, ids[:2], ceremony)
    await move(photographer, event_id, ids[2:3], reception)
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug)
    for image_id in (ids[0], ids[1], ids[2], ids[3]):
        res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": True})
        assert res.status_code == 200, res.text
    page = (await photographer.get(f"/panel/activity/{event_id}/{contact_id}")).text
    line = page.split('id="favorites-by-set"', 1)[1].split("</p>", 1)[0]
    assert "<strong>Ceremony</strong> 2" in line and "<strong>Reception</strong> 1" in line
    assert "<strong>No set</strong> 1" in line
    assert line.index("Ceremony") < line.index("Reception") < line.index("No set")
    # The favorites CSV says each photo's set.
    res = await photographer.get(f"/panel/activity/{event_id}/{contact_id}/export?format=csv")
    table = list(csv.reader(io.StringIO(res.text)))
    assert table[0] == ["file_name", "client_note", "favorited_at", "set"]
    assert [(row[0], row[3]) for row in table[1:]] == [
        (images[0]["filename"], "Ceremony"), (images[1]["filename"], "Ceremony"),
        (images[2]["filename"], "Reception"), (images[3]["filename"], "")]


async def test_a_gallery_without_sets_says_nothing_of_them(photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, n_images=2)
    visitor = new_client()
    await pass_gate(visitor, slug)
    await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/favorite", {"on": True})
    page = (await visitor.get(f"/g/{slug}")).text
    assert set_tabs(page) == [] and 'id="download-set"' not in page
    assert all(image["s"] is None for image in await gallery_photos(visitor, slug))
