"""Throttles (server/throttle.py): download PIN, login, sign-up, email gate, gallery password,
live sockets and bulk downloads, on servers started with the *default* limits (the shared
test server relaxes them), plus a "tight" server with a few limits lowered and sign-up
closed.

Requests name their client address through X-Forwarded-For, which uvicorn trusts from
127.0.0.1 only (its FORWARDED_ALLOW_IPS default): that is how one test machine plays many
visitors, and many attackers.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import os
import subprocess
import sys
import threading
import uuid

import httpx
import pytest
from conftest import (
    BACKENDS,
    Client,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    serve_backend,
    sign_up,
)
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

PASSWORD = "correct horse battery"  # what conftest.sign_up uses
_addresses = itertools.count(1)


def new_address() -> str:
    n = next(_addresses) + os.getpid() % 1000 * 1000
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@studio.example.com"


def _serve(request, tmp_path_factory, limits: dict[str, str], backend: str):
    yield from serve_backend(backend, tmp_path_factory.mktemp(f"throttle-{backend}"),
                             limits=limits)


@pytest.fixture(scope="module", params=BACKENDS)
def strict(request, tmp_path_factory):
    """A server with every limit at its default."""
    yield from _serve(request, tmp_path_factory, {}, request.param)


TIGHT = {"PROOFROOM_SIGNUP": "closed", "PROOFROOM_LIMIT_LOGIN_GLOBAL": "4/900",
         "PROOFROOM_LIMIT_GATE_PER_GALLERY": "3/600", "PROOFROOM_LIMIT_SOCKETS_PER_ADDRESS": "3"}


@pytest.fixture(scope="module")
def tight(request, tmp_path_factory):
    """Sign-up closed and a few limits lowered (what they guard is the same Redis code on
    both backends: one SQLite server is enough)."""
    yield from _serve(request, tmp_path_factory, TIGHT, "sqlite")


class Browsers:
    """Factory: a fresh browser at its own address (or a given one)."""

    def __init__(self, server) -> None:
        self.server = server
        self.made: list[Client] = []

    def __call__(self, address: str | None = None) -> Client:
        client = Client(self.server.base_url)
        client.http.headers["X-Forwarded-For"] = address or new_address()
        self.made.append(client)
        return client

    async def aclose(self) -> None:
        for client in self.made:
            await client.aclose()


@pytest.fixture
async def clients(strict):
    browsers = Browsers(strict)
    yield browsers
    await browsers.aclose()


@pytest.fixture
async def tight_clients(tight):
    browsers = Browsers(tight)
    yield browsers
    await browsers.aclose()


@pytest.fixture
async def engine(strict):
    engine = strict.engine()
    yield engine
    await engine.dispose()


async def login(client: Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post_form("/login", {"email": email, "password": password})


def assert_429(res: httpx.Response, message: str, longest: int) -> None:
    assert res.status_code == 429, res.text
    assert message in res.text
    assert 1 <= int(res.headers["retry-after"]) <= longest


# Download PIN -----------------------------------------------------------------------------


async def test_five_wrong_pins_lock_the_visitor_out_for_30_seconds(clients, engine):
    photographer = await sign_up(clients(), engine)
    _, slug, _ = await released_gallery(photographer, n_images=1, download_pin="4321")
    visitor = clients()
    await pass_gate(visitor, slug)
    for wrong in ("0000", "0001", "0002", "0003", "0004"):
        res = await visitor.post_json(f"/g/{slug}/pin", {"pin": wrong})
        assert res.status_code == 400 and res.json()["error"] == "That PIN is not right."

    res = await visitor.post_json(f"/g/{slug}/pin", {"pin": "4321"})  # even the right one
    assert_429(res, "Too many wrong PINs", 30)
    assert res.json()["error"].startswith("Too many wrong PINs. Try again in")
    assert "pr_pin" not in res.cookies

    # Another visitor of the same gallery is not locked out by this one.
    assert (await clients().post_json(f"/g/{slug}/pin", {"pin": "4321"})).status_code == 200


async def test_parallel_wrong_pins_count_exactly(clients, engine):
    """Twenty guesses at once from one visitor: five are checked, fifteen refused."""
    photographer = await sign_up(clients(), engine)
    _, slug, _ = await released_gallery(photographer, n_images=1, download_pin="4321")
    visitor = clients()
    await visitor.csrf()
    answers = await asyncio.gather(*(visitor.post_json(f"/g/{slug}/pin", {"pin": f"{n:04}"})
                                     for n in range(20)))
    assert sorted(r.status_code for r in answers) == [400] * 5 + [429] * 15


async def test_wrong_pins_from_many_visitors_lock_the_gallery(clients, engine):
    """A PIN has 10,000 values: fresh addresses and cookies only get 25 guesses at a gallery
    before it locks for everyone, with a lockout that doubles from 30 s."""
    photographer = await sign_up(clients(), engine)
    _, slug, _ = await released_gallery(photographer, n_images=1, download_pin="4321")
    guessers = [clients() for _ in range(30)]
    await asyncio.gather(*(g.csrf() for g in guessers))
    answers = await asyncio.gather(*(g.post_json(f"/g/{slug}/pin", {"pin": f"{n:04}"})
                                     for n, g in enumerate(guessers)))
    assert sorted(r.status_code for r in answers) == [400] * 25 + [429] * 5
    assert_429(await clients().post_json(f"/g/{slug}/pin", {"pin": "4321"}),
               "Too many wrong PINs", 30)


# Login ------------------------------------------------------------------------------------


async def test_wrong_logins_across_many_accounts_from_one_address_are_throttled(
        clients, engine):
    photographer = await sign_up(clients(), engine)
    attacker = clients()
    for _ in range(20):
        res = await login(attacker, new_email(), "guess-guess")
        assert res.status_code == 400 and "Wrong email or password." in res.text
    res = await login(attacker, photographer.email)  # a real account, the right password
    assert_429(res, "Too many wrong attempts", 900)
    assert "pr_session" not in res.cookies
    # The photographer, elsewhere, logs in as usual.
    assert (await login(clients(), photographer.email)).status_code == 303


async def test_parallel_wrong_logins_are_counted_atomically(clients, engine):
    """Thirty guesses at once at one account, from thirty addresses: exactly ten are
    checked (the database count let 13-16 through on PostgreSQL)."""
    photographer = await sign_up(clients(), engine)
    guessers = [clients() for _ in range(30)]
    await asyncio.gather(*(g.csrf() for g in guessers))
    answers = await asyncio.gather(*(login(g, photographer.email, f"guess-{n}")
                                     for n, g in enumerate(guessers)))
    assert sorted(r.status_code for r in answers) == [400] * 10 + [429] * 20
    assert_429(await login(clients(), photographer.email), "Too many wrong attempts", 900)
    # Throttling left the database alone: nothing in the old table.
    assert await scalar(engine, "SELECT count(*) FROM login_failures") == 0


async def test_a_right_login_gives_its_slot_back(clients, engine):
    """Successful logins never use up the address's allowance of failures."""
    photographer = await sign_up(clients(), engine)
    office = new_address()
    for _ in range(25):
        assert (await login(clients(office), photographer.email)).status_code == 303
    assert (await login(clients(office), new_email(), "guess")).status_code == 400


