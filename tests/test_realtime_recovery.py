"""Nothing is lost when Redis goes away: actions and replies commit while it is down (no
request fails), and once it is back every live socket gets what it missed, once, in order.

The servers here use a redis-server of the test's own, which the test kills (SIGKILL) and
restarts on the same port. Two web processes share the database and that Redis: A, where
the client and the photographer act (on PostgreSQL with its separate worker), and B, which
holds the photographer's dashboard and the client's gallery socket. B reaches Redis as its
own ACL user, so the test can keep B away from the restarted Redis until A's bus has sent
what it queued during the outage: those pushes are then gone for B, as when a subscriber
reconnects after the publishers, and only B's hub catch-up (gallery sockets have no
heartbeat) can deliver them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time

import pytest
import redis
from conftest import (
    RELAXED_LIMITS,
    _create_pg_database,
    _drop_pg_database,
    free_port,
    gate_contact_id,
    released_gallery,
    rows,
    sign_up,
    start_server,
    viewing_now,
)
from test_comments_inbox import open_gallery_socket, receive_comments
from test_realtime import assert_silent, open_panel_socket, receive_activity, toggle

HUB_USER = ("hub", "hub-secret")  # process B's Redis login
HUB_ACL = ["on", f">{HUB_USER[1]}", "~*", "&*", "+@all"]


def start_redis(port: int, workdir, *, hub_user: bool = True) -> subprocess.Popen:
    """redis-server on 127.0.0.1:`port`, nothing persisted; with `hub_user` the ACL user
    process B logs in as (without it, B is refused until `admit_hub`)."""
    args = [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    if hub_user:
        args += ["--user", HUB_USER[0], *HUB_ACL]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if redis.Redis(port=port).ping():
                return proc
        except redis.RedisError:
            time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


def admit_hub(port: int) -> None:
    redis.Redis(port=port).acl_setuser(HUB_USER[0], enabled=True, passwords=[
        "+" + HUB_USER[1]], keys=["*"], channels=["*"], commands=["+@all"])


def publishes(port: int) -> int:
    """PUBLISH commands this redis-server has run since it started."""
    stats = redis.Redis(port=port).info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


class OwnRedis:
    def __init__(self, port: int, workdir) -> None:
        self.port, self.workdir = port, workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.hub_url = f"redis://{HUB_USER[0]}:{HUB_USER[1]}@127.0.0.1:{port}/0"
        self.proc = start_redis(port, workdir)

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no goodbye to any client
        self.proc.wait(10)

    def restart(self, *, hub_user: bool = True) -> None:
        self.proc = start_redis(self.port, self.workdir, hub_user=hub_user)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
async def own_redis_servers(server, tmp_path):
    """(A, B, own Redis): two web processes on the test's backend, one database, and a
    Redis of the test's own to kill. A runs the worker (in-process on SQLite, separate
    on PostgreSQL); B only serves."""
    own = OwnRedis(free_port(), tmp_path)
    database = None
    started = []
    try:
        if server.backend == "postgres":
            database = await _create_pg_database()
            base = os.environ.get("PROOFROOM_TEST_PG",
                                  "postgresql://postgres@127.0.0.1:5432/test")
            database_url = f"{base.rsplit('/', 1)[0]}/{database}"
            a = await asyncio.to_thread(start_server, "postgres", tmp_path,
                                        database_url=database_url, redis_url=own.url)
            started.append(a)
            b = await asyncio.to_thread(start_server, "postgres", tmp_path, worker=False,
                                        database_url=database_url, redis_url=own.hub_url)
        else:
            a = await asyncio.to_thread(start_server, "sqlite", tmp_path, redis_url=own.url)
            started.append(a)
            shared_file = f"sqlite:///{(a.var_dir / 'proofroom.db').resolve()}"
            b = await asyncio.to_thread(
                start_server, "sqlite", tmp_path, database_url=shared_file,
                redis_url=own.hub_url,
                limits={**RELAXED_LIMITS, "PROOFROOM_WORKER": "external"})
        started.append(b)
        yield a, b, own
    finally:
        for srv in started:
            srv.stop()
        own.stop()
        if database:
            await _drop_pg_database(database)


def on(client, srv):
    client.http.base_url = srv.base_url
    return client


class Requests:
    """Every HTTP answer during the outage, to assert none was a server error."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, what: str, res):
        self.seen.append((what, res.status_code))
        return res

    def server_errors(self) -> list[tuple[str, int]]:
        return [(what, code) for what, code in self.seen if code >= 500]


