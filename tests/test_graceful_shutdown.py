"""A graceful stop hands back the leases of the jobs it cancels (jobs/worker.py).

Stopping a worker gracefully (the web app's shutdown with its in-process worker;
`proofroom worker` on SIGTERM; both through Services.close) cancels the jobs that are
running. Each had leased its row (server/reconcile.py) for PROOFROOM_JOB_LEASE_SECONDS
(180 s by default, kept here): without a hand-back the row would wait that long for a
worker. With it, the row is waiting again the moment the stop is over, and the next start
runs it at once.

Real parts: the app's ASGI lifespan with its in-process arq worker, or `proofroom worker`
processes sent SIGTERM; a redis-server of the test's own; SQLite or PostgreSQL. The job
that blocks: an image whose rendering never ends (monkeypatched, in-process only), or an
email to an SMTP server that never answers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import BACKENDS, _spawn, free_port, jpeg_bytes, rows
from sqlalchemy.ext.asyncio import create_async_engine
from test_cpu_off_loop import Lifespan, database_url
from test_durable_jobs import Inbox, PrivateRedis

from jobs.worker import LEASING, Stopping, _hand_back, send_email
from server import uploads
from server.app import create_app, job_lease
from server.auth import create_account
from server.config import Settings
from server.db import Database
from server.galleries import EventForm, new_event
from server.mail import queue
from server.media import MediaStore
from server.migrate import upgrade
from server.models import utcnow

#: What the tests wait for a job to be running, or done, at most. Far below the lease:
#: a row done within it was not waiting for its lease to run out.
WITHIN = 30

TABLES = {"image": ("images", "processing", "ready"),
          "email": ("outbound_emails", "queued", "sent")}


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.fixture
def silent_smtp() -> Iterator[str]:
    """An SMTP server that accepts the connection and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"smtp://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def answering_smtp() -> Iterator[tuple[str, Inbox]]:
    inbox = Inbox()
    inbox.rcpt_delay = 0
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


async def seed(url: str, media_root: Path, kind: str) -> int:
    """One photographer and one waiting row of `kind` (its job not enqueued: the worker's
    start-up reconcile does that); the row's id."""
    db = Database(url)
    media = MediaStore(media_root)
    try:
        if kind == "image":
            staged = await uploads.stage(media, filename="IMG_1.jpg", data=jpeg_bytes(),
                                         max_pixels=10_000_000)
        photographer = await create_account(db, email="pat@studio.example.com",
                                            name="Pat", password="a long password 1")
        if kind != "image":
            row = await db.write(lambda session: queue(
                session, photographer.id, kind="gate_confirm", recipient="guest@example.com",
                subject="Hello", body_text="Hi"))
            return row.id

        def add_upload(session) -> int:
            event = new_event(session, photographer.id, EventForm(title="Shoot"))
            (row,) = uploads.add_images(session, photographer.id, event.id, [staged])
            return row.id

        return await db.write(add_upload)
    finally:
        await db.dispose()


async def row_state(url: str, kind: str, row_id: int) -> dict:
    table = TABLES[kind][0]
    engine = create_async_engine(url)
    try:
        ((state, attempts, leased_until, next_attempt_at),) = await rows(
            engine, f"SELECT state, attempts, leased_until, next_attempt_at FROM {table} "
                    "WHERE id=:i", i=row_id)
    finally:
        await engine.dispose()
    return {"state": state, "attempts": attempts, "leased_until": leased_until,
            "next_attempt_at": _aware(next_attempt_at)}


def _aware(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):  # SQLite through a plain text() query
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value is not None else None


