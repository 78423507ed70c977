"""The Comments inbox: every client comment starts (or continues) a conversation per
(client, image), across all of the photographer's galleries. The photographer reads and
replies in a chat-style panel; a reply reaches the client's gallery socket at once, and their
inbox by email unless their gallery page is open. Nothing leaks across tenants, galleries
or visitors, and bodies are plain text everywhere.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from conftest import (
    gate_contact_id,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    verify_device,
    viewing_now,
)
from conftest import open_gallery_socket as open_gallery_socket_of
from markupsafe import escape
from test_realtime import assert_silent, open_panel_socket, receive_activity
from websockets.exceptions import ConnectionClosed, InvalidStatus

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
]
SQUARE = 'Square & "tight", like you said'
RAW_TAGS = ["<script>alert(1)", "<img src=x onerror", '<a href="javascript:']


# --- helpers --------------------------------------------------------------------------------

async def visitor_in(new_client, slug: str, email: str, name: str = "Jane Client"):
    """A gallery visitor past the email gate: (client, contact id)."""
    visitor = new_client()
    return visitor, await gate_contact_id(visitor, slug, email=email, name=name)


async def comment(visitor, slug: str, image_id: int, body: str) -> list[dict]:
    """The client writes in their thread about one image; returns the thread."""
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/comments", {"body": body})
    assert res.status_code == 200, res.text
    return res.json()["comments"]


async def client_thread(visitor, slug: str, image_id: int) -> list[tuple[str, str]]:
    """What the client sees of one image's thread: (author, body), oldest first."""
    res = await visitor.get(f"/g/{slug}/images/{image_id}/comments",
                            headers={"Accept": "application/json"})
    assert res.status_code == 200, res.text
    return [(c["author"], c["body"]) for c in res.json()["comments"]]


async def reply(photographer, contact_id: int, image_id: int, body: str):
    return await photographer.post_json(f"/panel/comments/{contact_id}/{image_id}/reply",
                                        {"body": body})


async def inbox(photographer) -> dict:
    res = await photographer.get("/panel/comments.json")
    assert res.status_code == 200, res.text
    return res.json()


def by_key(conversations: list[dict]) -> dict[tuple[int, int], dict]:
    return {(c["contact_id"], c["image_id"]): c for c in conversations}


def listed_keys(page: str) -> list[tuple[int, int]]:
    """The (contact, image) conversations listed on an inbox page, top first."""
    return [(int(c), int(i)) for c, i in re.findall(r'class="conv[^"]*" data-key="(\d+):(\d+)"',
                                                    page)]


async def thread_json(photographer, contact_id: int, image_id: int) -> list[dict]:
    res = await photographer.get(f"/panel/comments/{contact_id}/{image_id}/thread.json")
    assert res.status_code == 200, res.text
    return res.json()["messages"]


async def unread_flags(db, photographer_id: int) -> dict[int, bool]:
    """comment id -> read_by_photographer, for the client's messages."""
    found = await rows(db, "SELECT id, read_by_photographer FROM comments "
                           "WHERE photographer_id=:p AND author='client'", p=photographer_id)
    return {r.id: bool(r.read_by_photographer) for r in found}


def as_dict(payload) -> dict:
    return json.loads(payload) if isinstance(payload, str) else payload


async def settled_email(db, email_id: int, timeout: float = 60) -> dict:
    """The email row once its send job has run (no longer queued or sending)."""
    deadline = time.monotonic() + timeout
    while True:
        (row,) = await rows(db, "SELECT state, recipient, subject, body_text FROM "
                                "outbound_emails WHERE id=:i", i=email_id)
        if row.state not in ("queued", "sending"):
            return row._asdict()
        if time.monotonic() > deadline:
            raise AssertionError(f"email {email_id} still {row.state} after {timeout}s")
        await asyncio.sleep(0.1)


def gallery_ws_url(base_url: str, slug: str) -> str:
    return base_url.replace("http://", "ws://") + f"/ws/gallery/{slug}"


async def open_gallery_socket(visitor, base_url: str, slug: str, last_seq: int = 0,
                              origin: str | None = None):
    return await open_gallery_socket_of(visitor, slug, last_seq, origin)


async def receive_comments(ws, count: int, timeout: float = 10) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            message = json.loads(await ws.recv())
            assert message["type"] == "comment", message
            got.append(message)
    return got


