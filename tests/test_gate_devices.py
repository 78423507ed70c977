"""The email gate trusts no one (issue #9): typing a known client's address in a new browser
makes a new, unverified device of that contact. It sees only what it did itself (gallery
page, JSON, favorites ZIP, live socket), never renames the contact, and still counts for
the contact, marked "unverified" in the panel. The gate answers the same for known and
unknown addresses. A one-time link emailed to the address verifies the browser that
follows it (GET shows a button, POST spends it); used, expired or forged links change
nothing.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile

import pytest
from conftest import gate_contact_id, pass_gate, released_gallery, rows, scalar, verify_device
from itsdangerous import URLSafeSerializer
from sqlalchemy import text
from test_comments_inbox import (
    as_dict,
    assert_quiet,
    client_thread,
    comment,
    open_gallery_socket,
    receive_comments,
    reply,
)

JANE = "jane@example.com"
JSON = {"Accept": "application/json"}


# --- helpers --------------------------------------------------------------------------------

async def fav(visitor, slug: str, image_id: int, on: bool = True):
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": on})
    assert res.status_code == 200, res.text
    return res


def shown_favorites(page: str) -> set[int]:
    """Image ids the gallery page renders as favorites (the hearts pressed)."""
    return {int(i) for i in re.findall(r'class="tile is-fav[^"]*" data-image-id="(\d+)"', page)}


def unread_tiles(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'class="tile [^"]*has-unread[^"]*" data-image-id="(\d+)"',
                                       page)}


def badge_counts(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="comment-badge ?"[^>]*>.*?</svg> <span>(\d+)</span>',
                                       page)]


async def zip_names(visitor, slug: str, scope: str = "favorites") -> list[str] | None:
    res = await visitor.get(f"/g/{slug}/download.zip?scope={scope}", headers=JSON)
    if res.status_code != 200:
        assert res.status_code == 400, res.text
        return None
    return sorted(zipfile.ZipFile(io.BytesIO(res.content)).namelist())


async def devices_of(db, contact_id: int) -> list[tuple[int, bool]]:
    found = await rows(db, "SELECT id, verified_at FROM devices WHERE contact_id=:c ORDER BY id",
                       c=contact_id)
    return [(r.id, r.verified_at is not None) for r in found]


async def link_token(db, slug: str, email: str) -> str:
    body = await scalar(db, "SELECT o.body_text FROM outbound_emails o JOIN events e "
                            "ON e.id = o.event_id WHERE o.kind='verify_device' "
                            "AND o.recipient=:m AND e.slug=:s ORDER BY o.id DESC", m=email, s=slug)
    assert body, "no verification email"
    return re.search(rf"/g/{slug}/verify/(\S+)", body).group(1)


async def jane_with_history(photographer, new_client, db, n_images: int = 3):
    """Jane in her own browser: favorites 0 and 1, a comment on 0 answered by the
    photographer (unread), and a favorites ZIP. Returns the world."""
    event_id, slug, images = await released_gallery(photographer, n_images)
    ids = [i["id"] for i in images]
    jane = new_client()
    jane_id = await gate_contact_id(jane, slug, JANE, "Jane Client")
    await fav(jane, slug, ids[0])
    await fav(jane, slug, ids[1])
    await comment(jane, slug, ids[0], "Private: can you hide my scar?")
    assert (await reply(photographer, jane_id, ids[0], "Of course, Jane")).status_code == 200
    assert await zip_names(jane, slug) == sorted(images[n]["filename"] for n in (0, 1))
    return event_id, slug, images, ids, jane, jane_id


# --- a known email in a new browser ---------------------------------------------------------

async def test_a_known_email_in_a_new_browser_sees_nothing_of_the_client(
        photographer, new_client, server, db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    jane_page = (await jane.get(f"/g/{slug}")).text
    assert shown_favorites(jane_page) == {ids[0], ids[1]}
    assert unread_tiles(jane_page) == {ids[0]}

    mallory = new_client()
    await pass_gate(mallory, slug, email="JANE@example.com", name="Mallory")
    page = (await mallory.get(f"/g/{slug}")).text
    assert shown_favorites(page) == set()
    assert unread_tiles(page) == set()
    assert badge_counts(page) == []
    assert 'id="fav-count">0<' in page
    for secret in ("Private: can you hide my scar?", "Of course, Jane", "Jane Client"):
        assert secret not in page
    assert "j…@example.com" in page  # the note: where the link went
    assert await client_thread(mallory, slug, ids[0]) == []
    assert await zip_names(mallory, slug) is None  # "no favorites yet"

    # The live socket replays nothing of Jane's conversation (Jane's own socket does).
    ws = await open_gallery_socket(mallory, server.base_url, slug, last_seq=0)
    await assert_quiet(ws)
    jane_ws = await open_gallery_socket(jane, server.base_url, slug, last_seq=0)
    assert [m["body"] for m in await receive_comments(jane_ws, 2)] == [
        "Private: can you hide my scar?", "Of course, Jane"]
    # Nor live: another reply in Jane's thread reaches Jane only.
    await reply(photographer, jane_id, ids[0], "Done, see the new version")
    assert [m["body"] for m in await receive_comments(jane_ws, 1)] == [
        "Done, see the new version"]
    await assert_quiet(ws)

    # The contact keeps her name; the gate made a second device, unverified.
    assert await scalar(db, "SELECT name FROM contacts WHERE id=:c", c=jane_id) == "Jane Client"
    assert [v for _, v in await devices_of(db, jane_id)] == [False, False]
    # Passing the gate again from that browser keeps its device, and still renames nobody.
    await pass_gate(mallory, slug, email=JANE, name="Mallory Again")
    assert await scalar(db, "SELECT name FROM contacts WHERE id=:c", c=jane_id) == "Jane Client"
    assert [v for _, v in await devices_of(db, jane_id)] == [False, False]
    # One link per couple of minutes, however often the address is typed.
    assert await scalar(db, "SELECT count(*) FROM outbound_emails WHERE contact_id=:c AND "
                            "kind='verify_device'", c=jane_id) == 1
    assert await scalar(db, "SELECT count(*) FROM contacts WHERE photographer_id=:p",
                        p=photographer.photographer_id) == 1
    for socket in (ws, jane_ws):
        await socket.close()


async def test_hearting_a_favorite_the_client_has_reveals_nothing_and_removes_nothing(
        photographer, new_client, db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    pid = photographer.photographer_id
    mallory = new_client()
    await pass_gate(mallory, slug, email=JANE, name="Mallory")
    events_before = await scalar(db, "SELECT count(*) FROM activity_events WHERE "
                                     "photographer_id=:p", p=pid)

    # Jane's favorite and a fresh image answer alike, and both show as hearted after.
    already = await fav(mallory, slug, ids[0])
    fresh = await fav(mallory, slug, ids[2])
    assert already.json() == fresh.json() == {"ok": True, "on": True}
    assert shown_favorites((await mallory.get(f"/g/{slug}")).text) == {ids[0], ids[2]}
    assert await zip_names(mallory, slug) == sorted(images[n]["filename"] for n in (0, 2))

    # Unhearting everything takes away only what this browser added: Jane keeps hers.
    for image_id in ids:
        await fav(mallory, slug, image_id, on=False)
    assert shown_favorites((await mallory.get(f"/g/{slug}")).text) == set()
    assert sorted(r.image_id for r in await rows(
        db, "SELECT image_id FROM favorites WHERE contact_id=:c", c=jane_id)) == ids[:2]
    assert shown_favorites((await jane.get(f"/g/{slug}")).text) == {ids[0], ids[1]}
    # Only the fresh favorite and its removal were changes of the contact's favorites.
    assert [r.kind for r in await rows(
        db, "SELECT kind FROM activity_events WHERE photographer_id=:p AND seq>:s "
            "AND kind LIKE 'favorite%' ORDER BY seq",
        p=pid, s=events_before)] == ["favorite_added", "favorite_removed"]


async def test_an_unverified_browser_sees_its_own_doings_which_count_for_the_contact(
        photographer, new_client, server, db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    pid = photographer.photographer_id
    mallory = new_client()
    await pass_gate(mallory, slug, email=JANE, name="Mallory")
    ((jane_device, _), (mallory_device, _)) = await devices_of(db, jane_id)
    ws = await open_gallery_socket(mallory, server.base_url, slug, last_seq=0)

    await fav(mallory, slug, ids[2])
    # Writing in Jane's thread shows only its own message, then replies that come after.
    assert [b for _, b in await _thread_after_comment(mallory, slug, ids[0], "Me too")] == [
        "Me too"]
    assert [m["body"] for m in await receive_comments(ws, 1)] == ["Me too"]
    await reply(photographer, jane_id, ids[0], "Who is this?")
    assert await client_thread(mallory, slug, ids[0]) == [
        ("client", "Me too"), ("photographer", "Who is this?")]
    assert [m["body"] for m in await receive_comments(ws, 1)] == ["Who is this?"]
    res = await mallory.get(f"/g/{slug}/images/{ids[2]}/download")
    assert res.status_code == 200

    # Rows and counters are the contact's; each row and event names the browser.
    (row,) = await rows(db, "SELECT favorites, comments, single_downloads FROM visits "
                            "WHERE contact_id=:c AND event_id=:e", c=jane_id, e=event_id)
    assert tuple(row) == (3, 2, 1)
    assert await rows(db, "SELECT device_id FROM favorites WHERE contact_id=:c AND image_id=:i",
                      c=jane_id, i=ids[2]) == [(mallory_device,)]
    assert await rows(db, "SELECT device_id FROM comments WHERE body='Me too' AND "
                          "contact_id=:c", c=jane_id) == [(mallory_device,)]
    logged = await rows(db, "SELECT kind, payload FROM activity_events WHERE photographer_id=:p "
                            "AND contact_id=:c ORDER BY seq", p=pid, c=jane_id)
    marks = {(k, json.dumps({x: as_dict(p).get(x) for x in ("device", "unverified")}))
             for k, p in logged if k != "comment_replied"}
    assert (("favorite_added", json.dumps({"device": mallory_device, "unverified": True}))
            in marks)
    assert ("comment_added", json.dumps({"device": mallory_device, "unverified": True})) in marks
    assert ("download_single", json.dumps({"device": mallory_device, "unverified": True})) \
        in marks

    # The panel marks them: activity detail tabs, the inbox, the feed and the timeline.
    detail = f"/panel/activity/{event_id}/{jane_id}"
    favorites_tab = (await photographer.get(f"{detail}?tab=favorites")).text
    figures = re.findall(r'<figure class="tile" data-image-id="(\d+)">(.*?)</figure>',
                         favorites_tab, re.S)
    tagged = {int(i) for i, body in figures if "unverified browser" in body}
    # Jane's first browser is unverified too: all of them are, which one line says (a flag
    # on every photo would only be noise; flags mark single photos when the two mix).
    assert {int(i) for i, _ in figures} == {ids[0], ids[1], ids[2]} and tagged == set()
    assert "All of these were picked in a browser that has not yet followed" in favorites_tab
    comments_tab = (await photographer.get(f"{detail}?tab=comments")).text
    assert comments_tab.count("unverified browser") == 2  # the two client comments
    assert "unverified browser" in (await photographer.get(f"{detail}?tab=downloads")).text
    inbox = (await photographer.get("/panel/comments.json")).json()
    (conv,) = inbox["conversations"]
    assert conv["unverified"] == 2
    thread_page = (await photographer.get(f"/panel/comments/{jane_id}/{ids[0]}")).text
    assert thread_page.count("unverified browser") >= 2
    feed = (await photographer.get("/panel/activity/feed.json")).json()["feed"]
    assert all(e["payload"].get("unverified") for e in feed
               if e["contact_id"] == jane_id and e["kind"] != "comment_replied")
    assert "&#34;unverified&#34;: true" in (
        await photographer.get(f"/panel/contacts/{jane_id}")).text
    await ws.close()


async def _thread_after_comment(visitor, slug, image_id, body):
    thread = await comment(visitor, slug, image_id, body)
    return [(c["author"], c["body"]) for c in thread]


async def test_the_gate_answers_alike_for_known_and_unknown_addresses(
        photographer, new_client, db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    pid = photographer.photographer_id
    answers = []
    for email in (JANE, "june@example.com"):  # known, and never seen
        visitor = new_client()
        res = await pass_gate(visitor, slug, email=email, name="Someone")
        page = (await visitor.get(f"/g/{slug}")).text
        answer = res.json()
        # The photographer's latest seq (where the page's live socket starts): it moves
        # with every gate pass, known or not, so it says nothing about the address.
        assert isinstance(answer.pop("seq"), int)
        answers.append((res.status_code, res.headers["content-type"], answer,
                        shown_favorites(page), badge_counts(page)))
    assert answers[0] == answers[1]
    assert answers[0][2] == {"ok": True, "verify_sent_to": "j…@example.com"}
    # Both addresses get a link: the new client to confirm it, the known one to continue.
    sent = await rows(db, "SELECT recipient, subject FROM outbound_emails "
                          "WHERE photographer_id=:p AND kind='verify_device' ORDER BY id", p=pid)
    # (Jane's came when she first passed the gate: one link per couple of minutes.)
    assert {r.recipient for r in sent} == {JANE, "june@example.com"}
    assert sent[-1].recipient == "june@example.com"
    assert sent[-1].subject.startswith("Confirm your email")


# --- the emailed link -----------------------------------------------------------------------

async def test_the_emailed_link_verifies_this_browser_once(photographer, new_client, server,
                                                           db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    phone = new_client()
    await pass_gate(phone, slug, email=JANE, name="Jane on her phone")
    token = await link_token(db, slug, JANE)
    pid = photographer.photographer_id
    (email,) = await rows(db, "SELECT subject, body_text, body_html FROM outbound_emails "
                              "WHERE kind='verify_device' AND photographer_id=:p", p=pid)
    assert f"{server.base_url}/g/{slug}/verify/{token}" in email.body_text
    assert token not in json.dumps([r._asdict() for r in await rows(
        db, "SELECT token_hash FROM device_links WHERE photographer_id=:p", p=pid)])
    # (only its hash is stored)

    # A GET (a mail scanner, a preview) shows the button and spends nothing.
    for _ in range(2):
        page = await phone.get(f"/g/{slug}/verify/{token}")
        assert page.status_code == 200 and "Continue on this device" in page.text
    assert await scalar(db, "SELECT used_at FROM device_links WHERE photographer_id=:p",
                        p=pid) is None
    assert [v for _, v in await devices_of(db, jane_id)] == [False, False]

    res = await phone.post_form(f"/g/{slug}/verify/{token}")
    assert (res.status_code, res.headers["location"]) == (303, f"/g/{slug}")
    devices = await devices_of(db, jane_id)
    assert [v for _, v in devices] == [False, True]  # this browser's own device
    page = (await phone.get(f"/g/{slug}")).text
    assert shown_favorites(page) == {ids[0], ids[1]}
    assert unread_tiles(page) == {ids[0]}
    assert "j…@example.com" not in page  # no note any more
    assert await client_thread(phone, slug, ids[0]) == [
        ("client", "Private: can you hide my scar?"), ("photographer", "Of course, Jane")]
    assert await zip_names(phone, slug) == sorted(images[n]["filename"] for n in (0, 1))
    ws = await open_gallery_socket(phone, server.base_url, slug, last_seq=0)
    assert len(await receive_comments(ws, 2)) == 2
    await ws.close()
    # The feed says so.
    (verified_visit,) = [e for e in (await photographer.get("/panel/activity/feed.json")).json()[
        "feed"] if e["payload"].get("verified")]
    assert verified_visit["kind"] == "visit" and verified_visit["contact_id"] == jane_id

    # Once only: again, or from another browser, it is refused and changes nothing.
    stranger = new_client()
    for visitor in (phone, stranger):
        res = await visitor.post_form(f"/g/{slug}/verify/{token}")
        assert res.status_code == 410 and "can't be used" in res.text
        assert (await visitor.get(f"/g/{slug}/verify/{token}")).status_code == 410
    assert await devices_of(db, jane_id) == devices
    assert "pr_guest" not in stranger.http.cookies

    # A verified browser may correct the name; an unverified one never could.
    await pass_gate(phone, slug, email=JANE, name="Jane Smith")
    assert await scalar(db, "SELECT name FROM contacts WHERE id=:c", c=jane_id) == "Jane Smith"
    assert await devices_of(db, jane_id) == devices  # the same device, still verified


async def test_a_browser_without_a_device_that_follows_the_link_gets_a_verified_one(
        photographer, new_client, db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    await pass_gate(new_client(), slug, email=JANE, name="Jane")
    laptop = new_client()  # opens the email elsewhere, never passed the gate
    res = await verify_device(laptop, slug, JANE)
    assert res.status_code == 303
    assert [v for _, v in await devices_of(db, jane_id)] == [False, False, True]
    assert shown_favorites((await laptop.get(f"/g/{slug}")).text) == {ids[0], ids[1]}


async def test_an_expired_or_forged_link_changes_nothing(photographer, other_photographer,
                                                         new_client, db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    phone = new_client()
    await pass_gate(phone, slug, email=JANE, name="Jane")
    token = await link_token(db, slug, JANE)
    _, other_slug, _ = await released_gallery(other_photographer, 1)

    async def refused(visitor, url: str) -> None:
        before = await rows(db, "SELECT * FROM devices ORDER BY id")
        res = await visitor.post_form(url)
        assert res.status_code == 410, res.text
        assert (await visitor.get(url)).status_code == 410
        assert await rows(db, "SELECT * FROM devices ORDER BY id") == before
        assert shown_favorites((await visitor.get(f"/g/{slug}")).text) == set()

    await refused(phone, f"/g/{slug}/verify/{secrets.token_urlsafe(32)}")
    await refused(phone, f"/g/{slug}/verify/{token[:-1]}")
    await refused(phone, f"/g/{other_slug}/verify/{token}")  # another photographer's gallery
    await refused(phone, f"/g/{slug}/verify/{'x' * 500}")
    res = await phone.http.post(f"/g/{slug}/verify/{token}", data={})  # no CSRF token
    assert res.status_code == 403
    assert await scalar(db, "SELECT used_at FROM device_links WHERE photographer_id=:p",
                        p=photographer.photographer_id) is None

    async with db.begin() as conn:  # a day later
        await conn.execute(text("UPDATE device_links SET expires_at = created_at "
                                "WHERE photographer_id=:p"), {"p": photographer.photographer_id})
    await refused(phone, f"/g/{slug}/verify/{token}")


# --- cookies and tenancy --------------------------------------------------------------------

def _forged_cookie(server, purpose: str, value) -> str:
    return URLSafeSerializer(server.env["SECRET_KEY"], salt=f"proofroom.{purpose}").dumps(value)


async def test_a_cookie_never_names_another_photographers_device_or_an_old_contact(
        photographer, other_photographer, new_client, server, db):
    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    (jane_device, _), = await devices_of(db, jane_id)
    _, other_slug, other_images = await released_gallery(other_photographer, 1)
    other_pid = other_photographer.photographer_id

    # Photographer B's gallery does not know Jane's browser.
    res = await jane.post_json(f"/g/{other_slug}/images/{other_images[0]['id']}/favorite",
                               {"on": True})
    assert res.status_code == 403
    # Even a validly signed cookie naming A's device under B's key is nobody there.
    forged = new_client()
    await forged.get(f"/g/{other_slug}")
    forged.http.cookies.set("pr_guest", _forged_cookie(
        server, "guest-device", {str(other_pid): {"d": jane_device, "c": jane_id}}))
    res = await forged.post_json(f"/g/{other_slug}/images/{other_images[0]['id']}/favorite",
                                 {"on": True})
    assert res.status_code in (403, 404)
    assert await scalar(db, "SELECT count(*) FROM favorites WHERE photographer_id=:p",
                        p=other_pid) == 0
    # Bob's verified device paired with Jane's contact id is nobody either.
    bob_id = await gate_contact_id(new_client(), slug, "bob@example.com", "Bob")
    bob_laptop = new_client()
    await pass_gate(bob_laptop, slug, "bob@example.com", "Bob")
    assert (await verify_device(bob_laptop, slug, "bob@example.com")).status_code == 303
    (_, _), (bob_device, verified) = await devices_of(db, bob_id)
    assert verified
    forged = new_client()
    forged.http.cookies.set("pr_guest", _forged_cookie(
        server, "guest-device", {str(photographer.photographer_id): {"d": bob_device,
                                                                      "c": jane_id}}))
    assert shown_favorites((await forged.get(f"/g/{slug}")).text) == set()
    assert (await forged.get(f"/g/{slug}/images/{ids[0]}/comments", headers=JSON)
            ).json() == {"comments": []}
    res = await forged.get(f"/g/{slug}/download.zip?scope=favorites", headers=JSON)
    assert res.status_code == 403

    # An old gate cookie (a bare contact id, the old purpose) is simply not recognised.
    old = new_client()
    await old.get(f"/g/{slug}")
    old.http.cookies.set("pr_guest", _forged_cookie(
        server, "guest", {str(photographer.photographer_id): jane_id}))
    page = (await old.get(f"/g/{slug}")).text
    assert shown_favorites(page) == set() and '"known": false' in page
    res = await old.post_json(f"/g/{slug}/images/{ids[2]}/favorite", {"on": True})
    assert res.status_code == 403

    # B's panel shows nothing of A's devices or contact.
    for url in (f"/panel/contacts/{jane_id}", f"/panel/activity/{event_id}/{jane_id}"):
        assert (await other_photographer.get(url)).status_code == 404
    assert (await other_photographer.get("/panel/comments.json")).json()["conversations"] == []


@pytest.mark.parametrize("address,masked", [
    ("jane@example.com", "j…@example.com"), ("a@b.co", "a…@b.co")])
def test_the_address_is_masked_to_its_first_character_and_domain(address, masked):
    from server.devices import mask_email

    assert mask_email(address) == masked


# --- in a real browser ----------------------------------------------------------------------

@pytest.mark.browser
async def test_in_a_browser_a_known_address_gets_the_note_and_then_the_link_shows_all(
        browser, photographer, new_client, server, db):
    from playwright.async_api import expect
    from test_browser_live import panel_page

    event_id, slug, images, ids, jane, jane_id = await jane_with_history(
        photographer, new_client, db)
    panel = await panel_page(browser, photographer, server.base_url)
    feed = panel.locator("#feed .feed-item")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    note, tiles = page.locator("#device-note"), page.locator(".tile")
    await expect(note).to_be_hidden()
    await tiles.nth(2).hover()
    await tiles.nth(2).locator(".fav-btn").click()
    await page.fill("#gate-name", "Jane")
    await page.fill("#gate-email", JANE)
    await page.click("#gate-form button[type=submit]")
    await expect(note).to_be_visible()
    await expect(page.locator("#device-note-email")).to_have_text("j…@example.com")
    await expect(tiles.nth(2)).to_have_class(re.compile(r"\bis-fav\b"))
    await expect(page.locator(".tile.is-fav")).to_have_count(1)  # not Jane's two
    # The photographer's live feed marks it (server-rendered items and pushed ones alike).
    await expect(feed.first).to_contain_text("favorited")
    await expect(feed.first.locator(".unverified-tag")).to_have_text("unverified browser")
    await page.click("#device-note-close")
    await expect(note).to_be_hidden()
    await page.reload()
    await expect(note).to_be_hidden()  # dismissed stays dismissed in this tab

    # The emailed link, opened in this browser: one click, and everything is there.
    await page.goto(f"{server.base_url}/g/{slug}/verify/{await link_token(db, slug, JANE)}")
    await page.click("text=Continue on this device")
    await expect(page).to_have_url(f"{server.base_url}/g/{slug}")
    await expect(page.locator(".tile.is-fav")).to_have_count(3)
    await expect(page.locator(".tile.has-unread")).to_have_count(1)
    await expect(note).to_be_hidden()
    await expect(feed.first.locator(".badge")).to_have_text("verified this browser")
    await panel.reload()
    await expect(panel.locator("#feed .unverified-tag").first).to_be_visible()
    await context.close()
    await panel.context.close()
    assert errors == []


async def test_the_favorites_tab_flags_single_photos_when_verified_and_unverified_mix(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 3)
    ids = [i["id"] for i in images]
    jane = new_client()
    jane_id = await gate_contact_id(jane, slug, JANE, "Jane Client")
    assert (await verify_device(jane, slug, JANE)).status_code == 303
    await fav(jane, slug, ids[0])
    stranger = new_client()  # typed Jane's address in another browser
    await pass_gate(stranger, slug, email=JANE, name="Jane?")
    await fav(stranger, slug, ids[1])

    page = (await photographer.get(f"/panel/activity/{event_id}/{jane_id}?tab=favorites")).text
    figures = re.findall(r'<figure class="tile" data-image-id="(\d+)">(.*?)</figure>',
                         page, re.S)
    assert {int(i) for i, body in figures if "unverified browser" in body} == {ids[1]}
    assert {int(i) for i, _ in figures} == {ids[0], ids[1]}
    assert "All of these were picked" not in page
