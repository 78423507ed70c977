"""Photographer accounts: sign up, log in, log out, server-side sessions, throttling and
safe redirects after login."""

from __future__ import annotations

import uuid

import pytest
from conftest import rows, scalar

PASSWORD = "correct horse battery"  # what conftest.sign_up uses


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@studio.example.com"


async def login(client, email: str, password: str = PASSWORD, next_url: str | None = None,
                query: str = ""):
    data = {"email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return await client.post_form(f"/login{query}", data)


async def session_ids(db, photographer_id: int) -> set[str]:
    found = await rows(db, "SELECT id FROM auth_sessions WHERE photographer_id=:p",
                       p=photographer_id)
    return {session_id for (session_id,) in found}


async def opens_panel(new_client, session_cookie: str) -> bool:
    """Does this session cookie, replayed by another browser, open the panel?"""
    res = await new_client().get("/panel", headers={"Cookie": f"pr_session={session_cookie}"})
    if res.status_code == 303:
        assert res.headers["location"].startswith("/login")
        return False
    assert res.status_code == 200
    return True


# Sign up --------------------------------------------------------------------------------


async def test_sign_up_stores_an_argon2id_hash_and_logs_in(new_client, db):
    client, email = new_client(), new_email()
    res = await client.post_form("/signup", {"email": email, "name": "Ada Shutter",
                                             "password": PASSWORD})
    assert res.status_code == 303 and res.headers["location"] == "/panel"

    ((photographer_id, password_hash),) = await rows(
        db, "SELECT id, password_hash FROM photographers WHERE email=:e", e=email)
    assert password_hash.startswith("$argon2id$")
    assert "m=19456,t=2" in password_hash  # 19 MiB, 2 iterations
    assert PASSWORD not in password_hash
    assert len(await session_ids(db, photographer_id)) == 1
    assert (await client.get("/panel")).status_code == 200


async def test_a_taken_email_is_refused_with_a_clear_message(photographer, new_client, db):
    for email in (photographer.email, photographer.email.upper()):
        res = await new_client().post_form("/signup", {"email": email, "name": "Copycat",
                                                       "password": "another password"})
        assert res.status_code == 400
        assert "An account with that email already exists" in res.text
        assert "pr_session" not in res.cookies
    assert await scalar(db, "SELECT count(*) FROM photographers WHERE lower(email)=:e",
                        e=photographer.email.lower()) == 1


async def test_a_short_password_is_refused(new_client, db):
    email = new_email()
    res = await new_client().post_form("/signup", {"email": email, "name": "Short",
                                                   "password": "1234567"})
    assert res.status_code == 400
    assert "Password must be at least 8 characters." in res.text
    assert email in res.text  # the form keeps what was typed
    assert await rows(db, "SELECT id FROM photographers WHERE email=:e", e=email) == []


# Log in ---------------------------------------------------------------------------------


async def test_a_wrong_password_is_a_400_with_a_message_and_no_session(
        photographer, new_client, db):
    before = await session_ids(db, photographer.photographer_id)
    client = new_client()
    res = await login(client, photographer.email, "not the password")
    assert res.status_code == 400
    assert "Wrong email or password." in res.text
    assert "pr_session" not in res.cookies
    assert await session_ids(db, photographer.photographer_id) == before
    assert (await client.get("/panel")).status_code == 303


async def test_an_unknown_email_gets_the_same_answer(new_client):
    res = await login(new_client(), new_email(), PASSWORD)
    assert res.status_code == 400
    assert "Wrong email or password." in res.text


async def test_the_right_password_starts_a_server_side_session(photographer, new_client, db):
    before = await session_ids(db, photographer.photographer_id)
    client = new_client()
    res = await login(client, photographer.email)
    assert res.status_code == 303 and res.headers["location"] == "/panel"
    assert "pr_session" in res.cookies
    assert len(await session_ids(db, photographer.photographer_id) - before) == 1
    assert (await client.get("/panel")).status_code == 200


async def test_the_email_is_matched_whatever_its_case(photographer, new_client):
    res = await login(new_client(), f"  {photographer.email.upper()} ")
    assert res.status_code == 303


async def test_the_session_id_rotates_at_each_login(photographer, new_client, db):
    client = new_client()
    assert (await login(client, photographer.email)).status_code == 303
    first_cookie = client.http.cookies["pr_session"]
    first_ids = await session_ids(db, photographer.photographer_id)

    assert (await login(client, photographer.email)).status_code == 303
    second_cookie = client.http.cookies["pr_session"]
    second_ids = await session_ids(db, photographer.photographer_id)

    assert second_cookie != first_cookie
    assert len(second_ids - first_ids) == 1  # a brand-new id…
    assert len(first_ids - second_ids) == 1  # …and the one this browser had is gone
    assert not await opens_panel(new_client, first_cookie)
    assert await opens_panel(new_client, second_cookie)
    # Sessions of other browsers (here: the one that signed up) are not touched.
    assert (await photographer.get("/panel")).status_code == 200


# Log out --------------------------------------------------------------------------------


async def test_logout_deletes_the_session_row_and_the_old_cookie_stops_working(
        photographer, new_client, db):
    cookie = photographer.http.cookies["pr_session"]
    assert await opens_panel(new_client, cookie)
    before = await session_ids(db, photographer.photographer_id)

    res = await photographer.post_form("/logout")
    assert res.status_code == 303 and res.headers["location"] == "/login"
    after = await session_ids(db, photographer.photographer_id)
    assert len(before - after) == 1 and not after - before

    assert not await opens_panel(new_client, cookie)
    res = await photographer.get("/panel")
    assert res.status_code == 303 and res.headers["location"].startswith("/login")


# Throttling -----------------------------------------------------------------------------


async def test_after_ten_wrong_passwords_even_the_right_one_is_refused(
        photographer, other_photographer, new_client, db):
    attacker = new_client()
    for _ in range(10):
        assert (await login(attacker, photographer.email, "guess-guess")).status_code == 400
    before = await session_ids(db, photographer.photographer_id)

    res = await login(new_client(), photographer.email)  # right password, other browser
    assert res.status_code == 429
    assert "Too many wrong attempts" in res.text
    assert 1 <= int(res.headers["retry-after"]) <= 900  # the account's 15-minute window
    assert "pr_session" not in res.cookies
    assert await session_ids(db, photographer.photographer_id) == before

    # Per account (and counted in Redis, server/throttle.py, not in the database):
    # someone else logs in as usual, from the same address (the shared test server
    # relaxes the per-address limit; tests/test_throttles.py checks it).
    assert (await login(new_client(), other_photographer.email)).status_code == 303
    assert await rows(db, "SELECT id FROM login_failures") == []


# Logged out -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/panel", "/panel/events/new", "/panel/events/1",
                                  "/panel/contacts", "/panel/settings/gallery-types"])
