"""Client Galleries → Activity: who opened which gallery and what they did there.

One row per (contact, gallery): FAVORITES, COMMENTS, SINGLE and BULK downloads, CREATED
(first access) and LAST SAVED (latest action). The list filters, searches, sorts and pages;
each row opens a detail view with a tab per activity, favorites export for editing software,
a print sheet, the contact's full record, and the dashboard's summary, feed and "viewing
now". Everything is the photographer's own: another photographer gets 404 or nothing.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import (
    create_gallery,
    gate_contact_id,
    jpeg_bytes,
    open_gallery_socket,
    pass_gate,
    released_gallery,
    rows,
    upload,
    viewing_now,
    wait_processed,
)
from websockets.exceptions import ConnectionClosed

JSON = {"Accept": "application/json"}


# --- helpers: the client's actions, and reading the report -------------------------------

async def visitor_in(new_client, slug: str, email: str, name: str = "Jane Client"):
    """A gallery visitor who gave their name and email: (client, contact id)."""
    visitor = new_client()
    return visitor, await gate_contact_id(visitor, slug, email=email, name=name)


async def favorite(visitor, slug: str, image_id: int, on: bool = True) -> None:
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": on})
    assert res.status_code == 200, res.text


async def comment(visitor, slug: str, image_id: int, body: str) -> None:
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/comments", {"body": body})
    assert res.status_code == 200, res.text


async def download_one(visitor, slug: str, image_id: int) -> None:
    res = await visitor.get(f"/g/{slug}/images/{image_id}/download")
    assert res.status_code == 200, res.text


async def download_zip(visitor, slug: str, scope: str = "all") -> None:
    res = await visitor.get(f"/g/{slug}/download.zip", params={"scope": scope})
    assert res.status_code == 200, res.text


async def report(client, **params) -> dict:
    res = await client.get("/panel/activity", params=params, headers=JSON)
    assert res.status_code == 200, res.text
    return res.json()


def row_of(data: dict, event_id: int, contact_id: int) -> dict:
    (row,) = [r for r in data["rows"]
              if (r["event_id"], r["contact_id"]) == (event_id, contact_id)]
    return row


def counters(row: dict) -> tuple[int, int, int, int]:
    return (row["favorites"], row["comments"], row["single_downloads"], row["bulk_downloads"])


def html_row(page: str, event_id: int, contact_id: int) -> str:
    """The <tr> of one (gallery, contact) in a rendered table."""
    match = re.search(rf'<tr data-row="{event_id}:{contact_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row {event_id}:{contact_id}"
    return match.group(1)


def report_table(page: str) -> str:
    """The Activity table of the page, without the live feed beside it."""
    return page.split('id="activity-table"', 1)[1].split("</table>", 1)[0]


def html_counts(row_html: str) -> dict[str, int]:
    return {col: int(n) for col, n in re.findall(r'data-col="(\w+)"[^>]*>(\d+)<', row_html)}


async def gallery_with(photographer, names: list[str], title: str = "Smith Wedding"):
    """A released gallery whose images carry exactly these file names: (event, slug, images)."""
    event_id = await create_gallery(photographer, title=title)
    res = await upload(photographer, event_id, [(n, jpeg_bytes()) for n in names])
    assert res.status_code == 200, res.text
    images = await wait_processed(photographer, event_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    return event_id, detail.split("/g/", 1)[1].split('"', 1)[0], images


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def by_name(images: list[dict]) -> dict[str, int]:
    return {i["filename"]: i["id"] for i in images}


# --- the list ---------------------------------------------------------------------------

async def test_a_contact_who_only_visited_has_a_row_of_zeros(photographer, new_client):
    event_id, slug, _ = await released_gallery(photographer, 1, title="Quiet Visit")
    _, contact_id = await visitor_in(new_client, slug, "only.looked@example.com", "Olive Look")

    data = await report(photographer)
    assert data["total"] == 1 and data["page"] == 1 and data["pages"] == 1
    row = row_of(data, event_id, contact_id)
    assert row["name"] == "Olive Look" and row["email"] == "only.looked@example.com"
    assert row["event_title"] == "Quiet Visit"
    assert counters(row) == (0, 0, 0, 0)

    page = (await photographer.get("/panel/activity")).text
    assert html_counts(html_row(page, event_id, contact_id)) == {
        "favorites": 0, "comments": 0, "single_downloads": 0, "bulk_downloads": 0}


async def test_each_counter_follows_the_clients_actions(photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 3)
    ids = [i["id"] for i in images]
    visitor, contact_id = await visitor_in(new_client, slug, "busy@example.com")

    for image_id in ids:
        await favorite(visitor, slug, image_id)
    await favorite(visitor, slug, ids[1], on=False)  # a removed favorite counts down
    await favorite(visitor, slug, ids[0], on=True)   # already a favorite: no change
    await comment(visitor, slug, ids[0], "Love this one")
    await comment(visitor, slug, ids[2], "Can we brighten it?")
    await download_one(visitor, slug, ids[0])
    await download_one(visitor, slug, ids[0])
    await download_one(visitor, slug, ids[2])
    await download_zip(visitor, slug, "all")
    await download_zip(visitor, slug, "favorites")

    row = row_of(await report(photographer), event_id, contact_id)
    assert counters(row) == (2, 2, 3, 2)
    # The counters are what the rows say happened.
    assert await rows(db, "SELECT count(*) FROM favorites WHERE contact_id=:c",
                      c=contact_id) == [(2,)]
    assert await rows(db, "SELECT kind, count(*) FROM downloads WHERE contact_id=:c "
                          "GROUP BY kind ORDER BY kind", c=contact_id) == [("bulk", 2),
                                                                           ("single", 3)]

    # The page shows the same figures, each a link to its tab of the detail view.
    page = (await photographer.get("/panel/activity")).text
    cells = html_row(page, event_id, contact_id)
    assert html_counts(cells) == {"favorites": 2, "comments": 2, "single_downloads": 3,
                                  "bulk_downloads": 2}
    base = f"/panel/activity/{event_id}/{contact_id}"
    for tab in ("favorites", "comments", "downloads"):
        assert f'href="{base}?tab={tab}"' in cells

    # row.json (what the live dashboard refetches) is the very same row.
    res = await photographer.get(f"{base}/row.json")
    assert res.status_code == 200
    assert res.json() == row


async def test_created_is_the_first_access_and_last_saved_the_latest_action(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 2)
    visitor, contact_id = await visitor_in(new_client, slug, "dates@example.com")
    first = row_of(await report(photographer), event_id, contact_id)
    assert at(first["created"]) <= at(first["last_saved"])

    async def latest_action_at() -> datetime:
        (at,) = (await rows(db, "SELECT at FROM activity_events WHERE contact_id=:c "
                                "ORDER BY seq DESC LIMIT 1", c=contact_id))[0]
        return (at if isinstance(at, datetime) else datetime.fromisoformat(at)).replace(
            tzinfo=None)

    await favorite(visitor, slug, images[0]["id"])
    after_favorite = row_of(await report(photographer), event_id, contact_id)
    await comment(visitor, slug, images[1]["id"], "One more")
    await pass_gate(visitor, slug, email="dates@example.com", name="Jane Client")  # comes back
    after_all = row_of(await report(photographer), event_id, contact_id)

    # CREATED never moves; LAST SAVED is the moment of the latest action each time.
    assert after_favorite["created"] == after_all["created"] == first["created"]
    assert at(after_favorite["last_saved"]) >= at(first["last_saved"])
    assert at(after_all["last_saved"]) >= at(after_favorite["last_saved"])
    assert at(after_all["last_saved"]).replace(tzinfo=None) == await latest_action_at()

    page = (await photographer.get("/panel/activity")).text
    cells = html_row(page, event_id, contact_id)
    assert f'data-col="created" data-at="{first["created"]}"' in cells
    assert f'data-col="last_saved" data-at="{after_all["last_saved"]}"' in cells
    assert at(first["created"]).strftime("%b %-d, %Y") in cells


async def test_filter_by_gallery_and_search_by_name_or_email(photographer, new_client):
    wedding, wedding_slug, _ = await released_gallery(photographer, 1, title="Lake Wedding")
    portrait, portrait_slug, _ = await released_gallery(photographer, 1, title="Studio Portrait")
    _, ann = await visitor_in(new_client, wedding_slug, "ann.bride@example.com", "Ann Ortega")
    _, ben = await visitor_in(new_client, wedding_slug, "ben_o@groom.example.com", "Ben Ortega")
    _, cy = await visitor_in(new_client, portrait_slug, "cy@example.com", "Cy Park")
    _, ann_too = await visitor_in(new_client, portrait_slug, "ann.bride@example.com",
                                  "Ann Ortega")
    assert ann_too == ann  # one contact per email, one row per gallery they opened

    def pairs(data):
        return sorted((r["event_id"], r["contact_id"]) for r in data["rows"])

    assert (await report(photographer))["total"] == 4
    by_event = await report(photographer, event=wedding)
    assert by_event["total"] == 2 and pairs(by_event) == sorted([(wedding, ann), (wedding, ben)])
    assert pairs(await report(photographer, event=portrait)) == sorted([(portrait, cy),
                                                                        (portrait, ann)])

    assert pairs(await report(photographer, q="ortega")) == sorted(
        [(wedding, ann), (wedding, ben), (portrait, ann)])  # name, any case
    assert pairs(await report(photographer, q="GROOM.EXAMPLE")) == [(wedding, ben)]  # email
    assert pairs(await report(photographer, q="ann.bride", event=portrait)) == [(portrait, ann)]
    assert (await report(photographer, q="nobody-like-this"))["total"] == 0
    # LIKE wildcards typed in the box are plain characters, not "match anything".
    assert pairs(await report(photographer, q="_")) == [(wedding, ben)]
    assert (await report(photographer, q="%"))["total"] == 0

    table = report_table((await photographer.get("/panel/activity", params={"q": "cy@"})).text)
    assert "cy@example.com" in table and "ben_o@groom.example.com" not in table


async def test_every_column_sorts_both_ways(photographer, new_client):
    """Four rows whose columns each put them in a different order."""
    alpha, alpha_slug, a_images = await released_gallery(photographer, 3, title="Alpha Session")
    beta, beta_slug, b_images = await released_gallery(photographer, 3, title="Beta Wedding")
    people = [  # created in this order: c1, c2, c3, c4
        (beta, beta_slug, b_images, "Dana Diaz", "bea@example.com"),
        (alpha, alpha_slug, a_images, "Abe Adams", "dan@example.com"),
        (beta, beta_slug, b_images, "Cleo Cole", "abe@example.com"),
        (alpha, alpha_slug, a_images, "Bea Banks", "cleo@example.com"),
    ]
    # (favorites, comments, single downloads, bulk downloads) each
    figures = [(2, 0, 1, 1), (0, 2, 0, 0), (3, 1, 2, 2), (1, 3, 3, 0)]
    visitors, keys = [], []
    for (event_id, slug, images, name, email), (favs, comms, singles, bulks) in zip(
            people, figures, strict=True):
        visitor, contact_id = await visitor_in(new_client, slug, email, name)
        for image in images[:favs]:
            await favorite(visitor, slug, image["id"])
        for n in range(comms):
            await comment(visitor, slug, images[0]["id"], f"note {n}")
        for _ in range(singles):
            await download_one(visitor, slug, images[0]["id"])
        for _ in range(bulks):
            await download_zip(visitor, slug)
        visitors.append(visitor)
        keys.append((event_id, contact_id))
    # Coming back moves LAST SAVED: c2, then c1 are the latest.
    for n in (1, 0):
        await pass_gate(visitors[n], people[n][1], email=people[n][4], name=people[n][3])

    async def order(sort: str, direction: str) -> list[int]:
        data = await report(photographer, sort=sort, dir=direction)
        return [keys.index((r["event_id"], r["contact_id"])) + 1 for r in data["rows"]]

    expected = {  # ascending and descending, as contact numbers; ties: newest row first
        "name": ([2, 4, 3, 1], [1, 3, 4, 2]),
        "email": ([3, 1, 4, 2], [2, 4, 1, 3]),
        "event": ([4, 2, 3, 1], [3, 1, 4, 2]),
        "favorites": ([2, 4, 1, 3], [3, 1, 4, 2]),
        "comments": ([1, 3, 2, 4], [4, 2, 3, 1]),
        "single": ([2, 1, 3, 4], [4, 3, 1, 2]),
        "bulk": ([4, 2, 1, 3], [3, 1, 4, 2]),
        "created": ([1, 2, 3, 4], [4, 3, 2, 1]),
        "last": ([3, 4, 2, 1], [1, 2, 4, 3]),
    }
    for sort, (ascending, descending) in expected.items():
        assert await order(sort, "asc") == ascending, sort
        assert await order(sort, "desc") == descending, sort
    # The default (and any unknown column) is LAST SAVED, newest first.
    assert (await report(photographer))["rows"] == (
        await report(photographer, sort="last", dir="desc"))["rows"]
    assert await order("password_hash", "desc") == expected["last"][1]

    page = report_table((await photographer.get("/panel/activity", params={"sort": "name",
                                                                            "dir": "asc"})).text)
    assert page.index("Abe Adams") < page.index("Bea Banks") < page.index("Cleo Cole") \
        < page.index("Dana Diaz")


async def test_the_list_pages_by_fifty(photographer, new_client):
    event_id, slug, _ = await released_gallery(photographer, 1, title="Big School Day")
    visitor = new_client()
    emails = [f"pupil-{n:03d}@example.com" for n in range(55)]
    for email in emails:
        await pass_gate(visitor, slug, email=email, name=f"Pupil {email[6:9]}")

    first = await report(photographer, sort="email", dir="asc")
    second = await report(photographer, sort="email", dir="asc", page=2)
    assert (first["total"], first["pages"], first["page"]) == (55, 2, 1)
    assert (second["total"], second["pages"], second["page"]) == (55, 2, 2)
    assert [r["email"] for r in first["rows"]] == emails[:50]
    assert [r["email"] for r in second["rows"]] == emails[50:]
    # Past the end is the last page; nonsense is the first.
    assert (await report(photographer, sort="email", dir="asc", page=9))["rows"] == \
        second["rows"]
    assert (await report(photographer, sort="email", dir="asc", page="x"))["rows"] == \
        first["rows"]
    # Filters narrow the count the pages are made of.
    narrowed = await report(photographer, q="pupil-05")
    assert (narrowed["total"], narrowed["pages"]) == (5, 1)

    page = (await photographer.get("/panel/activity", params={"sort": "email",
                                                               "dir": "asc"})).text
    assert re.search(r"\b55(</span>)? rows · page 1 of 2", page)
    assert "page=2" in page
    table = report_table(page)
    assert "pupil-049@example.com" in table and "pupil-050@example.com" not in table


# --- the detail view --------------------------------------------------------------------

async def test_the_detail_tabs_show_what_the_client_did(photographer, new_client):
    event_id, slug, images = await gallery_with(
        photographer, ["IMG_1000.jpg", "IMG_1001.jpg", "IMG_1002.jpg"], title="Garden Party")
    ids = by_name(images)
    visitor, contact_id = await visitor_in(new_client, slug, "tabs@example.com", "Tabitha Tab")
    await favorite(visitor, slug, ids["IMG_1002.jpg"])
    await favorite(visitor, slug, ids["IMG_1000.jpg"])
    await comment(visitor, slug, ids["IMG_1001.jpg"], "<script>alert(1)</script> & more")
    await download_one(visitor, slug, ids["IMG_1001.jpg"])
    await download_zip(visitor, slug, "all")
    await download_zip(visitor, slug, "favorites")
    base = f"/panel/activity/{event_id}/{contact_id}"

    # Clicking the name opens the favorites tab: thumbnails and file names, favorites only.
    for url in (base, f"{base}?tab=favorites", f"{base}?tab=nonsense"):
        res = await photographer.get(url)
        assert res.status_code == 200, url
        page = res.text
        assert 'data-tab="favorites"' in page
        assert "IMG_1000.jpg" in page and "IMG_1002.jpg" in page
        assert "IMG_1001.jpg" not in page
        assert f'src="/panel/media/thumb/{ids["IMG_1000.jpg"]}"' in page
        assert "Tabitha Tab" in page and "Garden Party" in page
        assert f'href="/panel/contacts/{contact_id}"' in page  # to the contact record
        assert f'action="{base}/send-files"' in page and f'href="{base}/print"' in page

    page = (await photographer.get(f"{base}?tab=comments")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "<script>alert(1)" not in page
    assert "IMG_1001.jpg" in page  # with a link to the image commented on
    assert f'href="/panel/media/preview/{ids["IMG_1001.jpg"]}"' in page

    page = (await photographer.get(f"{base}?tab=downloads")).text
    table = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert table.count("<tr>") == 3
    assert "IMG_1001.jpg" in table  # the single download, by file name
    assert "Whole gallery · 3 files" in table and "Favorites · 2 files" in table

    page = (await photographer.get(f"{base}?tab=cart")).text
    assert "No open cart" in page

    # A contact with no activity in that gallery has no detail view there.
    other_event, other_slug, _ = await released_gallery(photographer, 1, title="Elsewhere")
    assert (await photographer.get(f"/panel/activity/{other_event}/{contact_id}")).status_code \
        == 404
    res = await photographer.get(f"/panel/activity/{other_event}/{contact_id}/row.json")
    assert res.status_code == 404


async def test_an_empty_tab_says_so(photographer, new_client):
    event_id, slug, _ = await released_gallery(photographer, 1)
    _, contact_id = await visitor_in(new_client, slug, "idle@example.com", "Ida Idle")
    base = f"/panel/activity/{event_id}/{contact_id}"
    assert "No favorites" in (await photographer.get(base)).text
    assert "No comments" in (await photographer.get(f"{base}?tab=comments")).text
    assert "No downloads" in (await photographer.get(f"{base}?tab=downloads")).text


async def test_favorites_export_for_editing_software(photographer, new_client, db):
    event_id, slug, images = await gallery_with(
        photographer, ["IMG_1000.jpg", "IMG_1001.CR2.jpg", "IMG_1002.jpg", "=cmd.jpg"])
    ids = by_name(images)
    visitor, contact_id = await visitor_in(new_client, slug, "editor.pal@example.com")
    for name in ("IMG_1002.jpg", "=cmd.jpg", "IMG_1000.jpg"):  # gallery order wins
        await favorite(visitor, slug, ids[name])
    base = f"/panel/activity/{event_id}/{contact_id}/export"

    async def export(fmt: str):
        res = await photographer.get(base, params={"format": fmt})
        assert res.status_code == 200, res.text
        return res

    lightroom = await export("lightroom")
    assert lightroom.text == "IMG_1000, IMG_1002, =cmd"
    assert lightroom.headers["content-type"] == "text/plain; charset=utf-8"
    assert lightroom.headers["content-disposition"].startswith(
        'attachment; filename="editor.pal-favorites-lightroom.txt"')
    assert (await export("captureone")).text == "IMG_1000 | IMG_1002 | =cmd"
    assert (await export("finder")).text == "IMG_1000.jpg OR IMG_1002.jpg OR =cmd.jpg"

    res = await export("csv")
    assert res.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="editor.pal-favorites-csv.csv"' in res.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(res.text)))
    assert table[0] == ["file_name", "client_note", "favorited_at"]
    assert [r[0] for r in table[1:]] == ["IMG_1000.jpg", "IMG_1002.jpg", "'=cmd.jpg"]
    stored = dict(await rows(db, "SELECT i.filename, f.created_at FROM favorites f "
                                 "JOIN images i ON i.id=f.image_id WHERE f.contact_id=:c",
                             c=contact_id))
    for name, note, at in table[1:]:
        assert note == ""
        assert at == str(stored[name.lstrip("'")])[:19] + " UTC"

    # The detail page offers the same lists, ready to copy.
    page = (await photographer.get(f"/panel/activity/{event_id}/{contact_id}")).text
    assert 'data-format="lightroom" readonly rows="3">IMG_1000, IMG_1002, =cmd<' in page
    assert (await photographer.get(base, params={"format": "word"})).status_code == 400

    # A name with more dots loses only its last extension.
    await favorite(visitor, slug, ids["IMG_1001.CR2.jpg"])
    assert (await export("lightroom")).text == "IMG_1000, IMG_1001.CR2, IMG_1002, =cmd"


async def test_export_works_for_a_client_whose_email_is_not_ascii(photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, 1)
    visitor, contact_id = await visitor_in(new_client, slug, "李雷@example.com", "Li Lei")
    await favorite(visitor, slug, images[0]["id"])
    res = await photographer.get(f"/panel/activity/{event_id}/{contact_id}/export",
                                 params={"format": "csv"})
    assert res.status_code == 200
    assert "IMG_1000.jpg" in res.text
    assert res.headers["content-disposition"].endswith(
        "filename*=UTF-8''%E6%9D%8E%E9%9B%B7-favorites-csv.csv")


async def test_the_print_sheet_lists_thumbnails_and_file_names(photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, 3, title="Print Me")
    visitor, contact_id = await visitor_in(new_client, slug, "print@example.com", "Pia Print")
    await favorite(visitor, slug, images[0]["id"])
    await favorite(visitor, slug, images[2]["id"])

    res = await photographer.get(f"/panel/activity/{event_id}/{contact_id}/print")
    assert res.status_code == 200
    page = res.text
    figures = re.findall(r'<figure><img src="(/panel/media/thumb/\d+)" alt="">'
                         r"<figcaption>([^<]*)</figcaption></figure>", page)
    assert figures == [(f"/panel/media/thumb/{images[0]['id']}", "IMG_1000.jpg"),
                       (f"/panel/media/thumb/{images[2]['id']}", "IMG_1002.jpg")]
    assert "Pia Print" in page and "Print Me" in page and "2 photos" in page
    thumb = await photographer.get(figures[0][0])
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"


async def test_the_contact_record_lists_every_gallery_and_a_timeline(photographer, new_client):
    first, first_slug, first_images = await released_gallery(photographer, 2, title="Engagement")
    second, second_slug, second_images = await released_gallery(photographer, 2,
                                                                title="Wedding Day")
    visitor, contact_id = await visitor_in(new_client, first_slug, "record@example.com",
                                           "Rae Record")
    await favorite(visitor, first_slug, first_images[0]["id"])
    await favorite(visitor, first_slug, first_images[1]["id"])
    assert (await visitor.get(f"/g/{second_slug}")).status_code == 200  # opens another
    await comment(visitor, second_slug, second_images[0]["id"], "<b>bold</b> request")
    await download_one(visitor, second_slug, second_images[1]["id"])

    res = await photographer.get(f"/panel/contacts/{contact_id}")
    assert res.status_code == 200
    page = res.text
    assert "Rae Record" in page and "record@example.com" in page
    assert html_counts(html_row(page, first, contact_id)) == {
        "favorites": 2, "comments": 0, "single_downloads": 0, "bulk_downloads": 0}
    assert html_counts(html_row(page, second, contact_id)) == {
        "favorites": 0, "comments": 1, "single_downloads": 1, "bulk_downloads": 0}
    assert "Engagement" in html_row(page, first, contact_id)
    assert f'href="/panel/activity/{second}/{contact_id}?tab=favorites">Wedding Day<' in page
    # Most recent gallery first.
    assert page.index(f'data-row="{second}:{contact_id}"') < page.index(
        f'data-row="{first}:{contact_id}"')

    timeline = page.split('<ol class="timeline"', 1)[1].split("</ol>", 1)[0]
    kinds = re.findall(r'data-kind="(\w+)"', timeline)
    assert kinds == ["download_single", "comment_added", "visit", "favorite_added",
                     "favorite_added", "visit"]
    titles = [html.unescape(t) for t in re.findall(r'data-event-title="([^"]*)"', timeline)]
    assert titles == ["Wedding Day"] * 3 + ["Engagement"] * 3
    assert "<b>bold</b>" not in page  # the comment rides in an escaped attribute

    assert (await photographer.get("/panel/contacts/999999")).status_code == 404


# --- the dashboard's data ---------------------------------------------------------------

async def test_the_summary_counts_galleries_todays_activity_and_expiring_ones(
        photographer, new_client):
    today = datetime.now(UTC).date()

    async def gallery(title: str, expires: timedelta | None, release: bool = True) -> int:
        fields = {"title": title}
        if expires is not None:
            fields["expires_on"] = (today + expires).isoformat()
        event_id = await create_gallery(photographer, **fields)
        if release:
            res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                               {"status": "released"})
            assert res.status_code == 303
        return event_id

    soon = await gallery("Expires Soon", timedelta(days=5))
    sooner = await gallery("Expires Sooner", timedelta(days=2))
    await gallery("Expires Later", timedelta(days=60))
    await gallery("Already Over", timedelta(days=-1))
    await gallery("Not Yet Out", timedelta(days=3), release=False)
    _, slug, images = await released_gallery(photographer, 2, title="Busy Today")

    visitor, _ = await visitor_in(new_client, slug, "today@example.com")
    await visitor_in(new_client, slug, "today.too@example.com")
    await favorite(visitor, slug, images[0]["id"])
    await favorite(visitor, slug, images[1]["id"])
    await favorite(visitor, slug, images[1]["id"], on=False)
    await comment(visitor, slug, images[0]["id"], "Nice")
    await download_one(visitor, slug, images[0]["id"])
    await download_zip(visitor, slug)

    res = await photographer.get("/panel/summary.json")
    assert res.status_code == 200
    summary = res.json()
    if datetime.now(UTC).date() != today:
        pytest.skip("the UTC day changed while the test ran")
    assert (summary["active"], summary["expired"], summary["drafts"]) == (4, 1, 1)
    assert summary["today"] == {"visits": 2, "favorites": 2, "comments": 1, "downloads": 2}
    assert [(e["id"], e["title"]) for e in summary["expiring"]] == [
        (sooner, "Expires Sooner"), (soon, "Expires Soon")]
    assert summary["expiring"][0]["expires_at"].startswith(
        (today + timedelta(days=2)).isoformat())


async def test_the_feed_lists_the_newest_actions_first(photographer, new_client):
    event_id, slug, images = await released_gallery(photographer, 1, title="Feed Gallery")
    visitor, contact_id = await visitor_in(new_client, slug, "feed@example.com", "Fay Feed")
    await favorite(visitor, slug, images[0]["id"])
    await comment(visitor, slug, images[0]["id"], "First!")

    feed = (await photographer.get("/panel/activity/feed.json")).json()["feed"]
    assert [f["kind"] for f in feed] == ["comment_added", "favorite_added", "visit"]
    assert [f["seq"] for f in feed] == [3, 2, 1]
    assert {(f["event_id"], f["contact_id"], f["contact_name"], f["contact_email"],
             f["event_title"]) for f in feed} == {
        (event_id, contact_id, "Fay Feed", "feed@example.com", "Feed Gallery")}
    assert feed[0]["payload"]["body"] == "First!"
    assert feed[1]["payload"]["filename"] == "IMG_1000.jpg"

    for n in range(40):  # the feed's first screen is the newest thirty
        await favorite(visitor, slug, images[0]["id"], on=n % 2 == 1)
    feed = (await photographer.get("/panel/activity/feed.json")).json()["feed"]
    assert [f["seq"] for f in feed] == list(range(43, 13, -1))

    page = (await photographer.get("/panel/activity")).text
    assert re.findall(r'data-seq="(\d+)"', page) == [str(n) for n in range(43, 13, -1)]


async def refused_with(visitor, slug: str) -> int:
    """The close code of a gallery socket the server refuses."""
    with pytest.raises(ConnectionClosed) as closed:
        ws = await open_gallery_socket(visitor, slug)
        await asyncio.wait_for(ws.recv(), 10)
    return closed.value.rcvd.code


async def test_a_known_visitor_with_the_gallery_open_is_viewing_now(
        photographer, new_client):
    event_id, slug, _ = await released_gallery(photographer, 1, title="Open Now")
    visitor, contact_id = await visitor_in(new_client, slug, "here@example.com", "Hal Here")
    anonymous = new_client()
    await anonymous.get(f"/g/{slug}")

    # An anonymous visitor's socket hears only banner changes: they are never "viewing".
    before_the_gate = await open_gallery_socket(anonymous, slug)
    await asyncio.sleep(0.3)
    assert (await photographer.get("/panel/activity/viewing.json")).json()["viewers"] == []

    page = await open_gallery_socket(visitor, slug)  # the gallery page is open
    viewers = await viewing_now(photographer, lambda v: len(v) == 1)
    assert [(v["event_id"], v["contact_id"], v["contact_name"], v["event_title"])
            for v in viewers] == [(event_id, contact_id, "Hal Here", "Open Now")]

    # Known to this photographer, but another of their galleries is still password-locked
    # to them: no live socket there, so they are not viewing that one.
    locked, locked_slug, _ = await released_gallery(photographer, 1, title="Locked Away",
                                                    password="open sesame 42")
    assert await refused_with(visitor, locked_slug) == 4401
    res = await visitor.post_form(f"/g/{locked_slug}/unlock", {"password": "open sesame 42"})
    assert res.status_code == 303
    locked_page = await open_gallery_socket(visitor, locked_slug)
    await viewing_now(photographer, lambda v: {x["event_id"] for x in v} == {event_id, locked})
    await before_the_gate.close()
    await page.close()
    await locked_page.close()


# --- tenancy ----------------------------------------------------------------------------

async def test_another_photographer_sees_none_of_it(
        photographer, other_photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 2, title="Private Affair")
    visitor, contact_id = await visitor_in(new_client, slug, "secret.client@example.com",
                                           "Sid Secret")
    await favorite(visitor, slug, images[0]["id"])
    await comment(visitor, slug, images[0]["id"], "secret words")
    gallery_page = await open_gallery_socket(visitor, slug)
    await viewing_now(photographer, lambda v: len(v) == 1)
    base = f"/panel/activity/{event_id}/{contact_id}"
    urls = [base, f"{base}?tab=comments", f"{base}?tab=downloads", f"{base}?tab=cart",
            f"{base}/row.json", f"{base}/print", f"/panel/contacts/{contact_id}",
            *(f"{base}/export?format={fmt}" for fmt in ("lightroom", "captureone", "finder",
                                                         "csv"))]

    for url in urls:  # the control: all of them open for their owner
        assert (await photographer.get(url)).status_code == 200, url
    for url in urls:
        res = await other_photographer.get(url)
        assert res.status_code == 404, url
        assert "secret.client@example.com" not in res.text and "IMG_1000" not in res.text
    res = await other_photographer.post_form(f"{base}/send-files")
    assert res.status_code == 404
    assert await rows(db, "SELECT id FROM outbound_emails WHERE contact_id=:c "
                          "AND kind <> 'verify_device'",
                      c=contact_id) == []

    theirs = await report(other_photographer)
    assert (theirs["rows"], theirs["total"]) == ([], 0)
    assert (await report(other_photographer, q="secret"))["total"] == 0
    assert (await report(other_photographer, event=event_id))["total"] == 0
    page = (await other_photographer.get("/panel/activity")).text
    assert "Sid Secret" not in page and "Private Affair" not in page
    assert (await other_photographer.get("/panel/activity/feed.json")).json() == {"feed": []}
    assert (await other_photographer.get("/panel/activity/viewing.json")).json() == {
        "viewers": [], "total": 0, "presence": "known"}
    summary = (await other_photographer.get("/panel/summary.json")).json()
    assert summary["active"] == 0 and summary["today"]["favorites"] == 0
    assert (await report(photographer))["total"] == 1  # the owner still has it all
    await gallery_page.close()
