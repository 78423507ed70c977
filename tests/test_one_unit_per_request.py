"""One unit of work per request (issue #11): a request opens at most ONE write transaction
(`Database.write`), and the reads that write depends on happen inside it.

Runs the real app in-process on a real database (each backend), with
`Database.write` wrapped to note every write unit opened while a given request is
served, and drives the routes that used to open two or three: the email gate, a first
visit to a gallery, a client's comment on an image with an unread reply (add the
comment, read the thread back, mark the reply read), the emailed device link, and a panel
write made while the login's expiry is due to slide forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import (
    BACKENDS,
    PG_ADMIN_URL,
    Client,
    _create_pg_database,
    _drop_pg_database,
    jpeg_bytes,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from test_cpu_off_loop import Lifespan

#: The list the write units opened while serving the current request go to (None: not
#: counting). A ContextVar, so the app's background tasks (worker, hub) never count.
_OPENED: contextvars.ContextVar[list | None] = contextvars.ContextVar("opened", default=None)


@pytest.fixture
def count_write_units(monkeypatch) -> None:
    from server.db import Database

    real = Database.write

    async def write(self, *args, **kwargs):
        opened = _OPENED.get()
        if opened is not None:
            opened.append(True)
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(Database, "write", write)


async def units(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, int]:
    """The answer to one request and how many write units serving it opened."""
    opened: list = []
    token = _OPENED.set(opened)
    try:
        response = await request
    finally:
        _OPENED.reset(token)
    return response, len(opened)


@contextlib.asynccontextmanager
async def running_app(backend: str, tmp_path) -> AsyncIterator[tuple[Lifespan, AsyncEngine]]:
    """The app (with its in-process worker, which makes the image previews) on a fresh
    database of `backend`, and an engine on that database for what no page shows."""
    from server.app import create_app
    from server.config import Settings
    from server.migrate import upgrade

    name = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'proofroom.db'}"
    else:
        name = await _create_pg_database()
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace(
            "postgresql://", "postgresql+asyncpg://")
    engine = create_async_engine(url)
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(var_dir=tmp_path / "var", database_url=url,
                            secret_key="one-unit-test", media_root=tmp_path / "media")
        async with Lifespan(create_app(settings)) as app:
            yield app, engine
    finally:
        await engine.dispose()
        if name:
            await _drop_pg_database(name)


def client(app) -> Client:
    made = Client("http://127.0.0.1:8000")
    made.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                  base_url="http://127.0.0.1:8000", timeout=30)
    return made


async def released_gallery(me: Client, title: str, images: int = 0) -> tuple[str, list[int]]:
    """A released gallery of `me` with `images` processed images: (slug, image ids)."""
    res = await me.post_form("/panel/events/new", {"title": title, "download_single": "on",
                                                   "download_size": "original"})
    assert res.status_code == 303, res.text
    event_id = int(res.headers["location"].rsplit("/", 1)[1])
    if images:
        res = await me.post_form(
            f"/panel/events/{event_id}/images", headers={"Accept": "application/json"},
            files=[("files", (f"IMG_{i}.jpg", jpeg_bytes(), "image/jpeg"))
                   for i in range(images)])
        assert res.status_code == 200, res.text
    ids = await processed_image_ids(me, event_id)
    res = await me.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    assert res.status_code == 303, res.text
    detail = (await me.get(f"/panel/events/{event_id}")).text
    return detail.split("/g/", 1)[1].split('"', 1)[0], ids


async def processed_image_ids(me: Client, event_id: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        found = (await me.get(f"/panel/events/{event_id}/images.json")).json()["images"]
        if all(i["state"] == "ready" for i in found):
            return [i["id"] for i in found]
        assert time.monotonic() < deadline, f"images not processed: {found}"
        await asyncio.sleep(0.1)


def has_unread_reply(page: httpx.Response, image_id: int) -> bool:
    tile = re.search(rf'<figure class="[^"]*"\s+data-image-id="{image_id}"', page.text)
    assert tile, page.text[:2000]
    return "has-unread" in tile.group(0)


async def newest_verify_link(engine: AsyncEngine, email: str) -> str:
    async with engine.connect() as conn:
        body = (await conn.execute(text(
            "SELECT body_text FROM outbound_emails WHERE kind = 'verify_device' "
            "AND recipient = :m ORDER BY id DESC"), {"m": email})).scalar()
    return "/g/" + body.split("/g/", 1)[1].split()[0]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_client_actions_open_one_write_unit_each(backend, tmp_path, count_write_units):
    async with running_app(backend, tmp_path) as (app, engine):
        me, visitor = client(app), client(app)
        try:
            res = await me.post_form("/signup", {
                "email": f"{uuid.uuid4().hex[:12]}@studio.example.com", "name": "Pat",
                "password": "correct horse battery"})
            assert res.status_code == 303, res.text
            slug, (image_id,) = await released_gallery(me, "Smith Wedding", images=1)
            other_slug, _ = await released_gallery(me, "Smith Engagement")

            # A stranger's view is a pure read.
            res, opened = await units(visitor.get(f"/g/{slug}"))
            assert (res.status_code, opened) == (200, 0)

            # The gate: the device the cookie names, the contact, the visit: one unit.
            res, opened = await units(visitor.post_json(
                f"/g/{slug}/gate", {"email": "jane@example.com", "name": "Jane"}))
            assert (res.status_code, opened) == (200, 1), res.text

            # A first visit to another gallery of the studio (the gate cookie is per studio)
            # records the visit in one unit; the next view writes nothing.
            res, opened = await units(visitor.get(f"/g/{other_slug}"))
            assert (res.status_code, opened) == (200, 1)
            res, opened = await units(visitor.get(f"/g/{other_slug}"))
            assert (res.status_code, opened) == (200, 0)

            thread = f"/g/{slug}/images/{image_id}/comments"
            res, opened = await units(visitor.post_json(thread, {"body": "Crop this one?"}))
            assert (res.status_code, opened) == (200, 1), res.text
            inbox = (await me.get("/panel/comments.json")).json()["conversations"]
            res = await me.post_json(
                f"/panel/comments/{inbox[0]['contact_id']}/{image_id}/reply", {"body": "Sure!"})
            assert res.status_code == 200, res.text
            assert has_unread_reply(await visitor.get(f"/g/{slug}"), image_id)

            # The comment, the thread read back and the reply marked read: ONE unit.
            res, opened = await units(visitor.post_json(thread, {"body": "Thank you!"}))
            assert res.status_code == 200, res.text
            assert [c["author"] for c in res.json()["comments"]] == [
                "client", "photographer", "client"]
            assert opened == 1, f"posting a comment opened {opened} write transactions"
            assert not has_unread_reply(await visitor.get(f"/g/{slug}"), image_id)
            res, opened = await units(visitor.get(thread))  # nothing left to mark
            assert (res.status_code, opened) == (200, 0)

            # The emailed link: the device the cookie names and the link, in one unit.
            link = await newest_verify_link(engine, "jane@example.com")
            res, opened = await units(visitor.post_form(link))
            assert (res.status_code, opened) == (303, 1), res.text
        finally:
            await me.aclose()
            await visitor.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_due_login_slide_commits_in_the_requests_own_unit(backend, tmp_path,
                                                                  count_write_units):
    async with running_app(backend, tmp_path) as (app, engine):
        me = client(app)
        try:
            res = await me.post_form("/signup", {
                "email": f"{uuid.uuid4().hex[:12]}@studio.example.com", "name": "Pat",
                "password": "correct horse battery"})
            assert res.status_code == 303, res.text
            await me.csrf("/panel")  # the token, before anything is counted

            for request in (lambda: me.post_form("/panel/comments/read-all"),  # a write
                            lambda: me.get("/panel")):  # a pure read
                soon = datetime.now(UTC) + timedelta(minutes=5)
                await set_session_expiry(engine, soon)
                res, opened = await units(request())
                assert res.status_code in (200, 303), res.text
                assert opened == 1, f"{res.request.url.path}: {opened} write transactions"
                assert await session_expiry(engine) > soon + timedelta(days=2)  # it slid
        finally:
            await me.aclose()


async def set_session_expiry(engine: AsyncEngine, at: datetime) -> None:
    async with engine.begin() as conn:  # stored as naive UTC (server/models.py)
        await conn.execute(text("UPDATE auth_sessions SET expires_at = :at"),
                           {"at": at.astimezone(UTC).replace(tzinfo=None)})


async def session_expiry(engine: AsyncEngine) -> datetime:
    async with engine.connect() as conn:
        value = (await conn.execute(text("SELECT expires_at FROM auth_sessions"))).scalar()
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_gallery_requests_log_the_gallerys_photographer(backend, tmp_path, caplog):
    """server/request_log.py's `photographer=` names the gallery's owner once the gallery
    is known, as it names the logged-in photographer on the panel's requests."""
    caplog.set_level(logging.INFO, logger="proofroom.requests")
    async with running_app(backend, tmp_path) as (app, _engine):
        me, visitor = client(app), client(app)
        try:
            res = await me.post_form("/signup", {
                "email": f"{uuid.uuid4().hex[:12]}@studio.example.com", "name": "Pat",
                "password": "correct horse battery"})
            assert res.status_code == 303, res.text
            slug, _ = await released_gallery(me, "Smith Wedding")
            await visitor.get(f"/g/{slug}")
            await visitor.post_json(f"/g/{slug}/gate", {"email": "jo@example.com", "name": "Jo"})
        finally:
            await me.aclose()
            await visitor.aclose()
    logged = [re.search(r" route=(\S+) status=\d+ photographer=(\S+) ", r.getMessage())
              for r in caplog.records if r.name == "proofroom.requests"]
    by_route = {m.group(1): m.group(2) for m in logged if m}
    owner = by_route["/panel/events/{event_id:int}"]
    assert owner != "-"
    assert (by_route["/g/{slug}"], by_route["/g/{slug}/gate"]) == (owner, owner)