# Sign-up ----------------------------------------------------------------------------------


async def test_sign_ups_from_one_address_are_limited(clients, engine):
    address = new_address()
    for _ in range(10):
        await sign_up(clients(address), engine)
    email = new_email()
    res = await clients(address).post_form("/signup", {"email": email, "name": "Bot",
                                                       "password": PASSWORD})
    assert_429(res, "Too many sign-ups from your network", 3600)
    assert email in res.text  # the form keeps what was typed
    assert await rows(engine, "SELECT id FROM photographers WHERE email=:e", e=email) == []
    await sign_up(clients(), engine)  # someone else, elsewhere


async def test_sign_up_is_open_by_default(clients):
    page = await clients().get("/login")
    assert 'href="/signup"' in page.text
    assert (await clients().get("/signup")).status_code == 200


# Email gate -------------------------------------------------------------------------------


async def test_gate_posts_from_one_address_are_limited(clients, engine):
    photographer = await sign_up(clients(), engine)
    _, slug, _ = await released_gallery(photographer, n_images=1)
    address = new_address()
    for n in range(30):
        await pass_gate(clients(address), slug, email=f"guest{n}@example.com")
    res = await clients(address).post_json(f"/g/{slug}/gate", {"email": "more@example.com",
                                                              "name": "More"})
    assert_429(res, "Try again in", 600)
    assert res.json()["error"].startswith("Too many visitors signed in from here")
    assert await scalar(engine, "SELECT count(*) FROM contacts WHERE photographer_id=:p",
                        p=photographer.photographer_id) == 30
    await pass_gate(clients(), slug, email="elsewhere@example.com")


