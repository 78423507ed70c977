"""CPU work off the event loop and out of transactions.

argon2 (~20 ms a call) runs in a worker thread while the loop keeps serving, and never
inside a write transaction (on SQLite that holds the single writer lock): checked through
every route that hashes or verifies, on the real app with a real database. Pillow: an
image with too many pixels is refused from its header, with each call's own limit, and
no process-wide state (Image.MAX_IMAGE_PIXELS, the warnings filters) is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import struct
import threading
import uuid
import warnings
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import BACKENDS, PG_ADMIN_URL, Client, _create_pg_database, _drop_pg_database
from PIL import Image

from server import imaging, passwords
from server.errors import Invalid

PASSWORD = "correct horse battery"

# --- argon2 ------------------------------------------------------------------------------


class Spy:
    """The real hasher, noting per call: the operation, the hash verified against, the
    thread it ran on, and whether a write transaction was open around it."""

    def __init__(self, real, in_transaction: contextvars.ContextVar | None = None) -> None:
        self.real, self.in_transaction = real, in_transaction
        self.calls: list[dict] = []
        self.meanwhile = None  # called in the hashing thread, before the work

    def _note(self, op: str, against: str | None = None) -> None:
        self.calls.append({"op": op, "against": against, "thread": threading.get_ident(),
                           "in_transaction": self.in_transaction.get()
                           if self.in_transaction else None})
        if self.meanwhile:
            self.meanwhile()

    def hash(self, password: str) -> str:
        self._note("hash")
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self._note("verify", password_hash)
        return self.real.verify(password_hash, password)


async def test_hash_and_verify_run_in_a_thread_while_the_event_loop_keeps_serving(monkeypatch):
    spy = Spy(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", spy)
    loop = asyncio.get_running_loop()
    served: list[bool] = []

    def loop_serves_meanwhile() -> None:
        # Blocks the hashing thread until the loop has run a callback: proof the loop is
        # free during argon2, with no wall-clock threshold (a blocked loop never runs it).
        ran = threading.Event()
        loop.call_soon_threadsafe(ran.set)
        served.append(ran.wait(3))

    spy.meanwhile = loop_serves_meanwhile
    stored = await passwords.hash_password(PASSWORD)
    assert await passwords.verify_password(stored, PASSWORD)
    assert not await passwords.verify_password(stored, "wrong")
    assert not await passwords.verify_password(None, PASSWORD)  # still one argon2 verify

    loop_thread = threading.get_ident()
    assert [c["op"] for c in spy.calls] == ["hash", "verify", "verify", "verify"]
    assert spy.calls[-1]["against"] == passwords.DUMMY_HASH
    assert all(c["thread"] != loop_thread for c in spy.calls)
    assert served == [True] * 4


class Lifespan:
    """Runs the app's ASGI lifespan (startup, shutdown) and hands its state to every
    request, as a server does; httpx's ASGITransport alone does neither."""

    def __init__(self, app) -> None:
        self.app, self.state = app, {}
        self._events: asyncio.Queue = asyncio.Queue()
        self._answers: asyncio.Queue = asyncio.Queue()

    async def __call__(self, scope, receive, send) -> None:
        await self.app({**scope, "state": dict(self.state)}, receive, send)

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, self._events.get, self._answers.put))
        await self._events.put({"type": "lifespan.startup"})
        answer = await asyncio.wait_for(self._answers.get(), 30)
        assert answer["type"] == "lifespan.startup.complete", answer
        return self

    async def __aexit__(self, *exc) -> None:
        await self._events.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self._answers.get(), 30)
        await self._task


@contextlib.asynccontextmanager
async def database_url(backend: str, tmp_path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'proofroom.db'}"
        return
    name = await _create_pg_database()
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace(
            "postgresql://", "postgresql+asyncpg://")
    finally:
        await _drop_pg_database(name)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_no_route_hashes_or_verifies_inside_a_write_transaction(backend, tmp_path,
                                                                      monkeypatch):
    from server import db as db_module
    from server.app import create_app
    from server.config import Settings
    from server.migrate import upgrade

    in_transaction = contextvars.ContextVar("in_transaction", default=False)
    opened: list[bool] = []
    real_run_unit = db_module._run_unit

    def run_unit(*args, **kwargs):
        # Every db.write unit, on whichever thread runs it: a hash called in there sees True.
        token = in_transaction.set(True)
        opened.append(True)
        try:
            return real_run_unit(*args, **kwargs)
        finally:
            in_transaction.reset(token)

    monkeypatch.setattr(db_module, "_run_unit", run_unit)
    spy = Spy(passwords._hasher, in_transaction)
    monkeypatch.setattr(passwords, "_hasher", spy)

    async with database_url(backend, tmp_path) as url:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(var_dir=tmp_path / "var", database_url=url, secret_key="cpu-test",
                            media_root=tmp_path / "media", run_worker=False)
        async with Lifespan(create_app(settings)) as app:
            await _every_password_route(app)

    loop_thread = threading.get_ident()
    ops = [c["op"] for c in spy.calls]
    # sign-up, password change, gallery created and edited with a password
    assert ops.count("hash") == 4, ops
    # login (known, unknown email), current password, gallery unlock (wrong, right)
    assert ops.count("verify") == 5, ops
    assert passwords.DUMMY_HASH in [c["against"] for c in spy.calls]  # the unknown email
    assert opened, "no write unit seen: has db._run_unit been renamed?"
    inside = [c["op"] for c in spy.calls if c["in_transaction"]]
    assert inside == [], f"argon2 ran inside a write transaction: {inside}"
    assert all(c["thread"] != loop_thread for c in spy.calls)