async def wait_until(check, what: str) -> dict:
    deadline = time.monotonic() + WITHIN
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not {what} after {WITHIN}s"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["image", "email"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_graceful_stop_hands_back_the_lease_and_the_next_start_runs_it(
        backend, kind, tmp_path, private_redis, silent_smtp, answering_smtp, monkeypatch):
    assert job_lease().total_seconds() > 2 * WITHIN  # the lease is not what frees the row
    smtp_url, inbox = answering_smtp
    blocked = threading.Event()
    real_render = uploads._render_all

    def render_forever(media, storage_key) -> None:  # until the test lets it go
        blocked.wait(WITHIN)

    async with database_url(backend, tmp_path) as url:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(var_dir=tmp_path / "var", database_url=url,
                            redis_url=private_redis.url, secret_key="graceful",
                            media_root=tmp_path / "media", smtp_url=silent_smtp)
        row_id = await seed(url, settings.media_root, kind)
        table, waiting, done = TABLES[kind]

        # 1. The job starts, leases its row, and blocks; the app shuts down.
        monkeypatch.setattr(uploads, "_render_all", render_forever)
        try:
            async with Lifespan(create_app(settings)):
                async def leased():
                    state = await row_state(url, kind, row_id)
                    return state if state["leased_until"] is not None else None

                held = await wait_until(leased, "leased by the job")
                assert held["attempts"] == 1
            stopped_at = datetime.now(UTC)
            after = await row_state(url, kind, row_id)
        finally:
            blocked.set()
            monkeypatch.setattr(uploads, "_render_all", real_render)

        # 2. Handed back: waiting again, due now, the claim counted.
        assert after["leased_until"] is None, after
        assert after["state"] == waiting and after["attempts"] == 1, after
        assert after["next_attempt_at"] is not None and after["next_attempt_at"] <= stopped_at

        # 3. A fresh start (a working SMTP server now) runs it at once.
        settings.smtp_url = smtp_url
        async with Lifespan(create_app(settings)):
            async def finished():
                state = await row_state(url, kind, row_id)
                return state if state["state"] == done else None

            final = await wait_until(finished, f"{done}")
        assert final["attempts"] == 2 and final["leased_until"] is None
        if kind == "email":
            assert sum(inbox.counts().values()) == 1
        else:
            media = MediaStore(settings.media_root)
            engine = create_async_engine(url)
            try:
                ((key,),) = await rows(engine, f"SELECT storage_key FROM {table} WHERE id=:i",
                                       i=row_id)
            finally:
                await engine.dispose()
            assert media.variant_path("thumb", media.derived_key(key)).exists()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_only_a_stop_hands_back_and_only_the_lease_the_job_took(backend, tmp_path,
                                                                      silent_smtp):
    """A cancel that is no stop (the job's own timeout) keeps the lease: it outlives the
    job on purpose. A hand-back never ends a lease taken before its job started (another
    worker's, held by a duplicate job's claim)."""
    async with database_url(backend, tmp_path) as url:
        await asyncio.to_thread(upgrade, url)
        row_id = await seed(url, tmp_path / "media", "email")
        db = Database(url)
        ctx = {"db": db, "lease": job_lease(), "stopping": Stopping(), "job_id": "t-1",
               "settings": Settings(smtp_url=silent_smtp)}
        try:
            before_claim = utcnow()
            job = asyncio.create_task(send_email(ctx, row_id))

            async def leased():
                state = await row_state(url, "email", row_id)
                return state if state["leased_until"] is not None else None

            await wait_until(leased, "leased by the job")
            job.cancel()  # as a timeout does: the worker is not stopping
            with pytest.raises(asyncio.CancelledError):
                await job
            held = await row_state(url, "email", row_id)
            assert held["state"] == "sending" and held["leased_until"] is not None, held

            ctx["stopping"](15)
            await _hand_back(ctx, LEASING["send_email"], row_id, utcnow())
            assert await row_state(url, "email", row_id) == held  # not this job's lease

            await _hand_back(ctx, LEASING["send_email"], row_id, before_claim)
            back = await row_state(url, "email", row_id)
            assert back["state"] == "queued" and back["leased_until"] is None, back
        finally:
            await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigterm_to_proofroom_worker_hands_back_the_lease(backend, tmp_path,
                                                                private_redis, silent_smtp,
                                                                answering_smtp):
    smtp_url, inbox = answering_smtp
    async with database_url(backend, tmp_path) as url:
        await asyncio.to_thread(upgrade, url)
        row_id = await seed(url, tmp_path / "media", "email")
        env = {**os.environ, "PROOFROOM_VAR": str(tmp_path / "var"), "DATABASE_URL": url,
               "REDIS_URL": private_redis.url, "SECRET_KEY": "graceful",
               "SMTP_URL": silent_smtp}
        env.pop("PROOFROOM_JOB_LEASE_SECONDS", None)
        (tmp_path / "var").mkdir()
        log = tmp_path / "var" / "worker.log"
        worker = _spawn(["server.cli", "worker"], env, log)
        try:
            async def leased():
                state = await row_state(url, "email", row_id)
                return state if state["leased_until"] is not None else None

            await wait_until(leased, "leased by the job")
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.wait, WITHIN) == 0, log.read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        after = await row_state(url, "email", row_id)
        assert after["state"] == "queued" and after["leased_until"] is None, after
        assert "handed back its lease on email" in log.read_text()

        worker = _spawn(["server.cli", "worker"], {**env, "SMTP_URL": smtp_url}, log)
        try:
            async def sent():
                state = await row_state(url, "email", row_id)
                return state if state["state"] == "sent" else None

            final = await wait_until(sent, "sent")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(worker.wait, WITHIN)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        assert final["attempts"] == 2 and sum(inbox.counts().values()) == 1
