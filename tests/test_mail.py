"""SEND FILES TO DOWNLOAD: from a client's favorites tab the photographer emails them a link
that downloads exactly their favorited images as one ZIP.

Every email is an OutboundEmail row first (the panel's mail log), sent by a job after the
commit. Without SMTP_URL (the embedded default) it is kept as `stored`; with SMTP_URL it is
delivered over SMTP and marked `sent` with the provider's message id, and a failed attempt
is tried again later.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import html
import io
import json
import re
import time
import zipfile
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from conftest import (
    Client,
    free_port,
    gate_contact_id,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    sign_up,
    start_server,
)
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

SALT = "proofroom.favorites-link"  # server/delivery.py


async def favorite(visitor, slug: str, image_id: int) -> None:
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": True})
    assert res.status_code == 200, res.text


async def client_with_favorites(photographer, new_client, favorite_indexes=(0, 2),
                                email_address: str = "fav.client@example.com", n_images=3,
                                title: str = "Smith Wedding"):
    """A released gallery and a client who favorited some of its images."""
    event_id, slug, images = await released_gallery(photographer, n_images, title=title)
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug, email=email_address, name="Fran Client")
    for n in favorite_indexes:
        await favorite(visitor, slug, images[n]["id"])
    return event_id, contact_id, slug, images


async def send_files(photographer, event_id: int, contact_id: int):
    return await photographer.post_form(f"/panel/activity/{event_id}/{contact_id}/send-files")


async def settled_email(db, contact_id: int, timeout: float = 60) -> dict:
    """The contact's email once its job has run (state no longer queued/sending)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await rows(db, "SELECT id, recipient, subject, body_text, body_html, state, "
                               "attempts, provider_message_id, error, sent_at "
                               "FROM outbound_emails WHERE contact_id=:c "
                               "AND kind <> 'verify_device' ORDER BY id", c=contact_id)
        if found and found[0].state not in ("queued", "sending"):
            return found[0]._asdict()
        if time.monotonic() > deadline:
            raise AssertionError(f"email not processed in {timeout}s: {found}")
        await asyncio.sleep(0.1)


def mail_state(page: str) -> list[str]:
    """The state badges of the mail log, newest first."""
    return re.findall(r'class="badge badge-mail-(\w+)"[^>]*>\1<', page)


def link_token(body: str) -> str:
    (token,) = set(re.findall(r"/d/([A-Za-z0-9_\-.]+)", body))
    return token


# --- the embedded default: no SMTP_URL ---------------------------------------------------

async def test_sending_files_queues_an_email_kept_in_the_mail_log(photographer, new_client,
                                                                  server, db):
    title = 'Ana & Ben "Garden" Wedding'
    event_id, contact_id, _, _ = await client_with_favorites(photographer, new_client,
                                                             title=title)

    res = await send_files(photographer, event_id, contact_id)
    assert res.status_code == 303
    detail = f"/panel/activity/{event_id}/{contact_id}?tab=favorites&sent=1"
    assert res.headers["location"] == detail
    page = (await photographer.get(detail)).text  # no SMTP_URL: it says so, never "emailed"
    assert "Queued — no mail server is configured." in page
    assert "Download link emailed" not in page

    sent = await settled_email(db, contact_id)
    assert sent["state"] == "stored"  # no SMTP_URL: kept, not sent anywhere
    assert sent["recipient"] == "fav.client@example.com"
    assert sent["subject"] == f"Your favorites from {title} are ready to download"
    assert sent["sent_at"] is not None and sent["provider_message_id"] is None
    token = link_token(sent["body_text"])
    assert f"{server.base_url}/d/{token}" in sent["body_text"]
    assert f'href="{server.base_url}/d/{token}"' in sent["body_html"]
    # Plain text is plain: no HTML entities. The HTML part escapes.
    assert "Hi Fran Client," in sent["body_text"]
    assert f"Your 2 favorite photos from \"{title}\" are ready" in sent["body_text"]
    assert "&amp;" not in sent["body_text"] and "&#34;" not in sent["body_text"]
    assert "Ana &amp; Ben &#34;Garden&#34; Wedding" in sent["body_html"]

    page = (await photographer.get("/panel/mail")).text
    assert "fav.client@example.com" in page
    assert f"Your favorites from {html.escape(title, quote=False)} are ready" in \
        page.replace("&#34;", '"')
    assert "&amp;amp;" not in page
    assert mail_state(page) == ["stored", "stored"]  # and the gate's "confirm your email"
    assert f"/d/{token}" in page  # the body, to copy by hand when nothing was sent


