"""GET /healthz (server/health.py): green on a working server; red (503, naming the check)
while Redis is down or hangs, and green again after; red while no worker beats or while
background work waits longer than PROOFROOM_JOB_LATE_MINUTES, green once a worker runs.

The outage tests run servers on a redis-server of the test's own (conftest's
own_redis_server), which they pause (SIGSTOP), kill and restart.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
from conftest import _spawn, create_gallery, jpeg_bytes, sign_up_on, upload

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


async def test_green_on_a_running_server(server):
    body = await wait_health(server.base_url, green)
    assert body["failing"] == [] and set(body["checks"]) == CHECKS
    assert all(check["ok"] for check in body["checks"].values())
    # Timings and ages only: nothing about any tenant.
    assert set(body["checks"]["pending"]) == {"ok", "oldest_image_s", "oldest_email_s",
                                              "oldest_action_s", "late_after_s"}
    assert body["checks"]["pending"]["late_after_s"] == 900
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        res = await http.get("/healthz")
    assert "set-cookie" not in res.headers and res.headers["cache-control"] == "no-store"


async def test_red_while_redis_hangs_or_is_down_and_green_after(server, own_redis_server):
    srv, own = own_redis_server(server.backend)
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

    own.start()
    # The restarted Redis is empty: green once a worker has beaten into it again.
    body = await wait_health(srv.base_url, green, timeout=60)
    assert body["failing"] == []


async def test_red_without_a_worker_and_with_late_work_green_once_one_runs(
        server, new_client, own_redis_server):
    late = {"PROOFROOM_JOB_LATE_MINUTES": "0.02"}  # 1.2 s
    srv, _ = own_redis_server(server.backend, worker=False, env=late)
    status, body, _ = await healthz(srv.base_url)
    assert status == 503 and body["failing"] == ["worker"], body
    assert body["checks"]["worker"] == {"ok": False, "error": "no worker heartbeat"}

    photographer = await sign_up_on(srv, new_client())
    event_id = await create_gallery(photographer)
    assert (await upload(photographer, event_id, [("a.jpg", jpeg_bytes())])).status_code == 200
    body = await wait_health(srv.base_url, lambda s, b: "pending" in b["failing"], 10)
    assert body["failing"] == ["worker", "pending"]
    assert body["checks"]["pending"]["oldest_image_s"] > 1.2
    assert body["checks"]["pending"]["late_after_s"] == 1.2

    srv.processes.append(_spawn(["server.cli", "worker"], srv.env, srv.var_dir / "worker.log"))
    body = await wait_health(srv.base_url, green, timeout=60)  # beats, and did the work
    assert body["checks"]["pending"]["oldest_image_s"] is None
