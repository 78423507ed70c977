"""Live push to the photographer: every committed ActivityEvent of their tenant reaches their
dashboard socket, reconnecting replays what was missed, and nothing crosses tenants."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import pass_gate, released_gallery, rows, sign_up, start_server
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws/panel"


async def open_panel_socket(client, base_url: str, last_seq: int = 0, origin: str | None = None):
    cookie = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
    ws = await connect(ws_url(base_url),
                       additional_headers={"Cookie": cookie, "Origin": origin or base_url})
    await ws.send(json.dumps({"last_seq": last_seq}))
    return ws


async def receive_activity(ws, count: int, timeout: float = 10) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            message = json.loads(await ws.recv())
            if message.get("type") == "activity":
                got.append(message)
    return got


async def assert_silent(ws, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "activity":
                    raise AssertionError(f"unexpected push: {message}")


async def toggle(visitor, slug: str, image_id: int, on: bool) -> None:
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": on})
    assert res.status_code == 200, res.text


async def test_dashboard_receives_each_client_action_as_it_is_committed(
        photographer, new_client, server, db):
    _, slug, images = await released_gallery(photographer, 2)
    ws = await open_panel_socket(photographer, server.base_url)
    visitor = new_client()
    await pass_gate(visitor, slug, email="live@example.com", name="Live Client")
    await toggle(visitor, slug, images[0]["id"], True)
    res = await visitor.post_json(f"/g/{slug}/images/{images[1]['id']}/comments",
                                  {"body": "Can we crop this?"})
    assert res.status_code == 200
    got = await receive_activity(ws, 3)
    assert [m["kind"] for m in got] == ["visit", "favorite_added", "comment_added"]
    assert [m["seq"] for m in got] == [1, 2, 3]
    assert got[1]["payload"]["image_id"] == images[0]["id"]
    assert got[2]["payload"]["body"] == "Can we crop this?"
    stored = await rows(db, "SELECT seq, kind FROM activity_events WHERE photographer_id=:p "
                            "ORDER BY seq", p=photographer.photographer_id)
    assert [(m["seq"], m["kind"]) for m in got] == [tuple(r) for r in stored]
    await ws.close()


async def test_reconnecting_replays_the_missed_actions_once_and_in_order(
        photographer, new_client, server):
    _, slug, images = await released_gallery(photographer, 1)
    visitor = new_client()
    await pass_gate(visitor, slug)
    ws = await open_panel_socket(photographer, server.base_url)
    (first,) = await receive_activity(ws, 1)
    await ws.close()

    for n in range(20):  # the dashboard is away
        await toggle(visitor, slug, images[0]["id"], n % 2 == 0)

    ws = await open_panel_socket(photographer, server.base_url, last_seq=first["seq"])
    got = await receive_activity(ws, 20)
    assert [m["seq"] for m in got] == list(range(first["seq"] + 1, first["seq"] + 21))
    assert [m["kind"] for m in got] == ["favorite_added", "favorite_removed"] * 10
    await assert_silent(ws)  # and nothing twice
    await ws.close()


async def test_a_photographer_never_receives_another_tenants_events(
        photographer, other_photographer, new_client, server):
    _, slug, images = await released_gallery(photographer, 1)
    theirs = await open_panel_socket(other_photographer, server.base_url)
    mine = await open_panel_socket(photographer, server.base_url)
    visitor = new_client()
    await pass_gate(visitor, slug)
    await toggle(visitor, slug, images[0]["id"], True)
    assert len(await receive_activity(mine, 2)) == 2
    await assert_silent(theirs)
    # Even asking to replay from zero returns nothing of the other tenant.
    replay = await open_panel_socket(other_photographer, server.base_url, last_seq=0)
    await assert_silent(replay)
    for ws in (theirs, mine, replay):
        await ws.close()


async def test_sockets_from_another_origin_or_without_a_session_are_refused(
        photographer, new_client, server):
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        ws = await open_panel_socket(photographer, server.base_url, origin="http://evil.example")
        await ws.recv()
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        ws = await open_panel_socket(new_client(), server.base_url)
        await ws.recv()


async def test_logging_out_closes_the_sessions_sockets(photographer, server):
    ws = await open_panel_socket(photographer, server.base_url)
    res = await photographer.post_form("/logout")
    assert res.status_code == 303
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(5):
            while True:
                await ws.recv()


@pytest.fixture
def second_web_process(server, tmp_path):
    """Another web process on the same PostgreSQL and Redis: no shared memory at all."""
    if server.backend != "postgres":
        pytest.skip("two web processes share state only through PostgreSQL + Redis")
    env = server.env
    other = start_server("postgres", tmp_path, worker=False,
                         database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"])
    yield other
    other.stop()


async def test_an_action_on_one_web_process_reaches_a_dashboard_on_another(
        server, second_web_process, new_client, db):
    photographer = await sign_up(new_client(), db)
    _, slug, images = await released_gallery(photographer, 1)
    dashboard = new_client()  # same session cookie, talking to process two
    dashboard.http.cookies.update(photographer.http.cookies)
    ws = await open_panel_socket(dashboard, second_web_process.base_url)
    visitor = new_client()  # acts on process one
    await pass_gate(visitor, slug)
    await toggle(visitor, slug, images[0]["id"], True)
    got = await receive_activity(ws, 2)
    assert [m["kind"] for m in got] == ["visit", "favorite_added"]
    await ws.close()
