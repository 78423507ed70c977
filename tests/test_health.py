"""GET /healthz (server/health.py): green on a working server; red (503, naming the check)
while Redis is down or hangs, and green again after; red while no worker beats or while
background work waits longer than PROOFROOM_JOB_LATE_MINUTES, green once a worker runs.

The outage tests run servers on a redis-server of the test's own (test_realtime_recovery's
OwnRedis), which they pause (SIGSTOP), kill and restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import httpx
from conftest import (
    RELAXED_LIMITS,
    _create_pg_database,
    _drop_pg_database,
    _spawn,
    create_gallery,
    free_port,
    jpeg_bytes,
    sign_up,
    start_server,
    upload,
)
from test_realtime_recovery import OwnRedis

CHECKS = {"database", "redis", "worker", "pending"}


async def healthz(base_url: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        res = await http.get("/healthz")
    return res.status_code, res.json(), time.monotonic() - started


async def wait_health(base_url: str, until, timeout: float = 45) -> dict:
    """/healthz's answer once `until(status, body)` holds, else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = await healthz(base_url)
        if until(status, body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/healthz stayed {status} {body}")
        await asyncio.sleep(0.2)


def green(status: int, body: dict) -> bool:
    return status == 200 and body["ok"]


@contextlib.asynccontextmanager
async def server_on_own_redis(backend: str, tmp_path, *, worker: bool = True,
                              env: dict | None = None):
    """(server, its Redis): a server on `backend` whose redis-server the test controls.
    worker=False: none at all (on SQLite the in-process one is switched off)."""
    own = OwnRedis(free_port(), tmp_path)
    limits = {**RELAXED_LIMITS, **(env or {})}
    if not worker:
        limits["PROOFROOM_WORKER"] = "external"
    database = srv = None
    try:
        if backend == "postgres":
            database = await _create_pg_database()
            base = os.environ.get("PROOFROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
            srv = await asyncio.to_thread(
                start_server, "postgres", tmp_path, worker=worker, limits=limits,
                database_url=f"{base.rsplit('/', 1)[0]}/{database}", redis_url=own.url)
        else:
            srv = await asyncio.to_thread(start_server, "sqlite", tmp_path, redis_url=own.url,
                                          limits=limits)
        yield srv, own
    finally:
        if srv is not None:
            srv.stop()
        own.stop()
        if database:
            await _drop_pg_database(database)


async def test_green_on_a_running_server(server):
    body = await wait_health(server.base_url, green)
    assert body["failing"] == [] and set(body["checks"]) == CHECKS
    assert all(check["ok"] for check in body["checks"].values())
    # Timings and ages only: nothing about any tenant.
    assert set(body["checks"]["pending"]) == {"ok", "oldest_image_s", "oldest_email_s",
                                              "late_after_s"}
    assert body["checks"]["pending"]["late_after_s"] == 900
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        res = await http.get("/healthz")
    assert "set-cookie" not in res.headers and res.headers["cache-control"] == "no-store"


async def test_red_while_redis_hangs_or_is_down_and_green_after(server, tmp_path):
    async with server_on_own_redis(server.backend, tmp_path) as (srv, own):
        await wait_health(srv.base_url, green)

        own.proc.send_signal(signal.SIGSTOP)  # Redis hangs: the answer must not
        try:
            status, body, took = await healthz(srv.base_url)
        finally:
            own.proc.send_signal(signal.SIGCONT)
        assert status == 503 and took < 3, (status, took)
        assert body["checks"]["redis"] == {"ok": False, "error": "timeout"}
        assert body["checks"]["database"]["ok"] and body["checks"]["pending"]["ok"]
        await wait_health(srv.base_url, green, timeout=30)

        own.kill()
        status, body, took = await healthz(srv.base_url)
        assert status == 503 and took < 3, (status, took)
        assert body["ok"] is False and "redis" in body["failing"]
        assert body["checks"]["worker"]["ok"] is False  # its heartbeat cannot be read
        assert body["checks"]["database"]["ok"] and body["checks"]["pending"]["ok"]

        own.restart()
        # The restarted Redis is empty: green once a worker has beaten into it again.
        body = await wait_health(srv.base_url, green, timeout=60)
        assert body["failing"] == []


async def test_red_without_a_worker_and_with_late_work_green_once_one_runs(
        server, new_client, tmp_path):
    late = {"PROOFROOM_JOB_LATE_MINUTES": "0.02"}  # 1.2 s
    async with server_on_own_redis(server.backend, tmp_path, worker=False, env=late) as (
            srv, own):
        status, body, _ = await healthz(srv.base_url)
        assert status == 503 and body["failing"] == ["worker"], body
        assert body["checks"]["worker"] == {"ok": False, "error": "no worker heartbeat"}

        photographer = new_client()
        photographer.http.base_url = srv.base_url
        engine = srv.engine()
        try:
            await sign_up(photographer, engine)
        finally:
            await engine.dispose()
        event_id = await create_gallery(photographer)
        assert (await upload(photographer, event_id, [("a.jpg", jpeg_bytes())])).status_code == 200
        body = await wait_health(srv.base_url, lambda s, b: "pending" in b["failing"], 10)
        assert body["failing"] == ["worker", "pending"]
        assert body["checks"]["pending"]["oldest_image_s"] > 1.2
        assert body["checks"]["pending"]["late_after_s"] == 1.2

        srv.processes.append(_spawn(["server.cli", "worker"], srv.env,
                                    srv.var_dir / "worker.log"))
        body = await wait_health(srv.base_url, green, timeout=60)  # beats, and did the work
        assert body["checks"]["pending"]["oldest_image_s"] is None
