"""Panel sessions and the tokens that hang off them: CSRF bound to the login, idle and
absolute expiry, password change ending every other session (and its live sockets),
emailed download links revoked with their gallery, unguessable gallery addresses."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CSRF_META, released_gallery, rows, scalar, sign_up
from test_mail import client_with_favorites, link_token, send_files, settled_email
from test_realtime import open_panel_socket
from websockets.exceptions import ConnectionClosed

PASSWORD = "correct horse battery"


async def page_token(client, url: str = "/panel/settings/account") -> str:
    return CSRF_META.search((await client.get(url)).text).group(1)


async def log_in(client, email: str, password: str = PASSWORD):
    return await client.post_form("/login", {"email": email, "password": password})


async def closes_within(ws, seconds: float) -> None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()


# --- CSRF ------------------------------------------------------------------------------

async def test_a_planted_cookie_and_field_pair_is_refused_once_logged_in(photographer):
    """The double-submit pair an attacker makes in their own browser (any cookie value
    plus the same value in the form) does not match the victim's session."""
    planted = "attacker-chosen-token-value-1234567890"
    photographer.http.cookies.set("pr_csrf", planted)
    res = await photographer.http.post("/panel/events/new",
                                       data={"title": "Planted", "csrf_token": planted})
    assert res.status_code == 403
    res = await photographer.http.post(
        "/panel/comments/read-all", headers={"X-CSRF-Token": planted,
                                             "Accept": "application/json"})
    assert res.status_code == 403
    # The session's own token works.
    res = await photographer.post_form("/panel/events/new", {"title": "Real"})
    assert res.status_code == 303


async def test_another_sessions_token_is_refused(photographer, other_photographer, db):
    theirs = await page_token(other_photographer)
    res = await photographer.http.post("/panel/events/new",
                                       data={"title": "Cross", "csrf_token": theirs})
    assert res.status_code == 403
    assert await rows(db, "SELECT id FROM events WHERE title='Cross'") == []


async def test_logging_in_rotates_the_token(new_client, db):
    client = await sign_up(new_client(), db)
    before = await page_token(client)
    second = new_client()
    assert (await log_in(second, client.email)).status_code == 303
    after = await page_token(second)
    assert before != after
    # The new session refuses the old session's token, and the old one refuses the new.
    res = await second.http.post("/panel/events/new", data={"title": "Old", "csrf_token": before})
    assert res.status_code == 403
    res = await client.http.post("/panel/events/new", data={"title": "New", "csrf_token": after})
    assert res.status_code == 403


async def test_a_non_ascii_token_is_a_clean_403(photographer):
    res = await photographer.http.post("/panel/events/new",
                                       data={"title": "x", "csrf_token": "jeton-été-☃"})
    assert res.status_code == 403


# --- expiry -----------------------------------------------------------------------------

async def _session_row(db, photographer_id: int):
    (row,) = await rows(db, "SELECT id, created_at, expires_at FROM auth_sessions "
                            "WHERE photographer_id=:p", p=photographer_id)
    return row


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _set_times(db, session_id: str, **values: datetime) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    naive = {k: v.astimezone(UTC).replace(tzinfo=None) for k, v in values.items()}
    async with db.begin() as conn:
        from sqlalchemy import text
        await conn.execute(text(f"UPDATE auth_sessions SET {sets} WHERE id = :id"),
                           {"id": session_id, **naive})