async def test_redis_killed_and_restarted_loses_nothing_and_fails_no_request(
        own_redis_servers, new_client):
    a, b, own = own_redis_servers
    engine = a.engine()
    photographer = on(new_client(), a)
    await sign_up(photographer, engine)
    pid = photographer.photographer_id
    event_id, slug, images = await released_gallery(photographer, 2)
    image = images[0]["id"]
    visitor = on(new_client(), a)
    contact_id = await gate_contact_id(visitor, slug)
    res = await visitor.post_json(f"/g/{slug}/images/{image}/comments", {"body": "Before"})
    assert res.status_code == 200, res.text

    # Process B holds the dashboard and the client's gallery page.
    dashboard = on(new_client(), b)
    dashboard.http.cookies.update(photographer.http.cookies)
    panel_ws = await open_panel_socket(dashboard, b.base_url)
    gallery_ws = await open_gallery_socket(visitor, b.base_url, slug)
    before = await receive_activity(panel_ws, 2)
    assert [m["kind"] for m in before] == ["visit", "comment_added"]
    (first,) = await receive_comments(gallery_ws, 1)
    seen = before[-1]["seq"]

    own.kill()
    log = Requests()
    for n in range(4):  # committed to the database; the pushes cannot leave
        log("favorite", await visitor.post_json(f"/g/{slug}/images/{image}/favorite",
                                                {"on": n % 2 == 0}))
    log("comment", await visitor.post_json(f"/g/{slug}/images/{image}/comments",
                                           {"body": "During"}))
    log("viewing now", viewing := await photographer.get("/panel/activity/viewing.json"))
    log("reply", replied := await photographer.post_json(
        f"/panel/comments/{contact_id}/{image}/reply", {"body": "Reply while down"}))
    log("thread", await photographer.get(f"/panel/comments/{contact_id}/{image}"))
    log("dashboard", await photographer.get("/panel"))
    log("gallery", await visitor.get(f"/g/{slug}"))
    assert log.server_errors() == []
    assert all(code == 200 for _, code in log.seen), log.seen
    assert viewing.json() == {"viewers": [], "total": 0, "presence": "unknown"}
    assert replied.json()["emailed"] is True  # presence unknown: the client is emailed
    assert replied.json()["presence"] == "unknown"

    # Redis back, but not yet for B: A's bus sends what it kept (nobody on B listens).
    own.restart(hub_user=False)
    async with asyncio.timeout(10):
        while publishes(own.port) == 0:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the rest of that pipeline
    admit_hub(own.port)

    # The gallery socket has no heartbeat: only B's hub catch-up brings these.
    got = await receive_comments(gallery_ws, 2, timeout=20)
    assert [(m["author"], m["body"]) for m in got] == [
        ("client", "During"), ("photographer", "Reply while down")]
    assert first["seq"] < got[0]["seq"] < got[1]["seq"]

    stored = [tuple(r) for r in await rows(
        engine, "SELECT seq, kind FROM activity_events WHERE photographer_id=:p AND seq>:s "
                "ORDER BY seq", p=pid, s=seen)]
    assert [kind for _, kind in stored] == [
        "favorite_added", "favorite_removed"] * 2 + ["comment_added", "comment_replied"]
    got = await receive_activity(panel_ws, len(stored), timeout=20)
    assert [(m["seq"], m["kind"]) for m in got] == stored  # every one, in order
    await assert_silent(panel_ws, 1.0)  # and once

    # Presence works again, on both processes: B's hub renews its open gallery socket as
    # soon as it is back (the restarted Redis forgot it), not at the next 20 s round.
    for client in (photographer, dashboard):
        viewers = await viewing_now(client, lambda v: len(v) == 1)
        assert [(v["event_id"], v["contact_id"]) for v in viewers] == [(event_id, contact_id)]
    res = await dashboard.post_json(f"/panel/comments/{contact_id}/{image}/reply",
                                    {"body": "Back"})
    assert res.status_code == 200 and res.json()["presence"] != "unknown"

    # And live again, across processes.
    await toggle(visitor, slug, image, True)
    got = await receive_activity(panel_ws, 2, timeout=10)
    assert [m["kind"] for m in got] == ["comment_replied", "favorite_added"]
    assert got[-1]["seq"] == stored[-1][0] + 2
    await panel_ws.close()
    await gallery_ws.close()
    await engine.dispose()