# Gallery password -------------------------------------------------------------------------


async def test_wrong_gallery_passwords_are_throttled_per_address(clients, engine):
    photographer = await sign_up(clients(), engine)
    _, slug, _ = await released_gallery(photographer, n_images=1, password="open sesame")
    address = new_address()
    for n in range(10):
        res = await clients(address).post_form(f"/g/{slug}/unlock", {"password": f"guess {n}"})
        assert res.status_code == 400 and "That password is not right." in res.text
    res = await clients(address).post_form(f"/g/{slug}/unlock", {"password": "open sesame"})
    assert_429(res, "Too many wrong passwords", 900)
    assert "pr_unlock" not in res.cookies
    res = await clients().post_form(f"/g/{slug}/unlock", {"password": "open sesame"})
    assert res.status_code == 303 and "pr_unlock" in res.cookies
    assert await scalar(engine, "SELECT count(*) FROM login_failures") == 0


# Live sockets -----------------------------------------------------------------------------


async def open_socket(client: Client, path: str):
    """A live socket as the page opens it, from the client's address and with its cookies."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
    base = str(client.http.base_url).rstrip("/")
    return await connect(base.replace("http://", "ws://") + path, additional_headers={
        "Cookie": cookie, "Origin": base,
        "X-Forwarded-For": client.http.headers["X-Forwarded-For"]})


async def close_code(ws) -> int | None:
    """None while the server keeps the socket open (it answers a ping), else its close code."""
    try:
        await asyncio.wait_for(await ws.ping(), 10)
    except ConnectionClosed:
        return ws.close_code
    return None


async def opens_eventually(client: Client, path: str, tries: int = 50):
    """A slot is given back asynchronously after a socket closes: retry a while."""
    for _ in range(tries):
        ws = await open_socket(client, path)
        if await close_code(ws) is None:
            return ws
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} still refused")


async def test_live_gallery_sockets_are_capped_per_visitor(clients, engine):
    photographer = await sign_up(clients(), engine)
    _, slug, _ = await released_gallery(photographer, n_images=1)
    visitor = clients()
    await pass_gate(visitor, slug)
    path = f"/ws/gallery/{slug}"
    sockets = [await open_socket(visitor, path) for _ in range(8)]
    try:
        assert [await close_code(ws) for ws in sockets] == [None] * 8
        refused = await open_socket(visitor, path)
        assert await close_code(refused) == 4429
        other = clients(visitor.http.headers["X-Forwarded-For"])  # same address, own cookie
        await pass_gate(other, slug, email="other@example.com")
        sockets.append(await open_socket(other, path))
        assert await close_code(sockets[-1]) is None

        await sockets.pop(0).close()  # one tab closes: its slot comes back
        sockets.append(await opens_eventually(visitor, path))
    finally:
        for ws in sockets:
            await ws.close()


async def test_live_panel_sockets_are_capped_per_session(clients, engine):
    photographer = await sign_up(clients(), engine)
    sockets = [await open_socket(photographer, "/ws/panel") for _ in range(8)]
    try:
        assert [await close_code(ws) for ws in sockets] == [None] * 8
        assert await close_code(await open_socket(photographer, "/ws/panel")) == 4429
        again = clients(photographer.http.headers["X-Forwarded-For"])  # a second login
        assert (await login(again, photographer.email)).status_code == 303
        sockets.append(await open_socket(again, "/ws/panel"))
        assert await close_code(sockets[-1]) is None
    finally:
        for ws in sockets:
            await ws.close()


def test_the_pages_wait_after_a_4429():
    """The pages' reconnect loops know the code (and do not retry at once)."""
    from server.templating import WEB_DIR

    js = WEB_DIR / "static" / "js"
    shared = (js / "live_socket.js").read_text()  # the one reconnecting socket
    assert "4429" in shared and "tooManyDelay = 60000" in shared
    for name in ("gallery_live.js", "live.js"):
        assert "./live_socket.js" in (js / name).read_text(), name


# Bulk downloads ---------------------------------------------------------------------------