async def test_the_link_downloads_exactly_the_clients_favorites(photographer, new_client, db):
    event_id, contact_id, slug, images = await client_with_favorites(
        photographer, new_client, favorite_indexes=(2, 0), n_images=4)
    other = new_client()  # another client's favorite never rides along
    await pass_gate(other, slug, email="someone.else@example.com")
    await favorite(other, slug, images[1]["id"])
    assert (await send_files(photographer, event_id, contact_id)).status_code == 303
    token = link_token((await settled_email(db, contact_id))["body_text"])

    res = await new_client().get(f"/d/{token}")  # no login, no cookies: the link is enough
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "application/zip"
    assert int(res.headers["content-length"]) == len(res.content)
    assert res.headers["content-disposition"].startswith("attachment;")
    assert "favorites.zip" in res.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(res.content))
    assert archive.testzip() is None
    assert archive.namelist() == ["IMG_1000.jpg", "IMG_1002.jpg"]  # gallery order
    for name, image in (("IMG_1000.jpg", images[0]), ("IMG_1002.jpg", images[2])):
        original = await photographer.get(f"/panel/media/original/{image['id']}")
        assert archive.read(name) == original.content

    # It counts as the client's bulk download of their favorites.
    assert await rows(db, "SELECT kind, scope, file_count, bytes FROM downloads "
                          "WHERE contact_id=:c", c=contact_id) == [
        ("bulk", "favorites", 2, len(res.content))]
    assert await scalar(db, "SELECT bulk_downloads FROM visits WHERE contact_id=:c "
                            "AND event_id=:e", c=contact_id, e=event_id) == 1
    (payload,) = (await rows(db, "SELECT payload FROM activity_events WHERE contact_id=:c "
                                 "AND kind='download_bulk'", c=contact_id))[0]
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    assert payload["via"] == "emailed link" and payload["files"] == 2
    tab = (await photographer.get(f"/panel/activity/{event_id}/{contact_id}?tab=downloads")).text
    assert "Favorites · 2 files" in tab


async def test_a_gallery_title_with_odd_characters_still_sends_and_downloads(
        photographer, new_client, db):
    # A crafted form post can put a line break and quotes in a title.
    title = 'Lake "Day"\r\nTwo / Three'
    event_id, contact_id, _, _ = await client_with_favorites(photographer, new_client,
                                                             title=title)
    assert (await send_files(photographer, event_id, contact_id)).status_code == 303
    sent = await settled_email(db, contact_id)
    assert sent["subject"] == 'Your favorites from Lake "Day" Two / Three are ready to download'
    res = await new_client().get(f"/d/{link_token(sent['body_text'])}")
    assert res.status_code == 200
    assert res.headers["content-disposition"].startswith(
        'attachment; filename="Lake Day Two Three - favorites.zip"')
    assert len(zipfile.ZipFile(io.BytesIO(res.content)).namelist()) == 2


async def test_a_tampered_or_expired_link_downloads_nothing(photographer, new_client, server,
                                                            db):
    event_id, contact_id, _, images = await client_with_favorites(
        photographer, new_client, favorite_indexes=(0,))
    assert (await send_files(photographer, event_id, contact_id)).status_code == 303
    token = link_token((await settled_email(db, contact_id))["body_text"])
    stranger = new_client()

    payload, stamp, signature = token.rsplit(".", 2)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    # Asking for an image that was not a favorite, keeping the old signature.
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["i"] = [image["id"] for image in images]
    forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    forged_token = f"{forged.decode().rstrip('=')}.{stamp}.{signature}"
    for bad in (f"{flipped}.{stamp}.{signature}", forged_token, token[:-2],
                "not-a-token", token + "x"):
        res = await stranger.get(f"/d/{bad}")
        assert res.status_code == 404, bad
        assert res.headers["content-type"].startswith("text/html")

    # Signed by someone else: not ours.
    alien = URLSafeTimedSerializer("another-secret", salt=SALT).dumps(data)
    assert (await stranger.get(f"/d/{alien}")).status_code == 404

    # Ours, but older than the link's 30 days: a clear "expired", not a download.
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:  # itsdangerous's hook for the signing time
            return int(time.time() - timedelta(days=31).total_seconds())

    stale = URLSafeTimedSerializer(server.env["SECRET_KEY"], salt=SALT, signer=LongAgo).dumps(
        {"p": photographer.photographer_id, "e": event_id, "c": contact_id,
         "i": [images[0]["id"]]})
    res = await stranger.get(f"/d/{stale}")
    assert res.status_code == 410
    assert "This download link has expired" in html.unescape(res.text)

    assert await rows(db, "SELECT id FROM downloads WHERE contact_id=:c", c=contact_id) == []
    assert (await stranger.get(f"/d/{token}")).status_code == 200  # the real one still works


async def test_no_favorites_is_a_clear_400_and_no_email(photographer, new_client, db):
    event_id, contact_id, _, _ = await client_with_favorites(photographer, new_client,
                                                             favorite_indexes=())
    res = await send_files(photographer, event_id, contact_id)
    assert res.status_code == 400
    assert "This client has no favorites in this gallery to send." in res.text
    res = await photographer.post_form(f"/panel/activity/{event_id}/{contact_id}/send-files",
                                       headers={"Accept": "application/json"})
    assert res.status_code == 400
    assert res.json()["error"] == "This client has no favorites in this gallery to send."
    assert await rows(db, "SELECT id FROM outbound_emails WHERE photographer_id=:p "
                          "AND kind <> 'verify_device'",
                      p=photographer.photographer_id) == []
    assert "are ready to download" not in (await photographer.get("/panel/mail")).text


