"""Background work that survives a crash (issue 11).

The database owns every pending image and email; reconcile (server/reconcile.py)
re-enqueues what Redis lost and takes back what a dead worker held; each job claims its
row with a conditional UPDATE, so a duplicate run does nothing.

All real parts: `proofroom serve` / `proofroom worker` processes killed with SIGKILL, a
redis-server of each test's own (killed, restarted and flushed without touching the
shared one), SQLite or PostgreSQL, and an aiosmtpd server that counts what it receives
by Message-ID. Jobs lease their rows for PROOFROOM_JOB_LEASE_SECONDS (5 s here, 180 s by
default), so a dead worker's work comes back within seconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import (
    BACKENDS,
    Client,
    PrivateRedis,
    Server,
    _spawn,
    create_gallery,
    free_port,
    jpeg_bytes,
    pass_gate,
    rows,
    sign_up,
    upload,
    wait_http,
)
from sqlalchemy import text

from server.media import MediaStore

LEASE_SECONDS = 5
N_IMAGES = 200
N_EMAILS = 200
JOB_LINE = re.compile(r"job=(\w+) id=(\S+) outcome=(ok|retry|failed|skipped) duration_ms=\d+")


# --- the parts --------------------------------------------------------------------------

class Inbox:
    """aiosmtpd handler: counts messages by Message-ID; refuses `bounce-*` recipients with a
    permanent 550. Each RCPT waits a little, so a batch of emails takes a few seconds to
    send (and a kill lands mid-batch), without widening the window between the server's
    "250 accepted" and the sender's commit."""

    def __init__(self) -> None:
        self.by_id: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.rcpt_delay = 0.03

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address.startswith("bounce-"):
            return "550 5.1.1 No such mailbox here"
        await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        found = re.search(rb"^Message-ID: *(<[^>]+>)", envelope.content, re.M | re.I)
        with self.lock:
            self.by_id[found.group(1).decode() if found else "?"] += 1
        return "250 Message accepted for delivery"

    def counts(self) -> collections.Counter[str]:
        with self.lock:
            return collections.Counter(self.by_id)


