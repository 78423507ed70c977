"""Nothing is lost when Redis goes away: actions commit while it is down, and a dashboard
that stayed connected receives them, in order, once the hub is back on Redis."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time

import pytest
import redis
from conftest import (
    _create_pg_database,
    _drop_pg_database,
    free_port,
    pass_gate,
    released_gallery,
    sign_up,
    start_server,
)
from sqlalchemy.ext.asyncio import create_async_engine
from test_realtime import open_panel_socket, receive_activity, toggle


def start_redis(port: int, workdir) -> subprocess.Popen:
    proc = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            if redis.Redis(port=port).ping():
                return proc
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.fixture
async def own_redis_server(server, tmp_path):
    """A Proofroom server on the test's backend but with a Redis of its own to kill."""
    port = free_port()
    redis_proc = start_redis(port, tmp_path)
    redis_url = f"redis://127.0.0.1:{port}/0"
    database = None
    if server.backend == "postgres":
        database = await _create_pg_database()
        base = os.environ.get("PROOFROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
        database_url = f"{base.rsplit('/', 1)[0]}/{database}"
        srv = await asyncio.to_thread(start_server, "postgres", tmp_path,
                                      database_url=database_url, redis_url=redis_url)
    else:
        os.environ["REDIS_URL"] = redis_url  # start_server copies os.environ
        try:
            srv = await asyncio.to_thread(start_server, "sqlite", tmp_path)
        finally:
            os.environ.pop("REDIS_URL", None)
        srv.env["REDIS_URL"] = redis_url
    state = {"redis": redis_proc}

    def restart() -> None:
        state["redis"] = start_redis(port, tmp_path)

    yield srv, state, restart
    srv.stop()
    state["redis"].terminate()
    state["redis"].wait(10)
    if database:
        await _drop_pg_database(database)


async def test_actions_made_while_redis_is_down_reach_the_dashboard_after_it_returns(
        own_redis_server, new_client):
    srv, state, restart = own_redis_server
    engine = create_async_engine(srv.database_url)
    photographer = new_client()
    photographer.http.base_url = srv.base_url
    await sign_up(photographer, engine)
    _, slug, images = await released_gallery(photographer, 1)
    visitor = new_client()
    visitor.http.base_url = srv.base_url
    await pass_gate(visitor, slug)
    ws = await open_panel_socket(photographer, srv.base_url)
    (seen,) = await receive_activity(ws, 1)

    state["redis"].kill()
    state["redis"].wait(10)
    for n in range(6):  # committed to the database; the pushes cannot leave
        await toggle(visitor, slug, images[0]["id"], n % 2 == 0)
    restart()

    got = await receive_activity(ws, 6, timeout=20)
    assert [m["seq"] for m in got] == list(range(seen["seq"] + 1, seen["seq"] + 7))
    assert [m["kind"] for m in got] == ["favorite_added", "favorite_removed"] * 3

    await toggle(visitor, slug, images[0]["id"], True)  # and live again afterwards
    (after,) = await receive_activity(ws, 1)
    assert after["seq"] == seen["seq"] + 7
    await ws.close()
    await engine.dispose()