async def test_panel_pages_send_a_logged_out_browser_to_login(new_client, path):
    res = await new_client().get(path)
    assert res.status_code == 303
    assert res.headers["location"] == f"/login?next={path}"


async def test_a_logged_out_post_changes_nothing(new_client, db):
    client = new_client()
    res = await client.post_form("/panel/events/new", {"title": "Logged Out Gallery",
                                                       "download_size": "original"})
    assert res.status_code == 403
    assert await rows(db, "SELECT id FROM events WHERE title='Logged Out Gallery'") == []


# Redirect after login -------------------------------------------------------------------


async def test_next_brings_you_back_to_the_page_you_wanted(photographer, new_client):
    res = await login(new_client(), photographer.email, next_url="/panel/contacts")
    assert res.headers["location"] == "/panel/contacts"
    res = await login(new_client(), photographer.email, query="?next=/panel/contacts")
    assert res.headers["location"] == "/panel/contacts"


@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/panel", "https://evil.example/", "/\\evil.example",
    "\\\\evil.example", "/\t/evil.example", "javascript:alert(1)", "evil.example",
])
async def test_next_never_leaves_the_site(photographer, new_client, target):
    # Through the login form's hidden field…
    res = await login(new_client(), photographer.email, next_url=target)
    assert res.status_code == 303 and res.headers["location"] == "/panel"
    # …and through the query string of the login URL.
    client = new_client()
    page = await client.get("/login", params={"next": target})
    assert page.status_code == 200
    res = await client.post_form("/login", {"email": photographer.email, "password": PASSWORD},
                                 params={"next": target})
    assert res.status_code == 303 and res.headers["location"] == "/panel"