async def test_an_idle_session_ends(photographer, db):
    row = await _session_row(db, photographer.photographer_id)
    await _set_times(db, row.id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    res = await photographer.get("/panel")
    assert res.status_code == 303 and res.headers["location"].startswith("/login")
    res = await photographer.http.post("/panel/events/new", data={"title": "x"})
    assert res.status_code == 403


async def test_use_slides_the_idle_expiry_but_never_past_the_absolute_limit(photographer, db):
    row = await _session_row(db, photographer.photographer_id)
    now = datetime.now(UTC)
    # Idle expiry close: a request moves it to about now + idle (3 days by default).
    await _set_times(db, row.id, expires_at=now + timedelta(minutes=5))
    assert (await photographer.get("/panel")).status_code == 200
    slid = _aware((await _session_row(db, photographer.photographer_id)).expires_at)
    assert slid > now + timedelta(days=2)

    # Logged in almost 30 days ago: the expiry stops at created_at + 30 days.
    created = now - timedelta(days=30) + timedelta(minutes=30)
    await _set_times(db, row.id, created_at=created, expires_at=now + timedelta(minutes=5))
    assert (await photographer.get("/panel")).status_code == 200
    capped = _aware((await _session_row(db, photographer.photographer_id)).expires_at)
    assert abs((capped - (created + timedelta(days=30))).total_seconds()) < 2


# --- password change ----------------------------------------------------------------------

async def test_changing_the_password_ends_every_other_session_and_its_sockets(
        new_client, server, db):
    laptop = await sign_up(new_client(), db)
    phone = new_client()
    assert (await log_in(phone, laptop.email)).status_code == 303
    phone_socket = await open_panel_socket(phone, server.base_url)
    laptop_socket = await open_panel_socket(laptop, server.base_url)

    res = await laptop.post_form("/panel/settings/password", {
        "current_password": PASSWORD, "new_password": "a brand new secret",
        "confirm_password": "a brand new secret"})
    assert res.status_code == 303
    assert "Password changed" in (await laptop.get(res.headers["location"])).text

    await closes_within(phone_socket, 5)
    assert (await phone.get("/panel")).status_code == 303  # logged out
    # The browser that changed it stays in, socket and all.
    assert (await laptop.get("/panel")).status_code == 200
    with pytest.raises(TimeoutError):  # still open: whatever it gets, it is not closed
        async with asyncio.timeout(0.5):
            while True:
                await laptop_socket.recv()
    await laptop_socket.close()

    assert (await log_in(new_client(), laptop.email)).status_code == 400
    assert (await log_in(new_client(), laptop.email, "a brand new secret")).status_code == 303


async def test_a_wrong_current_password_changes_nothing(new_client, server, db):
    client = await sign_up(new_client(), db)
    other = new_client()
    assert (await log_in(other, client.email)).status_code == 303
    before = await scalar(db, "SELECT password_hash FROM photographers WHERE id=:p",
                          p=client.photographer_id)
    for form, message in (
        ({"current_password": "not it at all", "new_password": "another secret",
          "confirm_password": "another secret"}, "current password is not right"),
        ({"current_password": PASSWORD, "new_password": "short",
          "confirm_password": "short"}, "at least 8"),
        ({"current_password": PASSWORD, "new_password": "another secret",
          "confirm_password": "another secreT"}, "differ"),
    ):
        res = await client.post_form("/panel/settings/password", form)
        assert res.status_code == 400
        assert message in html.unescape(res.text)
    assert await scalar(db, "SELECT password_hash FROM photographers WHERE id=:p",
                        p=client.photographer_id) == before
    assert (await other.get("/panel")).status_code == 200


async def test_the_studio_name_is_saved(photographer, db):
    res = await photographer.post_form("/panel/settings/account",
                                       {"name": "Pat Lens", "business_name": "Lens & Light"})
    assert res.status_code == 303
    assert await scalar(db, "SELECT business_name FROM photographers WHERE id=:p",
                        p=photographer.photographer_id) == "Lens & Light"
    res = await photographer.post_form("/panel/settings/account", {"name": ""})
    assert res.status_code == 400


# --- download links -------------------------------------------------------------------------

async def test_unpublishing_or_deleting_a_gallery_revokes_its_links(photographer, new_client,
                                                                   db):
    await photographer.post_form("/panel/settings/account",
                                 {"name": "Pat Lens", "business_name": "Lens & Light Studio"})
    event_id, contact_id, _, _ = await client_with_favorites(photographer, new_client)
    assert (await send_files(photographer, event_id, contact_id)).status_code == 303
    token = link_token((await settled_email(db, contact_id))["body_text"])
    stranger = new_client()
    assert (await stranger.get(f"/d/{token}")).status_code == 200

    status = f"/panel/events/{event_id}/status"
    assert (await photographer.post_form(status, {"status": "draft"})).status_code == 303
    res = await stranger.get(f"/d/{token}")
    assert res.status_code == 410
    page = html.unescape(res.text)
    assert "no longer available" in page and "Lens & Light Studio" in page
    assert photographer.email in page

    # Released again: the old link stays revoked (a new one must be sent).
    assert (await photographer.post_form(status, {"status": "released"})).status_code == 303
    assert (await stranger.get(f"/d/{token}")).status_code == 410
    assert (await send_files(photographer, event_id, contact_id)).status_code == 303

    downloads = await scalar(db, "SELECT count(*) FROM downloads WHERE contact_id=:c",
                             c=contact_id)
    res = await photographer.post_form(f"/panel/events/{event_id}/delete")
    assert res.status_code == 303
    res = await stranger.get(f"/d/{token}")
    assert res.status_code == 410 and "Lens & Light Studio" in html.unescape(res.text)
    assert await scalar(db, "SELECT count(*) FROM downloads WHERE contact_id=:c",
                        c=contact_id) in (0, downloads)  # nothing new counted


# --- gallery addresses ----------------------------------------------------------------------

async def test_a_gallery_address_carries_64_random_bits(photographer, new_client):
    slugs = set()
    for _ in range(3):
        _, slug, _ = await released_gallery(photographer, 1, title="Smith Wedding")
        assert re.fullmatch(r"smith-wedding-[0-9a-f]{16}", slug), slug
        slugs.add(slug)
    assert len(slugs) == 3