async def assert_quiet(ws, seconds: float = 0.5) -> None:
    """Nothing at all arrives on a gallery socket."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            message = await ws.recv()
            raise AssertionError(f"unexpected push: {message}")


async def conversation_events(db, photographer_id: int, contact_id: int,
                              event_id: int) -> list[tuple]:
    """(seq, kind, comment id) of one client's conversation events in one gallery."""
    found = await rows(db, "SELECT seq, kind, payload FROM activity_events "
                           "WHERE photographer_id=:p AND contact_id=:c AND event_id=:e "
                           "AND kind IN ('comment_added', 'comment_replied') ORDER BY seq",
                       p=photographer_id, c=contact_id, e=event_id)
    return [(r.seq, r.kind, as_dict(r.payload)["comment_id"]) for r in found]


# --- the inbox ------------------------------------------------------------------------------

async def test_comments_are_grouped_per_client_and_image_across_galleries(
        photographer, new_client):
    wedding, wedding_slug, wedding_images = await released_gallery(photographer, 2)
    party, party_slug, party_images = await released_gallery(photographer, 1,
                                                             title="Garden Party")
    w0, w1, p0 = wedding_images[0]["id"], wedding_images[1]["id"], party_images[0]["id"]
    jane, jane_id = await visitor_in(new_client, wedding_slug, "jane@example.com")
    await pass_gate(jane, party_slug, email="jane@example.com", name="Jane Client")
    bob, bob_id = await visitor_in(new_client, wedding_slug, "bob@example.com", "Bob Guest")

    await comment(jane, wedding_slug, w0, "Can we crop this?")
    await comment(bob, wedding_slug, w0, "Love this one")
    await comment(jane, wedding_slug, w1, "Brighter please")
    await comment(jane, party_slug, p0, "Is there a colour version?")
    await comment(jane, wedding_slug, w0, "Tighter, I mean")

    data = await inbox(photographer)
    # One conversation per (client, image), the most recently active first; the same client
    # in two galleries is one contact with separate conversations.
    assert [(c["contact_id"], c["image_id"]) for c in data["conversations"]] == [
        (jane_id, w0), (jane_id, p0), (jane_id, w1), (bob_id, w0)]
    assert data["unread"] == 5
    conv = by_key(data["conversations"])
    assert conv[(jane_id, w0)] == {
        "contact_id": jane_id, "image_id": w0, "event_id": wedding,
        "contact_name": "Jane Client", "contact_email": "jane@example.com",
        "filename": wedding_images[0]["filename"], "event_title": "Smith Wedding",
        "last_body": "Tighter, I mean", "last_author": "client",
        "last_at": conv[(jane_id, w0)]["last_at"], "unread": 2, "count": 2,
        "unverified": 2,  # her browser never followed an emailed link
    }
    assert (conv[(jane_id, p0)]["event_id"], conv[(jane_id, p0)]["event_title"]) == (
        party, "Garden Party")
    assert [conv[k]["unread"] for k in [(jane_id, p0), (jane_id, w1), (bob_id, w0)]] == [1, 1, 1]
    assert (conv[(bob_id, w0)]["contact_name"], conv[(bob_id, w0)]["last_body"]) == (
        "Bob Guest", "Love this one")

    page = await photographer.get("/panel/comments")
    assert page.status_code == 200
    assert listed_keys(page.text) == [(jane_id, w0), (jane_id, p0), (jane_id, w1), (bob_id, w0)]
    assert '<span id="unread-total">5</span>' in page.text


async def test_opening_a_conversation_marks_only_its_client_messages_read(
        photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 2)
    a, b = images[0]["id"], images[1]["id"]
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    await comment(jane, slug, a, "First")
    await comment(jane, slug, a, "Second")
    await comment(jane, slug, b, "Other photo")
    pid = photographer.photographer_id

    page = await photographer.get(f"/panel/comments/{jane_id}/{a}")
    assert page.status_code == 200
    assert 'id="messages"' in page.text and "First" in page.text and "Second" in page.text
    conv = by_key((await inbox(photographer))["conversations"])
    assert (conv[(jane_id, a)]["unread"], conv[(jane_id, b)]["unread"]) == (0, 1)
    assert (await inbox(photographer))["unread"] == 1
    assert sorted((await unread_flags(db, pid)).values()) == [False, True, True]
    # The Unread filter now lists only the other conversation.
    assert listed_keys((await photographer.get("/panel/comments?unread=1")).text) == [
        (jane_id, b)]

    # Reading the thread as JSON (what the panel does live) marks it read too.
    messages = await thread_json(photographer, jane_id, b)
    assert [(m["author"], m["body"]) for m in messages] == [("client", "Other photo")]
    assert set(messages[0]) == {"id", "author", "body", "at"}
    assert (await inbox(photographer))["unread"] == 0
    assert all((await unread_flags(db, pid)).values())
    assert listed_keys((await photographer.get("/panel/comments?unread=1")).text) == []


