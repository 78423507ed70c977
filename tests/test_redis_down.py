"""Redis down degrades, never 500s: presence says "unknown" (quickly), a reply is emailed,
and the bus sends what it kept the moment Redis is back."""

from __future__ import annotations

import asyncio
import time

from conftest import (
    free_port,
    gate_contact_id,
    open_gallery_socket,
    released_gallery,
    rows,
    sign_up_on,
    viewing_now,
)
from test_realtime_recovery import publishes, start_redis

from realtime.bus import RedisBus


async def test_reply_and_presence_answer_while_redis_is_down(server, own_redis_server,
                                                              new_client):
    """A server on the test's backend (PostgreSQL: with its separate worker) whose Redis
    the test kills."""
    srv, own = own_redis_server(server.backend)
    engine = srv.engine()
    photographer = await sign_up_on(srv, new_client())
    event_id, slug, images = await released_gallery(photographer, 1)
    image = images[0]["id"]
    visitor = new_client()
    visitor.http.base_url = srv.base_url
    contact_id = await gate_contact_id(visitor, slug)
    res = await visitor.post_json(f"/g/{slug}/images/{image}/comments", {"body": "Hi"})
    assert res.status_code == 200
    page = await open_gallery_socket(visitor, slug)  # the client's gallery page is open
    await viewing_now(photographer, lambda v: len(v) == 1)

    own.kill()
    viewing = await photographer.get("/panel/activity/viewing.json")
    assert viewing.status_code == 200
    assert viewing.json() == {"viewers": [], "total": 0, "presence": "unknown"}
    res = await photographer.post_json(f"/panel/comments/{contact_id}/{image}/reply",
                                       {"body": "While Redis is down"})
    assert res.status_code == 200, res.text
    assert res.json()["emailed"] is True and res.json()["presence"] == "unknown"
    assert res.json()["message"]["body"] == "While Redis is down"
    # The client's favorite (behind the gate, the throttled path) commits too.
    fav = await visitor.post_json(f"/g/{slug}/images/{image}/favorite", {"on": True})
    assert fav.status_code == 200, fav.text

    emails = await rows(engine, "SELECT recipient FROM outbound_emails WHERE kind="
                                "'comment_reply' AND photographer_id=:p",
                        p=photographer.photographer_id)
    assert [r.recipient for r in emails] == ["jane@example.com"]
    kinds = await rows(engine, "SELECT kind FROM activity_events WHERE photographer_id=:p "
                               "ORDER BY seq DESC LIMIT 2", p=photographer.photographer_id)
    assert [r.kind for r in kinds] == ["favorite_added", "comment_replied"]

    own.start()  # empty: the hub renews the open page's presence once it is back
    viewers = await viewing_now(photographer, lambda v: len(v) == 1, timeout=15)
    assert [(v["event_id"], v["contact_id"]) for v in viewers] == [(event_id, contact_id)]
    res = await photographer.post_json(f"/panel/comments/{contact_id}/{image}/reply",
                                       {"body": "Back"})
    assert res.status_code == 200 and res.json()["presence"] != "unknown"
    await page.close()
    await engine.dispose()


async def test_the_bus_sends_what_it_kept_as_soon_as_redis_is_back(tmp_path):
    """The sender is mid-backoff when Redis returns (the test answers its connection
    attempts itself while Redis is away, and restarts Redis right after one): the kept
    pushes must leave at once, not after the rest of a backoff of up to seconds."""
    from redis.asyncio import Redis

    port = free_port()
    proc = start_redis(port, tmp_path, hub_user=False)
    client = Redis(port=port)
    bus = RedisBus(client, "t:")
    bus.start()
    try:
        bus.publish("c", {"n": 0})
        await asyncio.sleep(0.2)
        proc.kill()
        proc.wait(10)
        attempts: list[float] = []

        async def refuse(reader, writer):  # counts an attempt, then hangs up
            attempts.append(time.monotonic())
            writer.close()

        fake = await asyncio.start_server(refuse, "127.0.0.1", port)
        bus.publish("c", {"n": 1})
        await asyncio.sleep(4.0)  # the old sender's backoff grows to its 2 s cap
        count = len(attempts)
        async with asyncio.timeout(5):
            while len(attempts) == count:
                await asyncio.sleep(0.01)
        fake.close()
        await fake.wait_closed()
        proc = start_redis(port, tmp_path, hub_user=False)
        async with asyncio.timeout(5):  # a bound for the test, not a latency claim
            while publishes(port) == 0:
                await asyncio.sleep(0.01)
        assert not bus._pending
    finally:
        await bus.stop()
        await client.aclose()
        proc.kill()
        proc.wait(10)