async def test_sending_needs_the_form_token_and_the_owner(photographer, other_photographer,
                                                          new_client, db):
    event_id, contact_id, _, _ = await client_with_favorites(photographer, new_client)
    url = f"/panel/activity/{event_id}/{contact_id}/send-files"
    assert (await photographer.post_form(url, csrf=False)).status_code == 403
    assert (await other_photographer.post_form(url)).status_code == 404
    assert await rows(db, "SELECT id FROM outbound_emails WHERE contact_id=:c "
                          "AND kind <> 'verify_device'",
                      c=contact_id) == []
    assert "fav.client@example.com" not in (await other_photographer.get("/panel/mail")).text


# --- a real SMTP server ------------------------------------------------------------------

class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp_proofroom(tmp_path, smtp_port, monkeypatch):
    """A Proofroom (embedded default) whose SMTP_URL points at 127.0.0.1:smtp_port."""
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{smtp_port}")
    monkeypatch.setenv("MAIL_FROM", "Fran's Studio <studio@proofroom.test>")
    server = start_server("sqlite", tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def smtp_db(smtp_proofroom):
    engine = smtp_proofroom.engine()
    yield engine
    await engine.dispose()


def favorites_messages(inbox: Inbox) -> list:
    """What the SMTP server got, less the gate's "confirm your email" message."""
    return [(to, m) for to, m in inbox.messages if "favorites" in m["Subject"]]


def start_inbox(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


async def test_with_smtp_url_the_email_is_delivered_over_smtp(smtp_proofroom, smtp_db,
                                                              smtp_port):
    controller, inbox = start_inbox(smtp_port)
    clients = [Client(smtp_proofroom.base_url) for _ in range(3)]
    try:
        photographer = await sign_up(clients[0], smtp_db)
        event_id, contact_id, _, _ = await client_with_favorites(
            photographer, lambda: clients[1], email_address="smtp.client@example.com")
        assert (await send_files(photographer, event_id, contact_id)).status_code == 303

        sent = await settled_email(smtp_db, contact_id)
        assert sent["state"] == "sent", sent["error"]
        assert sent["attempts"] == 1
        (recipients, message), = favorites_messages(inbox)
        assert recipients == ["smtp.client@example.com"]
        assert message["To"] == "smtp.client@example.com"
        assert message["From"] == "Fran's Studio <studio@proofroom.test>"
        assert message["Subject"] == "Your favorites from Smith Wedding are ready to download"
        assert sent["provider_message_id"] == message["Message-ID"]
        token = link_token(sent["body_text"])
        text_part = message.get_body(("plain",)).get_content()
        html_part = message.get_body(("html",)).get_content()
        assert f"{smtp_proofroom.base_url}/d/{token}" in text_part
        assert f'href="{smtp_proofroom.base_url}/d/{token}"' in html_part

        res = await clients[2].get(f"/d/{token}")  # the client clicks the link
        assert res.status_code == 200 and len(zipfile.ZipFile(
            io.BytesIO(res.content)).namelist()) == 2
        page = (await photographer.get("/panel/mail")).text
        assert mail_state(page) == ["sent", "sent"]  # and the gate's "confirm your email"
    finally:
        controller.stop()
        for client in clients:
            await client.aclose()


async def test_a_failed_attempt_is_tried_again_until_it_is_sent(smtp_proofroom, smtp_db,
                                                                smtp_port):
    clients = [Client(smtp_proofroom.base_url) for _ in range(2)]
    controller = None
    try:
        photographer = await sign_up(clients[0], smtp_db)
        event_id, contact_id, _, _ = await client_with_favorites(
            photographer, lambda: clients[1], email_address="patient@example.com")
        assert (await send_files(photographer, event_id, contact_id)).status_code == 303

        # The SMTP server is down: the first attempt fails and is noted, the email waits.
        deadline = time.monotonic() + 30
        while True:
            (state, attempts, error), = await rows(
                smtp_db, "SELECT state, attempts, error FROM outbound_emails "
                         "WHERE contact_id=:c AND kind='favorites_download'", c=contact_id)
            if attempts >= 1 and state == "queued":
                break
            assert time.monotonic() < deadline, (state, attempts, error)
            await asyncio.sleep(0.05)
        assert error
        controller, inbox = start_inbox(smtp_port)  # back up

        sent = await settled_email(smtp_db, contact_id, timeout=90)
        assert sent["state"] == "sent", sent["error"]
        assert sent["attempts"] == 2 and sent["error"] is None
        (recipients, message), = favorites_messages(inbox)
        assert recipients == ["patient@example.com"]
        assert sent["provider_message_id"] == message["Message-ID"]
    finally:
        if controller is not None:
            controller.stop()
        for client in clients:
            await client.aclose()