async def test_mark_all_read_clears_every_unread_conversation(photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 2)
    jane, _ = await visitor_in(new_client, slug, "jane@example.com")
    bob, _ = await visitor_in(new_client, slug, "bob@example.com", "Bob Guest")
    await comment(jane, slug, images[0]["id"], "One")
    await comment(bob, slug, images[1]["id"], "Two")
    await comment(bob, slug, images[1]["id"], "Three")
    assert (await inbox(photographer))["unread"] == 3

    res = await photographer.post_form("/panel/comments/read-all")
    assert res.status_code == 303
    assert res.headers["location"] == "/panel/comments"

    data = await inbox(photographer)
    assert data["unread"] == 0
    assert [c["unread"] for c in data["conversations"]] == [0, 0]  # still listed, read
    assert all((await unread_flags(db, photographer.photographer_id)).values())
    assert listed_keys((await photographer.get("/panel/comments?unread=1")).text) == []
    assert len(listed_keys((await photographer.get("/panel/comments")).text)) == 2


# --- replying -------------------------------------------------------------------------------

async def test_a_reply_is_stored_logged_and_emailed_to_a_client_who_is_away(
        photographer, new_client, server, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    image = images[0]
    pid = photographer.photographer_id
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    await comment(jane, slug, image["id"], "Can we crop this?")

    res = await reply(photographer, jane_id, image["id"], SQUARE)
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["emailed"] is True
    message = data["message"]
    assert (message["author"], message["body"]) == ("photographer", SQUARE)

    (stored,) = await rows(db, "SELECT id, event_id, image_id, contact_id, read_by_client, "
                               "read_by_photographer FROM comments "
                               "WHERE photographer_id=:p AND author='photographer'", p=pid)
    assert (stored.id, stored.event_id, stored.image_id, stored.contact_id) == (
        message["id"], event_id, image["id"], jane_id)
    assert not stored.read_by_client and stored.read_by_photographer

    (logged,) = await rows(db, "SELECT event_id, contact_id, payload FROM activity_events "
                               "WHERE photographer_id=:p AND kind='comment_replied'", p=pid)
    assert (logged.event_id, logged.contact_id) == (event_id, jane_id)
    assert as_dict(logged.payload) == {"comment_id": message["id"], "image_id": image["id"],
                                       "filename": image["filename"],
                                       "body": SQUARE}

    (email,) = await rows(db, "SELECT id, kind, recipient, contact_id, event_id, body_text, "
                              "body_html FROM outbound_emails WHERE photographer_id=:p "
                              "AND kind <> 'verify_device'", p=pid)
    assert (email.kind, email.recipient, email.contact_id, email.event_id) == (
        "comment_reply", "jane@example.com", jane_id, event_id)
    # Both parts link to the photo with its comments open; plain text has no entities.
    link = f"{server.base_url}/g/{slug}?image={image['id']}&comments=1"
    assert link in email.body_text and "&amp;" not in email.body_text
    assert f'href="{escape(link)}"' in email.body_html
    assert SQUARE in email.body_text and str(escape(SQUARE)) in email.body_html
    sent = await settled_email(db, email.id)
    assert sent["state"] == "stored"  # no SMTP_URL: kept in the mail log
    assert sent["subject"].endswith(f"replied to your comment on {image['filename']}")
    assert sent["subject"] in (await photographer.get("/panel/mail")).text

    # The client sees the reply in their thread; the inbox shows it as the last message.
    assert await client_thread(jane, slug, image["id"]) == [
        ("client", "Can we crop this?"), ("photographer", SQUARE)]
    (conv,) = (await inbox(photographer))["conversations"]
    assert (conv["last_author"], conv["last_body"], conv["count"], conv["unread"]) == (
        "photographer", SQUARE, 2, 0)
    assert [(m["author"], m["body"]) for m in await thread_json(photographer, jane_id,
                                                                image["id"])] == [
        ("client", "Can we crop this?"), ("photographer", SQUARE)]



async def test_a_client_with_the_gallery_open_gets_the_reply_without_an_email(
        photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 1)
    image_id, pid = images[0]["id"], photographer.photographer_id
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    bob, bob_id = await visitor_in(new_client, slug, "bob@example.com", "Bob Guest")
    assert (await verify_device(jane, slug, "jane@example.com")).status_code == 303
    await comment(jane, slug, image_id, "Here now")
    await comment(bob, slug, image_id, "Not looking")
    jane_page = await open_gallery_socket_of(jane, slug)  # Jane's gallery page is open
    # Someone who only typed Bob's address keeps his page open: that is not Bob being
    # present, so Bob's replies still reach him by email.
    impostor = new_client()
    await pass_gate(impostor, slug, email="bob@example.com", name="Not Bob")
    impostor_page = await open_gallery_socket_of(impostor, slug)
    await viewing_now(photographer, lambda v: {x["contact_id"] for x in v} == {jane_id, bob_id})

    res = await reply(photographer, jane_id, image_id, "Seen it, thanks")
    assert res.status_code == 200, res.text
    assert res.json()["emailed"] is False
    assert await client_thread(jane, slug, image_id) == [
        ("client", "Here now"), ("photographer", "Seen it, thanks")]
    assert await scalar(db, "SELECT count(*) FROM activity_events WHERE photographer_id=:p "
                            "AND kind='comment_replied'", p=pid) == 1
    assert await scalar(db, "SELECT count(*) FROM outbound_emails WHERE photographer_id=:p "
                            "AND kind <> 'verify_device'", p=pid) == 0

    # Bob's own page is not open: his reply goes by email.
    res = await reply(photographer, bob_id, image_id, "Thanks Bob")
    assert res.json()["emailed"] is True
    assert await rows(db, "SELECT recipient, kind FROM outbound_emails WHERE photographer_id=:p "
                          "AND kind <> 'verify_device'", p=pid) == [
        ("bob@example.com", "comment_reply")]
    await jane_page.close()
    await impostor_page.close()


async def test_an_empty_or_too_long_reply_is_a_clear_400_and_writes_nothing(
        photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 2)
    image_id, pid = images[0]["id"], photographer.photographer_id
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    await comment(jane, slug, image_id, "Hello")

    for body, error in [("", "Reply is required."), ("  \n ", "Reply is required."),
                        ("x" * 2001, "Reply is too long (at most 2000 characters).")]:
        res = await reply(photographer, jane_id, image_id, body)
        assert res.status_code == 400, body
        assert res.json()["error"] == error
    res = await photographer.post_json(f"/panel/comments/{jane_id}/{image_id}/reply", {})
    assert (res.status_code, res.json()["error"]) == (400, "Reply is required.")

    async def written() -> tuple[int, int, int]:
        return (
            await scalar(db, "SELECT count(*) FROM comments WHERE photographer_id=:p "
                             "AND author='photographer'", p=pid),
            await scalar(db, "SELECT count(*) FROM activity_events WHERE photographer_id=:p "
                             "AND kind='comment_replied'", p=pid),
            await scalar(db, "SELECT count(*) FROM outbound_emails WHERE photographer_id=:p "
                             "AND kind <> 'verify_device'", p=pid),
        )

    assert await written() == (0, 0, 0)
    assert await client_thread(jane, slug, image_id) == [("client", "Hello")]
    # A conversation that does not exist (Jane never wrote about this image) can't be
    # started from the panel.
    res = await reply(photographer, jane_id, images[1]["id"], "Hi")
    assert res.status_code == 404
    assert await written() == (0, 0, 0)

    res = await reply(photographer, jane_id, image_id, "x" * 2000)  # exactly the limit
    assert res.status_code == 200, res.text
    assert await written() == (1, 1, 1)


async def test_hostile_bodies_are_kept_verbatim_and_shown_only_escaped(
        photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 3)
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com",
                                     name="<img src=x onerror=alert(1)>")
    for image, body in zip(images, HOSTILE, strict=True):
        await comment(jane, slug, image["id"], body)
    first = images[0]["id"]
    for body in HOSTILE:
        res = await reply(photographer, jane_id, first, body)
        assert res.status_code == 200, res.text
        assert res.json()["message"]["body"] == body

    # JSON carries them exactly as written, on both sides.
    data = await inbox(photographer)
    assert {c["image_id"]: c["last_body"] for c in data["conversations"]} == {
        first: HOSTILE[-1], images[1]["id"]: HOSTILE[1], images[2]["id"]: HOSTILE[2]}
    assert data["conversations"][0]["contact_name"] == "<img src=x onerror=alert(1)>"
    expected = [("client", HOSTILE[0])] + [("photographer", body) for body in HOSTILE]
    assert [(m["author"], m["body"]) for m in await thread_json(photographer, jane_id,
                                                                first)] == expected
    assert await client_thread(jane, slug, first) == expected
    assert await scalar(db, "SELECT body FROM comments WHERE image_id=:i AND author='client'",
                        i=images[1]["id"]) == HOSTILE[1]

    # The inbox page shows them as text, never as markup: the list (each conversation's
    # last message, the client's name) and the open thread.
    listing = (await photographer.get("/panel/comments")).text
    page = (await photographer.get(f"/panel/comments/{jane_id}/{first}")).text
    for html in (listing, page):
        for tag in RAW_TAGS:
            assert tag not in html
        assert str(escape("<img src=x onerror=alert(1)>")) in html  # the name
    assert str(escape(HOSTILE[1])) in listing and str(escape(HOSTILE[2])) in listing
    bubbles = re.findall(r'<li class="bubble bubble-(\w+)" data-id="\d+"><p>(.*?)</p>', page)
    assert bubbles == [(author, str(escape(body))) for author, body in expected]