def _client(app) -> Client:
    client = Client("http://127.0.0.1:8000")
    client.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                    base_url="http://127.0.0.1:8000", timeout=30)
    return client


async def _every_password_route(app) -> None:
    me, visitor, stranger = _client(app), _client(app), _client(app)
    try:
        email = f"{uuid.uuid4().hex[:12]}@studio.example.com"
        res = await me.post_form("/signup", {"email": email, "name": "Pat",
                                             "password": PASSWORD})
        assert res.status_code == 303, res.text
        res = await me.post_form("/panel/settings/password", {
            "current_password": PASSWORD, "new_password": PASSWORD + "!",
            "confirm_password": PASSWORD + "!"})
        assert res.status_code == 303, res.text
        res = await stranger.post_form("/login", {"email": email, "password": PASSWORD + "!"})
        assert res.status_code == 303, res.text
        res = await stranger.post_form("/login", {"email": "nobody@example.com",
                                                  "password": PASSWORD})
        assert res.status_code == 400, res.text

        res = await me.post_form("/panel/events/new", {
            "title": "Locked", "password": "first secret", "download_size": "original"})
        assert res.status_code == 303, res.text
        event_id = int(res.headers["location"].rstrip("/").rsplit("/", 1)[1])
        res = await me.post_form(f"/panel/events/{event_id}/edit", {
            "title": "Locked", "password": "second secret", "download_size": "original"})
        assert res.status_code == 303, res.text
        res = await me.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
        assert res.status_code == 303, res.text
        detail = (await me.get(f"/panel/events/{event_id}")).text
        slug = detail.split("/g/", 1)[1].split('"', 1)[0]

        await visitor.get(f"/g/{slug}")
        wrong = await visitor.post_form(f"/g/{slug}/unlock", {"password": "first secret"})
        right = await visitor.post_form(f"/g/{slug}/unlock", {"password": "second secret"})
        assert wrong.status_code != right.status_code, (wrong.text, right.text)
        assert right.status_code == 303, right.text
    finally:
        for client in (me, visitor, stranger):
            await client.aclose()


# --- Pillow ------------------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height, with one tiny (invalid) data chunk: what a
    decompression bomb looks like before anything is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def test_an_image_over_the_limit_is_refused_from_its_header_with_a_clear_error():
    # 900 Mpx: Pillow's own backstop fires in Image.open; the same clear answer.
    with pytest.raises(Invalid, match=r"too large to process safely \(over 120,000,000 pixels"):
        imaging.check_upload(png_claiming(30_000, 30_000), max_pixels=120_000_000)
    # Far below Pillow's default limit, over ours: only the explicit check can refuse it.
    with pytest.raises(Invalid, match=r"too large to process safely \(over 1,000 pixels"):
        imaging.check_upload(png(40, 30), max_pixels=1_000)
    assert imaging.check_upload(png(40, 25), max_pixels=1_000).width == 40  # at the limit


def test_checks_touch_no_process_wide_state_and_each_uses_its_own_limit(monkeypatch):
    before = Image.MAX_IMAGE_PIXELS
    entered: list[str] = []
    real_catch = warnings.catch_warnings

    def catch_warnings(*args, **kwargs):  # not thread-safe: must not be used per call
        entered.append(threading.current_thread().name)
        return real_catch(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", catch_warnings)
    small, bomb = png(40, 30), png_claiming(30_000, 30_000)
    for limit in (1_000, 5_000, 120_000_000):
        for data in (small, bomb):
            with contextlib.suppress(Invalid):
                imaging.check_upload(data, max_pixels=limit)
        imaging.render_variant(small, 16)
        assert before == Image.MAX_IMAGE_PIXELS
    assert entered == []
    # Concurrent checks with different limits do not see each other's.
    with_limits = [(1_000, False), (5_000, True)] * 16

    def verdict(limit: int) -> bool:
        try:
            imaging.check_upload(small, max_pixels=limit)
        except Invalid:
            return False
        return True

    async def all_at_once() -> list[bool]:
        return await asyncio.gather(*(asyncio.to_thread(verdict, limit)
                                      for limit, _ in with_limits))

    assert asyncio.run(all_at_once()) == [ok for _, ok in with_limits]
    assert before == Image.MAX_IMAGE_PIXELS