@dataclass
class Rig:
    """One Proofroom with its own Redis (private or the embedded one) and SMTP server; its
    web process and its worker (in-process, or `proofroom worker`) killed and restarted."""

    backend: str
    server: Server
    inbox: Inbox
    redis: PrivateRedis | None
    external_worker: bool
    worker: subprocess.Popen | None = None
    strays: list[int] = field(default_factory=list)

    @property
    def web(self) -> subprocess.Popen:
        return self.server.processes[0]

    def kill_web(self) -> None:
        """SIGKILL the web process, and its embedded redis-server child with it (what a
        watchdog on the parent does; without one the orphan would linger)."""
        children = _children(self.web.pid)
        self.web.send_signal(signal.SIGKILL)
        self.web.wait()
        for pid in children:
            _kill(pid)

    def start_web(self) -> None:
        port = self.server.base_url.rsplit(":", 1)[1]
        log = self.server.var_dir / "server.log"
        proc = _spawn(["server.cli", "serve", "--port", port], self.server.env, log)
        self.server.processes[0] = proc
        self.strays.extend(_children(proc.pid))
        wait_http(self.server.base_url + "/login", proc, log)
        self.strays.extend(_children(proc.pid))

    def start_worker(self) -> None:
        self.worker = _spawn(["server.cli", "worker"], self.server.env, self.worker_log)
        self.server.processes.append(self.worker)

    def kill_worker(self) -> None:
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()
        self.server.processes.remove(self.worker)

    @property
    def worker_log(self) -> Path:
        return self.server.var_dir / "worker.log"

    def job_lines(self) -> list[tuple[str, str, str]]:
        """(function, job id, outcome) of every job log line of the worker(s)."""
        text = ""
        for name in ("server.log", "worker.log"):
            path = self.server.var_dir / name
            text += path.read_text(errors="replace") if path.exists() else ""
        return JOB_LINE.findall(text)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _rig(serve, backend: str, *, private_redis: bool,
         external_worker: bool) -> Iterator[Rig]:
    """`serve`: conftest's own_redis_server. An external worker waits for the test."""
    smtp_port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    rig = None
    try:
        srv, private = serve(backend, own_redis=private_redis or backend == "postgres",
                             worker=not external_worker,
                             env={"SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                                  "PROOFROOM_JOB_LEASE_SECONDS": str(LEASE_SECONDS)})
        rig = Rig(backend, srv, inbox, private, external_worker)
        rig.strays.extend(_children(rig.web.pid))
        yield rig
    finally:
        if rig:
            rig.server.stop()
            for pid in rig.strays:
                _kill(pid)
        controller.stop()


@pytest.fixture(params=BACKENDS)
def crash_rig(request, own_redis_server) -> Iterator[Rig]:
    """The deployment shapes a crash hits: the embedded default (in-process worker,
    embedded Redis) on SQLite; web + `proofroom worker` + Redis on PostgreSQL (its
    worker started by `get_going`)."""
    yield from _rig(own_redis_server, request.param, private_redis=False,
                    external_worker=request.param == "postgres")


@pytest.fixture(params=BACKENDS)
def redis_rig(request, own_redis_server) -> Iterator[Rig]:
    """Both shapes on a Redis the test may kill and flush."""
    yield from _rig(own_redis_server, request.param, private_redis=True,
                    external_worker=request.param == "postgres")


@pytest.fixture(params=BACKENDS)
def idle_rig(request, own_redis_server) -> Iterator[Rig]:
    """A `proofroom worker` shape whose worker the test starts when it wants to."""
    yield from _rig(own_redis_server, request.param, private_redis=True, external_worker=True)


#: HTTP clients a test opened; closed after it, passed or failed (a leaked socket is an error).
OPEN_CLIENTS: list[Client] = []


@pytest.fixture(autouse=True)
async def close_clients() -> object:
    yield
    while OPEN_CLIENTS:
        await OPEN_CLIENTS.pop().aclose()


def client_of(rig: Rig) -> Client:
    OPEN_CLIENTS.append(Client(rig.server.base_url))
    return OPEN_CLIENTS[-1]


# --- load and wait ------------------------------------------------------------------------

@dataclass
class Load:
    photographer: Client
    event_id: int
    slug: str


async def release(photographer: Client, event_id: int) -> str:
    """Release the gallery (its photos may still be processing); its slug."""
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303, res.text
    page = (await photographer.get(f"/panel/events/{event_id}")).text
    return page.split("/g/", 1)[1].split('"', 1)[0]


async def make_load(rig: Rig, n_images: int = N_IMAGES, n_emails: int = N_EMAILS) -> Load:
    """A released gallery, then n_images uploads and n_emails new visitors at its email gate
    (each one a "confirm your email" message), all acknowledged."""
    engine = rig.server.engine()
    photographer = await sign_up(client_of(rig), engine)
    await engine.dispose()
    event_id = await create_gallery(photographer)
    slug = await release(photographer, event_id)
    data = jpeg_bytes(3600, 2400)  # slow enough to render that a backlog builds up
    gate = asyncio.Semaphore(10)

    async def upload_batch(n: int) -> None:
        res = await upload(photographer, event_id,
                           [(f"IMG_{n}_{k}.jpg", data) for k in range(10)])
        assert res.status_code == 200 and all(r["ok"] for r in res.json()["results"]), res.text

    async def visitor(n: int) -> None:
        async with gate:
            client = Client(rig.server.base_url)
            try:
                await pass_gate(client, slug, email=f"guest{n}@example.com", name=f"Guest {n}")
            finally:
                await client.aclose()

    await asyncio.gather(*(upload_batch(n) for n in range(n_images // 10)),
                         *(visitor(n) for n in range(n_emails)))
    return Load(photographer, event_id, slug)


async def get_going(rig: Rig, load: Load) -> tuple[dict, dict]:
    """Start the separate worker if it waits, let the work get going, and check that much
    of it is still pending (or the crash that follows proves nothing). The states then."""
    if rig.external_worker and rig.worker is None:
        rig.start_worker()
    deadline = time.monotonic() + 30
    while True:
        images, emails = await states(rig, load)
        # Either kind under way will do: waiting for both let the faster one (images, on
        # an idle SQLite worker) finish its whole backlog first.
        if images.get("ready", 0) >= 10 or emails.get("sent", 0) >= 5:
            break
        assert time.monotonic() < deadline, (images, emails)
        await asyncio.sleep(0.05)
    assert images.get("processing", 0) >= 50 and emails.get("queued", 0) >= 50, (images, emails)
    return images, emails


async def states(rig: Rig, load: Load) -> tuple[dict, dict]:
    engine = rig.server.engine()
    try:
        images = dict(await rows(engine, "SELECT state, count(*) FROM images "
                                         "WHERE event_id=:e GROUP BY state", e=load.event_id))
        emails = dict(await rows(engine, "SELECT state, count(*) FROM outbound_emails "
                                         "WHERE photographer_id=:p GROUP BY state",
                                 p=load.photographer.photographer_id))
    finally:
        await engine.dispose()
    return images, emails


async def wait_all_done(rig: Rig, load: Load, timeout: float) -> float:
    """Until every image is ready and every email sent; returns the seconds it took."""
    started = time.monotonic()
    while True:
        images, emails = await states(rig, load)
        if set(images) == {"ready"} and set(emails) == {"sent"}:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not done after {timeout}s: images {images}, "
                                 f"emails {emails}")
        await asyncio.sleep(0.25)


async def sent_message_ids(rig: Rig, load: Load) -> list[str]:
    engine = rig.server.engine()
    try:
        found = await rows(engine, "SELECT provider_message_id FROM outbound_emails "
                                   "WHERE photographer_id=:p", p=load.photographer.photographer_id)
    finally:
        await engine.dispose()
    return [m for (m,) in found]


async def attempts(rig: Rig, table: str, where: str, **params) -> list[int]:
    engine = rig.server.engine()
    try:
        return [a for (a,) in await rows(engine, f"SELECT attempts FROM {table} WHERE {where}",
                                         **params)]
    finally:
        await engine.dispose()


def assert_each_delivered_once(rig: Rig, message_ids: list[str], in_doubt: int = 0) -> None:
    """Every email's Message-ID reached the SMTP server. At most `in_doubt` of them twice:
    those whose sender was killed after the server accepted and before the commit (no
    sender can know; the stable Message-ID lets a receiver drop the repeat)."""
    got = rig.inbox.counts()
    assert len(message_ids) == len(set(message_ids)) == N_EMAILS
    missing = [m for m in message_ids if got[m] == 0]
    assert missing == []
    twice = [m for m in message_ids if got[m] > 1]
    assert len(twice) <= in_doubt, (twice, in_doubt)
    assert set(got) == set(message_ids)  # nothing else was sent


# --- kill -9 ------------------------------------------------------------------------------

async def test_kill_9_mid_run_then_every_image_ready_and_every_email_sent_once(crash_rig):
    rig = crash_rig
    load = await make_load(rig)
    await get_going(rig, load)
    if rig.external_worker:
        rig.kill_worker()
    else:
        rig.kill_web()
    killed_at = time.monotonic()
    images, emails = await states(rig, load)
    in_doubt = emails.get("sending", 0)
    if rig.external_worker:
        rig.start_worker()
    else:
        rig.start_web()
    took = await wait_all_done(rig, load, timeout=60)
    print(f"\n{rig.backend}: at the kill {images} {emails}; all done {took:.1f}s after the "
          f"restart ({time.monotonic() - killed_at:.1f}s after the kill)")
    assert_each_delivered_once(rig, await sent_message_ids(rig, load), in_doubt)


async def test_redis_killed_and_restarted_mid_run_then_everything_done_once(redis_rig):
    rig = redis_rig
    load = await make_load(rig)
    images, emails = await get_going(rig, load)
    rig.redis.kill()  # every queued job, lost
    await asyncio.sleep(2)
    rig.redis.start()
    took = await wait_all_done(rig, load, timeout=60)
    print(f"\n{rig.backend}: at the Redis kill {images} {emails}; done {took:.1f}s later")
    # No process died: each email was sent by exactly one attempt.
    assert_each_delivered_once(rig, await sent_message_ids(rig, load))
    assert set(await attempts(rig, "outbound_emails", "photographer_id=:p",
                              p=load.photographer.photographer_id)) == {1}
    log = (rig.worker_log if rig.external_worker else rig.server.var_dir / "server.log")
    text = log.read_text(errors="replace")
    assert "arq worker stopped" in text and "Redis answers; starting the arq worker" in text
    if rig.external_worker:
        assert rig.worker.poll() is None  # it rode the outage out


async def test_flushall_mid_run_reconcile_restores_every_job_and_repeats_nothing(redis_rig):
    rig = redis_rig
    load = await make_load(rig)
    images, emails = await get_going(rig, load)
    with rig.redis.client() as client:
        client.flushall()
    # Restored by the next reconcile: the every-minute cron (no worker restarted here).
    took = await wait_all_done(rig, load, timeout=90)
    print(f"\n{rig.backend}: FLUSHALL at {images} {emails}; done {took:.1f}s later")
    assert_each_delivered_once(rig, await sent_message_ids(rig, load))
    # Claimed once each: nothing already done (or running) at the flush was done again.
    assert set(await attempts(rig, "outbound_emails", "photographer_id=:p",
                              p=load.photographer.photographer_id)) == {1}
    assert set(await attempts(rig, "images", "event_id=:e", e=load.event_id)) == {1}
    assert any(f == "reconcile" for f, _, _ in rig.job_lines())


# --- duplicates ---------------------------------------------------------------------------

async def enqueue_many(rig: Rig, function: str, row_id: int, job_id: str, n: int) -> int:
    """Enqueue `function(row_id)` n times at once under `job_id` and n times under ids of
    their own (a duplicate arq cannot see); how many arq accepted."""
    from arq.connections import RedisSettings, create_pool

    pool = await create_pool(RedisSettings.from_dsn(rig.redis.url))
    # Due in the past: ahead of every other job, so the worker starts ten of them at once.
    first = datetime.now(UTC) - timedelta(minutes=10)
    try:
        jobs = await asyncio.gather(
            *(pool.enqueue_job(function, row_id, _job_id=job_id) for _ in range(n)),
            *(pool.enqueue_job(function, row_id, _job_id=f"dup-{uuid.uuid4().hex}",
                               _defer_until=first) for _ in range(n)))
    finally:
        await pool.aclose()
    return sum(job is not None for job in jobs)


async def wait_for(check, timeout: float = 30, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_the_same_job_50_times_and_again_after_its_result_expired_is_done_once(idle_rig):
    rig = idle_rig
    load = await make_load(rig, n_images=10, n_emails=1)  # no worker yet: all still waiting
    engine = rig.server.engine()
    ((email_id, email_attempts),) = await rows(
        engine, "SELECT id, attempts FROM outbound_emails WHERE photographer_id=:p",
        p=load.photographer.photographer_id)
    ((image_id, key),) = await rows(engine, "SELECT id, storage_key FROM images "
                                            "WHERE event_id=:e AND state='processing' "
                                            "ORDER BY id LIMIT 1", e=load.event_id)
    await engine.dispose()
    assert email_attempts == 0
    # 50 at once under the job's own id (the upload and the gate already put it there, so
    # arq keeps none of them) and 50 under ids of their own (arq keeps all of those).
    assert await enqueue_many(rig, "send_email", email_id, f"send-email-{email_id}-1", 50) == 50
    assert await enqueue_many(rig, "process_image", image_id,
                              f"process-image-{image_id}-{key}-1", 50) == 50
    rig.inbox.rcpt_delay = 1.0  # the first send is still going when the duplicates run
    rig.start_worker()
    await wait_all_done(rig, load, timeout=60)
    await wait_for(lambda: _outcomes_settled(rig, 1 + 50 + 10 + 50),
                   what="all duplicate jobs to run")
    (message_id,) = await sent_message_ids(rig, load)

    outcomes = collections.Counter((f, o) for f, _, o in rig.job_lines())
    assert rig.inbox.counts() == {message_id: 1}
    assert await attempts(rig, "outbound_emails", "id=:i", i=email_id) == [1]
    assert await attempts(rig, "images", "id=:i", i=image_id) == [1]
    assert outcomes["send_email", "ok"] == 1 and outcomes["process_image", "ok"] == 10
    assert outcomes["send_email", "skipped"] >= 50 and outcomes["process_image", "skipped"] >= 50

    # arq's result expires (here: deleted); the job id is accepted again, the row is not.
    with rig.redis.client() as client:
        for name in client.scan_iter("arq:result:*"):
            client.delete(name)
    before = len(work_lines(rig))
    assert await enqueue_many(rig, "send_email", email_id, f"send-email-{email_id}-1", 50) == 51
    await wait_for(lambda: _outcomes_settled(rig, before + 51), what="the repeat to run")
    assert rig.inbox.counts() == {message_id: 1}
    assert await attempts(rig, "outbound_emails", "id=:i", i=email_id) == [1]
    assert {o for _, _, o in work_lines(rig)[before:]} == {"skipped"}
    # The heartbeat /healthz reads: written every 10 s, kept a little longer.
    with rig.redis.client() as client:
        assert 0 < client.pttl("arq:queue:health-check") <= 11_000


def work_lines(rig: Rig) -> list[tuple[str, str, str]]:
    return [line for line in rig.job_lines() if line[0] in ("send_email", "process_image")]


async def _outcomes_settled(rig: Rig, n: int) -> bool:
    return len(work_lines(rig)) >= n


# --- a lease that ran out -----------------------------------------------------------------

async def test_work_held_by_a_worker_that_died_is_taken_back_when_its_lease_runs_out(idle_rig):
    """The measured bug: an email in flight stayed `sending` forever, an image
    `processing`. Here their worker "died" holding them (their leases ran out a minute
    ago, their jobs are gone from Redis): the next worker's start takes them back."""
    rig = idle_rig
    load = await make_load(rig, n_images=10, n_emails=10)
    engine = rig.server.engine()
    async with engine.begin() as conn:
        await conn.execute(text(
            "UPDATE outbound_emails SET state='sending', attempts=1, leased_until=:t"),
            {"t": datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)})
        await conn.execute(text("UPDATE images SET attempts=1, leased_until=:t "
                                "WHERE state='processing'"),
                           {"t": datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)})
    await engine.dispose()
    with rig.redis.client() as client:
        client.flushall()
    rig.start_worker()
    await wait_all_done(rig, load, timeout=30)
    assert set(await attempts(rig, "outbound_emails", "photographer_id=:p",
                              p=load.photographer.photographer_id)) == {2}
    assert set(await attempts(rig, "images", "event_id=:e", e=load.event_id)) == {2}
    message_ids = await sent_message_ids(rig, load)
    assert rig.inbox.counts() == dict.fromkeys(message_ids, 1)


async def test_a_job_id_arq_holds_on_to_does_not_hold_up_its_row(idle_rig):
    """A worker that died right after arq handed it a job, before the claim: the row still
    waits, and arq keeps the job's id "in progress" for the longest job timeout. Reconcile
    gives a row unclaimed for a lease a rescue job under a new id."""
    rig = idle_rig
    load = await make_load(rig, n_images=10, n_emails=1)
    with rig.redis.client() as client:
        stuck = [j.decode() for j in client.zrange("arq:queue", 0, -1)]
        assert len(stuck) == 11
        for job_id in stuck:  # what a dead worker's dequeue leaves behind
            client.set(f"arq:in-progress:{job_id}", b"1", px=600_000)
    await asyncio.sleep(LEASE_SECONDS + 1)  # unclaimed for longer than a lease
    rig.start_worker()
    await wait_all_done(rig, load, timeout=30)
    assert set(await attempts(rig, "images", "event_id=:e", e=load.event_id)) == {1}
    assert list(rig.inbox.counts().values()) == [1]


# --- permanent failures -----------------------------------------------------------------

async def test_a_permanent_failure_ends_failed_with_its_reason_shown(idle_rig):
    rig = idle_rig
    photographer = await sign_up(client_of(rig), engine := rig.server.engine())
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [("GOOD.jpg", jpeg_bytes()),
                                                ("BROKEN.jpg", jpeg_bytes())])
    assert res.status_code == 200
    ((key,),) = await rows(engine, "SELECT storage_key FROM images WHERE filename='BROKEN.jpg'")
    # The stored original goes bad after the upload check (a disk error, a bad copy).
    MediaStore(rig.server.media_root).variant_path("original", key).write_bytes(b"garbage")
    slug = await release(photographer, event_id)
    await pass_gate(client_of(rig), slug, email="bounce-me@example.com")  # SMTP says 550
    rig.start_worker()

    async def editor() -> dict | None:
        found = (await photographer.get(f"/panel/events/{event_id}/images.json")).json()
        by_name = {i["filename"]: i for i in found["images"]}
        return by_name if all(i["state"] != "processing" for i in by_name.values()) else None

    images = await wait_for(editor, what="images to settle")
    assert images["GOOD.jpg"]["state"] == "ready"
    assert images["BROKEN.jpg"]["state"] == "failed"
    assert images["BROKEN.jpg"]["error"].startswith("Could not process this image:")

    async def failed_email():
        found = await rows(engine, "SELECT state, attempts, error FROM outbound_emails "
                                   "WHERE photographer_id=:p", p=photographer.photographer_id)
        return found if found and found[0][0] not in ("queued", "sending") else None

    ((state, tries, error),) = await wait_for(failed_email, what="the email to settle")
    assert (state, tries) == ("failed", 1)  # a 550 is final: no retries
    assert "550" in error and "No such mailbox" in error
    page = (await photographer.get("/panel/mail")).text
    badge = re.search(r'class="badge badge-mail-failed" title="([^"]*)"', page)
    assert badge and "No such mailbox" in badge.group(1)
    await engine.dispose()


# --- the production worker's start ------------------------------------------------------

def test_the_worker_exits_non_zero_in_one_line_when_redis_is_unreachable(tmp_path):
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
           "PROOFROOM_VAR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(["python", "-m", "server.cli", "worker"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("proofroom worker: cannot reach Redis at 127.0.0.1:"), done.stderr