# --- live: the client's gallery socket and the photographer's panel -----------------------

async def test_the_gallery_socket_streams_the_clients_own_conversation_live(
        photographer, new_client, server, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    image_id, pid = images[0]["id"], photographer.photographer_id
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    ws = await open_gallery_socket(jane, server.base_url, slug)

    thread = await comment(jane, slug, image_id, "Can we crop this?")
    (mine,) = await receive_comments(ws, 1)
    assert mine == {
        "type": "comment", "seq": mine["seq"], "kind": "comment_added", "author": "client",
        "image_id": image_id, "comment_id": thread[0]["id"], "body": "Can we crop this?",
        "at": mine["at"],
    }

    res = await reply(photographer, jane_id, image_id, "Yes, square?")
    (answer,) = await receive_comments(ws, 1)
    assert (answer["kind"], answer["author"], answer["body"], answer["image_id"]) == (
        "comment_replied", "photographer", "Yes, square?", image_id)
    assert answer["comment_id"] == res.json()["message"]["id"]
    assert [(m["seq"], m["kind"], m["comment_id"]) for m in (mine, answer)] == \
        await conversation_events(db, pid, jane_id, event_id)
    await assert_quiet(ws)  # favorites, visits and the like are not for this socket
    await ws.close()


async def test_other_visitors_and_other_galleries_are_never_on_a_clients_socket(
        photographer, new_client, server):
    _, slug, images = await released_gallery(photographer, 1)
    _, party_slug, party_images = await released_gallery(photographer, 1, title="Garden Party")
    image_id = images[0]["id"]
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    await pass_gate(jane, party_slug, email="jane@example.com")
    bob, bob_id = await visitor_in(new_client, slug, "bob@example.com", "Bob Guest")
    jane_ws = await open_gallery_socket(jane, server.base_url, slug)
    bob_ws = await open_gallery_socket(bob, server.base_url, slug)

    await comment(jane, slug, image_id, "Jane here")
    await reply(photographer, jane_id, image_id, "Hi Jane")
    assert [m["body"] for m in await receive_comments(jane_ws, 2)] == ["Jane here", "Hi Jane"]
    await assert_quiet(bob_ws)  # same gallery, same image: not his conversation

    # Jane's conversation in the other gallery stays off this gallery's socket.
    await comment(jane, party_slug, party_images[0]["id"], "Party question")
    await reply(photographer, jane_id, party_images[0]["id"], "Party answer")
    await assert_quiet(jane_ws)

    # Bob's socket works: it carries his own conversation, and Jane's does not.
    await comment(bob, slug, image_id, "Bob here")
    await reply(photographer, bob_id, image_id, "Hi Bob")
    assert [m["body"] for m in await receive_comments(bob_ws, 2)] == ["Bob here", "Hi Bob"]
    await assert_quiet(jane_ws)
    # Replaying from the start on a new socket returns the same: only his own.
    replay = await open_gallery_socket(bob, server.base_url, slug, last_seq=0)
    assert [m["body"] for m in await receive_comments(replay, 2)] == ["Bob here", "Hi Bob"]
    await assert_quiet(replay)
    for ws in (jane_ws, bob_ws, replay):
        await ws.close()


async def test_reconnecting_replays_what_the_client_missed_once_and_in_order(
        photographer, new_client, server, db):
    event_id, slug, images = await released_gallery(photographer, 2)
    a, b = images[0]["id"], images[1]["id"]
    pid = photographer.photographer_id
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    bob, _ = await visitor_in(new_client, slug, "bob@example.com", "Bob Guest")
    ws = await open_gallery_socket(jane, server.base_url, slug)
    await comment(jane, slug, a, "Before the tab slept")
    (seen,) = await receive_comments(ws, 1)
    await ws.close()

    # While Jane's page is away: replies, her own comment from another tab, and other
    # activity numbered in between (Bob's comment, Jane's favorite).
    await reply(photographer, jane_id, a, "One")
    await reply(photographer, jane_id, a, "Two")
    await comment(bob, slug, a, "Bob's")
    res = await jane.post_json(f"/g/{slug}/images/{b}/favorite", {"on": True})
    assert res.status_code == 200
    await reply(photographer, jane_id, a, "Three")
    await comment(jane, slug, b, "Four")

    ws = await open_gallery_socket(jane, server.base_url, slug, last_seq=seen["seq"])
    missed = await receive_comments(ws, 4)
    assert [(m["kind"], m["body"], m["image_id"]) for m in missed] == [
        ("comment_replied", "One", a), ("comment_replied", "Two", a),
        ("comment_replied", "Three", a), ("comment_added", "Four", b)]
    assert [(m["seq"], m["kind"], m["comment_id"]) for m in missed] == \
        (await conversation_events(db, pid, jane_id, event_id))[1:]
    await assert_quiet(ws)  # each once

    # After the replay the same socket is live again.
    await reply(photographer, jane_id, b, "Five")
    (live,) = await receive_comments(ws, 1)
    assert (live["body"], live["seq"] > missed[-1]["seq"]) == ("Five", True)
    await ws.close()


async def test_the_panel_socket_receives_each_reply(photographer, new_client, server, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    image_id, pid = images[0]["id"], photographer.photographer_id
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    await comment(jane, slug, image_id, "Hello")
    seen = await scalar(db, "SELECT max(seq) FROM activity_events WHERE photographer_id=:p",
                        p=pid)
    ws = await open_panel_socket(photographer, server.base_url, last_seq=seen)

    res = await reply(photographer, jane_id, image_id, "Hello back")
    (pushed,) = await receive_activity(ws, 1)
    assert (pushed["seq"], pushed["kind"], pushed["event_id"], pushed["contact_id"]) == (
        seen + 1, "comment_replied", event_id, jane_id)
    assert (pushed["contact_name"], pushed["event_title"]) == ("Jane Client", "Smith Wedding")
    assert pushed["payload"] == {"comment_id": res.json()["message"]["id"],
                                 "image_id": image_id, "filename": images[0]["filename"],
                                 "body": "Hello back"}
    await assert_silent(ws)
    await ws.close()


async def test_gallery_sockets_of_a_locked_gallery_or_from_another_origin_are_refused(
        photographer, new_client, server):
    _, slug, _ = await released_gallery(photographer, 1)
    _, locked_slug, _ = await released_gallery(photographer, 1, password="open sesame 42")
    stranger = new_client()
    await stranger.get(f"/g/{locked_slug}")  # has the page's cookies, not the password's
    jane, _ = await visitor_in(new_client, slug, "jane@example.com")
    for visitor, at, origin in [(stranger, locked_slug, None),
                                (jane, slug, "http://evil.example")]:
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            ws = await open_gallery_socket(visitor, server.base_url, at, origin=origin)
            await ws.recv()


async def test_a_refused_gallery_socket_says_why_with_its_close_code(
        photographer, new_client, server):
    _, slug, _ = await released_gallery(photographer, 1)
    _, locked_slug, _ = await released_gallery(photographer, 1, password="open sesame 42")
    stranger = new_client()
    await stranger.get(f"/g/{locked_slug}")
    jane, _ = await visitor_in(new_client, slug, "jane@example.com")
    for visitor, at, origin, code in [(stranger, locked_slug, None, 4401),
                                      (jane, slug, "http://evil.example", 4403)]:
        with pytest.raises(ConnectionClosed) as closed:  # at the hello, or at the first read
            ws = await open_gallery_socket(visitor, server.base_url, at, origin=origin)
            await ws.recv()
        assert closed.value.rcvd.code == code


# --- tenancy and gallery scoping ------------------------------------------------------------

async def test_another_photographer_can_neither_read_nor_answer_a_conversation(
        photographer, other_photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 1)
    image_id = images[0]["id"]
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    await comment(jane, slug, image_id, "For Pat only")
    _, their_slug, their_images = await released_gallery(other_photographer, 1)
    their_client, their_contact = await visitor_in(new_client, their_slug, "jane@example.com")
    await comment(their_client, their_slug, their_images[0]["id"], "For Other Studio")

    thread = f"/panel/comments/{jane_id}/{image_id}"
    assert (await other_photographer.get(thread)).status_code == 404
    assert (await other_photographer.get(f"{thread}/thread.json",
                                         headers={"Accept": "application/json"})
            ).status_code == 404
    res = await reply(other_photographer, jane_id, image_id, "Hijack")
    assert res.status_code == 404
    # Their own contact with the first photographer's image is no conversation either.
    assert (await other_photographer.get(f"/panel/comments/{their_contact}/{image_id}")
            ).status_code == 404
    assert (await reply(other_photographer, their_contact, image_id, "Hijack")).status_code == 404

    data = await inbox(other_photographer)
    assert [(c["contact_id"], c["last_body"]) for c in data["conversations"]] == [
        (their_contact, "For Other Studio")]
    assert data["unread"] == 1
    page = (await other_photographer.get("/panel/comments")).text
    assert "For Pat only" not in page
    assert listed_keys(page) == [(their_contact, their_images[0]["id"])]

    # Nothing was written, and nothing of Pat's was marked read by the attempts.
    assert await rows(db, "SELECT author, body, read_by_photographer FROM comments "
                          "WHERE image_id=:i", i=image_id) == [("client", "For Pat only",
                                                                False)]
    assert await scalar(db, "SELECT count(*) FROM activity_events WHERE kind='comment_replied' "
                            "AND contact_id IN (:a, :b)", a=jane_id, b=their_contact) == 0
    assert (await inbox(photographer))["unread"] == 1


async def test_a_visitor_sees_only_their_own_thread_in_only_this_gallery(
        photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, 1)
    _, other_slug, other_images = await released_gallery(photographer, 1, title="Garden Party")
    image_id, foreign = images[0]["id"], other_images[0]["id"]
    jane, jane_id = await visitor_in(new_client, slug, "jane@example.com")
    bob, _ = await visitor_in(new_client, slug, "bob@example.com", "Bob Guest")
    await comment(jane, slug, image_id, "Jane's secret")
    await reply(photographer, jane_id, image_id, "Reply to Jane")

    assert await client_thread(bob, slug, image_id) == []
    posted = await comment(bob, slug, image_id, "Bob's note")
    assert [(c["author"], c["body"]) for c in posted] == [("client", "Bob's note")]
    assert await client_thread(bob, slug, image_id) == [("client", "Bob's note")]
    assert await client_thread(jane, slug, image_id) == [
        ("client", "Jane's secret"), ("photographer", "Reply to Jane")]

    # Another gallery's image id, guessed through this gallery's URL, is not found.
    url = f"/g/{slug}/images/{foreign}/comments"
    assert (await jane.get(url, headers={"Accept": "application/json"})).status_code == 404
    res = await jane.post_json(url, {"body": "Through the wrong gallery"})
    assert res.status_code == 404
    assert await scalar(db, "SELECT count(*) FROM comments WHERE image_id=:i", i=foreign) == 0

