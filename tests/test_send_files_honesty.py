"""After SEND FILES the page says what really happened to the email (issue #15).

Without SMTP_URL (the embedded default) the email is only kept in the mail log: the page
must not say "emailed"; it says the email is queued with no mail server, and gives the
download link to copy by hand. Every panel page carries a slim banner saying emails are
kept, not sent. With SMTP_URL set the page says the link was emailed, and there is no
banner.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from conftest import (
    Client,
    free_port,
    gate_contact_id,
    released_gallery,
    rows,
    sign_up,
    start_server,
)

BANNER = 'id="mail-off-banner"'
QUEUED = "Queued — no mail server is configured."
PANEL_PAGES = ("/panel", "/panel/activity", "/panel/contacts", "/panel/mail",
               "/panel/comments", "/panel/settings/account")


async def favorites_sent(photographer: Client, visitor: Client,
                         email: str = "fran.client@example.com") -> tuple[str, int]:
    """A released gallery, a client who favorited two photos, SEND FILES pressed: the page
    the photographer is sent back to, and the contact's id."""
    event_id, slug, images = await released_gallery(photographer, 3, title="Smith Wedding")
    contact_id = await gate_contact_id(visitor, slug, email=email, name="Fran Client")
    for image in images[:2]:
        res = await visitor.post_json(f"/g/{slug}/images/{image['id']}/favorite", {"on": True})
        assert res.status_code == 200, res.text
    res = await photographer.post_form(f"/panel/activity/{event_id}/{contact_id}/send-files")
    assert res.status_code == 303, res.text
    return res.headers["location"], contact_id


async def queued_link(engine, contact_id: int) -> str:
    (row,) = await rows(engine, "SELECT body_text FROM outbound_emails WHERE contact_id=:c "
                                "AND kind='favorites_download'", c=contact_id)
    (link,) = set(re.findall(r"\S+/d/[A-Za-z0-9_\-.]+", row.body_text))
    return link


async def test_without_smtp_the_page_says_queued_and_gives_the_link(photographer, new_client,
                                                                    db):
    after, contact_id = await favorites_sent(photographer, new_client())
    page = (await photographer.get(after)).text
    link = await queued_link(db, contact_id)

    assert "Download link emailed" not in page  # nothing was emailed
    notice = page.split('id="sent-files"', 1)[1].split('class="toolbar-row"', 1)[0]
    assert QUEUED in notice and "fran.client@example.com" in notice
    assert 'href="/panel/mail"' in notice
    # The very link the stored email carries, in a field and on a copy button.
    assert f'value="{html.escape(link)}"' in notice
    assert f'data-copy="{html.escape(link)}"' in notice
    assert "Copy link" in notice
    # The link works: it downloads the favorites.
    res = await photographer.get(urlsplit(link).path)
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"


async def test_without_smtp_every_panel_page_has_the_mail_banner(photographer):
    for path in PANEL_PAGES:
        page = (await photographer.get(path)).text
        assert page.count(BANNER) == 1, path
        banner = page.split(BANNER, 1)[1].split("</p>", 1)[0]
        assert 'href="/panel/mail"' in banner and "SMTP_URL" in banner, path
        assert "not sent" in banner, path
    # Not on the pages a client sees.
    assert BANNER not in (await photographer.get("/login")).text


# --- with SMTP_URL ----------------------------------------------------------------------

class Inbox:
    """aiosmtpd handler: accepts every message."""

    async def handle_DATA(self, server, session, envelope) -> str:
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(tmp_path, monkeypatch):
    """A Proofroom whose SMTP_URL points at a local SMTP server that accepts everything."""
    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
    server = start_server("sqlite", tmp_path)
    yield server
    server.stop()
    controller.stop()


async def test_with_smtp_the_page_says_emailed_and_there_is_no_banner(smtp_server):
    engine = smtp_server.engine()
    photographer, visitor = Client(smtp_server.base_url), Client(smtp_server.base_url)
    try:
        await sign_up(photographer, engine)
        after, _ = await favorites_sent(photographer, visitor)
        page = (await photographer.get(after)).text
        assert "Download link emailed to fran.client@example.com" in page
        assert QUEUED not in page and "data-copy=" not in page.split('id="sent-files"')[1]
        for path in PANEL_PAGES:
            assert BANNER not in (await photographer.get(path)).text, path
    finally:
        await photographer.aclose()
        await visitor.aclose()
        await engine.dispose()