def noise_jpeg(width: int = 2400, height: int = 1800) -> bytes:
    """A JPEG that does not compress (~6 MB): a ZIP of a few stays in flight a while."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


async def start_download(client: Client, slug: str) -> httpx.Response:
    """Headers only; the body stays unread, so the server stays mid-stream."""
    request = client.http.build_request("GET", f"/g/{slug}/download.zip",
                                        params={"scope": "all"},
                                        headers={"Accept": "application/json"})
    return await client.http.send(request, stream=True)


async def big_gallery(photographer: Client) -> str:
    from conftest import create_gallery, upload, wait_processed

    event_id = await create_gallery(photographer)
    data = await asyncio.to_thread(noise_jpeg)
    res = await upload(photographer, event_id, [(f"BIG_{n}.jpg", data) for n in range(5)])
    assert res.status_code == 200, res.text
    await wait_processed(photographer, event_id, timeout=90)
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303
    detail = (await photographer.get(f"/panel/events/{event_id}")).text
    return detail.split("/g/", 1)[1].split('"', 1)[0]


async def test_bulk_downloads_are_capped_per_visitor_until_the_stream_ends(clients, engine):
    photographer = await sign_up(clients(), engine)
    slug = await big_gallery(photographer)
    visitor = clients()
    await pass_gate(visitor, slug)
    running = [await start_download(visitor, slug) for _ in range(2)]
    try:
        assert [r.status_code for r in running] == [200, 200]
        refused = await start_download(visitor, slug)
        await refused.aread()
        assert_429(refused, "You already have 2 downloads running", 60)
        assert refused.json()["error"].startswith("You already have 2 downloads running")

        # The client goes away mid-stream: its slot comes back.
        await running.pop().aclose()
        for _ in range(100):
            again = await start_download(visitor, slug)
            if again.status_code == 200:
                running.append(again)
                break
            await again.aclose()
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the slot of a dropped download never came back")
        # A stream read to its end gives its slot back too.
        await running.pop().aread()
        finished = await start_download(visitor, slug)
        running.append(finished)
        assert finished.status_code == 200
    finally:
        for r in running:
            await r.aclose()


# A tight server: sign-up closed, low global limits ---------------------------------------


def createuser(server, email: str) -> None:
    subprocess.run([sys.executable, "-m", "server.cli", "createuser", email, "Closed Studio",
                    "--password", PASSWORD], env=server.env, check=True,
                   capture_output=True)


async def test_closed_sign_up_sends_people_to_the_owner(tight, tight_clients):
    for res in (await tight_clients().get("/signup"),
                await tight_clients().post_form("/signup", {
                    "email": new_email(), "name": "X", "password": PASSWORD})):
        assert res.status_code == 403
        assert "Sign-up is closed on this studio's server" in res.text
        assert "proofroom createuser" in res.text
        assert "pr_session" not in res.cookies
    page = await tight_clients().get("/login")
    assert page.status_code == 200 and 'href="/signup"' not in page.text


async def test_gate_posts_to_one_gallery_are_limited(tight, tight_clients):
    email = new_email()
    await asyncio.to_thread(createuser, tight, email)
    photographer = tight_clients()
    assert (await login(photographer, email)).status_code == 303
    _, slug, _ = await released_gallery(photographer, n_images=1)
    for n in range(3):
        await pass_gate(tight_clients(), slug, email=f"g{n}@example.com")
    res = await tight_clients().post_json(f"/g/{slug}/gate",
                                          {"email": "g9@example.com", "name": "G"})
    assert_429(res, "Too many visitors signed in", 600)

async def test_live_sockets_are_capped_per_address(tight, tight_clients):
    email = new_email()
    await asyncio.to_thread(createuser, tight, email)
    photographer = tight_clients()
    assert (await login(photographer, email)).status_code == 303
    _, slug, _ = await released_gallery(photographer, n_images=1)
    address, path = new_address(), f"/ws/gallery/{slug}"
    visitors = [tight_clients(address) for _ in range(3)]
    for n, visitor in enumerate(visitors):
        await pass_gate(visitor, slug, email=f"v{n}@example.com")
    sockets = [await open_socket(visitor, path) for visitor in visitors]
    try:
        assert [await close_code(ws) for ws in sockets] == [None] * 3
        # The first visitor's second tab: under its own cap, over the address's.
        assert await close_code(await open_socket(visitors[0], path)) == 4429
        elsewhere = tight_clients()
        elsewhere.http.cookies.update(visitors[0].http.cookies)  # the same phone, on 4G
        sockets.append(await open_socket(elsewhere, path))
        assert await close_code(sockets[-1]) is None
    finally:
        for ws in sockets:
            await ws.close()


# Fail open, and the same work for unknown emails ------------------------------------------


def _settings(database_url: str = "sqlite+aiosqlite:///unused.db"):
    from server.config import Settings

    return Settings(database_url=database_url, secret_key="x")


async def test_redis_down_fails_open_with_a_warning(caplog):
    import redis.asyncio as aioredis

    from server import throttle

    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    limiter = throttle.Throttle(dead, _settings())
    throttle._last_warning[0] = 0.0
    with caplog.at_level(logging.WARNING, logger="proofroom.throttle"):
        for _ in range(20):
            await limiter.login_attempt("someone@example.com", "10.9.9.9")
        await limiter.pin_attempt(1, "10.9.9.9|-")
        lease = await limiter.gallery_socket("cookie", "10.9.9.9")
        assert lease is not None
        await lease.release()
        await limiter.bulk_download(1, "1:1")
    assert "failing open" in caplog.text
    await dead.aclose()


async def test_an_unknown_email_costs_the_same_argon2_verify_in_a_thread(tmp_path,
                                                                         monkeypatch):
    from server import auth, passwords, throttle
    from server.db import Database
    from server.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    calls: list[tuple[str, bool]] = []
    real = passwords._hasher

    class Spy:
        """The real hasher, noting each verification and whether it ran on the loop."""

        def verify(self, password_hash, password):
            calls.append((password_hash,
                          threading.current_thread() is threading.main_thread()))
            return real.verify(password_hash, password)

    import redis.asyncio as aioredis

    redis = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    limiter = throttle.Throttle(redis, _settings(url))  # Redis down: fails open
    try:
        me = await auth.create_account(db, email="known@example.com", name="K",
                                       password=PASSWORD)
        known_hash = me.password_hash
        monkeypatch.setattr(passwords, "_hasher", Spy())

        assert await auth.authenticate(db, limiter, email="nobody@example.com",
                                       password=PASSWORD, address="10.1.1.1") is None
        assert calls == [(passwords.DUMMY_HASH, False)]  # one verify, off the event loop

        calls.clear()
        assert await auth.authenticate(db, limiter, email="known@example.com",
                                       password="wrong password", address="10.1.1.1") is None
        assert calls == [(known_hash, False)]
        assert (await auth.authenticate(db, limiter, email="KNOWN@example.com ",
                                        password=PASSWORD, address="10.1.1.1")).email \
            == "known@example.com"
    finally:
        await db.dispose()
        await redis.aclose()


def test_limits_are_read_from_the_environment():
    from server.config import Limits, Lockout, Rate, Settings

    limits = Limits.from_env({"PROOFROOM_LIMIT_LOGIN_PER_ADDRESS": "7/60",
                              "PROOFROOM_LIMIT_PIN_PER_VISITOR": "3/10",
                              "PROOFROOM_LIMIT_SOCKETS_PER_VISITOR": "2"})
    assert limits.login_per_address == Rate(7, 60)
    assert limits.pin_per_visitor == Lockout(3, 10)
    assert limits.sockets_per_visitor == 2
    assert limits.login_per_account == Rate(10, 900)  # untouched: the default
    with pytest.raises(ValueError, match="PROOFROOM_LIMIT_GATE_PER_ADDRESS"):
        Limits.from_env({"PROOFROOM_LIMIT_GATE_PER_ADDRESS": "lots"})
    env = {"SECRET_KEY": "x", "PROOFROOM_VAR": "/tmp/unused"}
    assert Settings.from_env(env).signup_open
    assert not Settings.from_env({**env, "PROOFROOM_SIGNUP": "closed"}).signup_open


async def test_failed_logins_are_limited_server_wide(tight, tight_clients):
    """Last in the file: it uses up the tight server's allowance of failed logins."""
    email = new_email()
    await asyncio.to_thread(createuser, tight, email)
    for _ in range(4):  # four addresses, four accounts: under every other limit
        assert (await login(tight_clients(), new_email(), "guess")).status_code == 400
    assert_429(await login(tight_clients(), email), "Too many wrong attempts", 900)
