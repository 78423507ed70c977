"""The live contract (issue #10), through the public sockets unless noted:

- hellos: `{"last_seq": int 0..2**63-1}`; beyond the newest seq -> `resync` and then live;
  anything else -> close 4400 (CLOSE_BAD_HELLO) and no traceback in the server's log;
- one envelope: a replayed event is the very dict that was pushed live;
- the heartbeat: a committed event whose push never left (a web process died between
  COMMIT and publish) still reaches the open dashboard, without any later event;
- routed delivery: the hub hands an event only to the sockets that need it (unit), and a
  client's socket of gallery A gets nothing of gallery B (end to end);
- the gallery socket replays the newest missed events, or `resync` when more were missed;
- an unexpected error in a socket is logged with its photographer and closes 1011 (unit).
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from conftest import gate_contact_id, pass_gate, released_gallery, scalar
from sqlalchemy import insert, update
from test_comments_inbox import comment, gallery_ws_url, open_gallery_socket, reply
from test_realtime import open_panel_socket, receive_activity, toggle, ws_url
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime import hub as hub_module
from realtime.gallery_socket import MAX_REPLAY as GALLERY_MAX_REPLAY
from realtime.hub import CATCH_UP, Hub
from realtime.sockets import CLOSE_BAD_HELLO, CLOSE_SERVER_ERROR, serve
from server.models import ActivityEvent, Photographer, utcnow

WAIT = 10.0


async def next_message(ws, timeout: float = WAIT) -> dict:
    async with asyncio.timeout(timeout):
        return json.loads(await ws.recv())


async def next_of_type(ws, kind: str, timeout: float = WAIT) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == kind:
                return message


async def newest_seq(db, photographer_id: int) -> int:
    return await scalar(db, "SELECT last_event_seq FROM photographers WHERE id=:p",
                        p=photographer_id)


async def append_behind_the_servers_back(db, photographer_id: int, kind: str, *,
                                         event_id: int, contact_id: int,
                                         payloads: list[dict]) -> list[int]:
    """Commit activity rows exactly as activity.append() does (counter, then rows) but
    publish nothing: as if the web process died between COMMIT and publish."""
    people, log = Photographer.__table__, ActivityEvent.__table__
    async with db.begin() as conn:
        last = (await conn.execute(
            update(people).where(people.c.id == photographer_id)
            .values(last_event_seq=people.c.last_event_seq + len(payloads))
            .returning(people.c.last_event_seq))).scalar_one()
        seqs = list(range(last - len(payloads) + 1, last + 1))
        await conn.execute(insert(log), [
            {"photographer_id": photographer_id, "seq": seq, "event_id": event_id,
             "contact_id": contact_id, "kind": kind, "payload": payload, "at": utcnow()}
            for seq, payload in zip(seqs, payloads, strict=True)])
    return seqs


# --- hellos ------------------------------------------------------------------------------

async def test_a_hello_beyond_the_newest_seq_gets_resync_then_live_events(
        photographer, new_client, server, db):
    _, slug, images = await released_gallery(photographer, 1)
    visitor = new_client()
    await pass_gate(visitor, slug, email="ahead@example.com")
    await comment(visitor, slug, images[0]["id"], "first")
    newest = await newest_seq(db, photographer.photographer_id)

    panel = await open_panel_socket(photographer, server.base_url, last_seq=newest + 1000)
    gallery = await open_gallery_socket(visitor, server.base_url, slug, last_seq=newest + 1000)
    assert await next_message(panel) == {"type": "resync", "seq": newest}
    assert await next_message(gallery) == {"type": "resync", "seq": newest}

    await comment(visitor, slug, images[0]["id"], "after the restore")
    (live,) = await receive_activity(panel, 1)
    assert (live["seq"], live["kind"]) == (newest + 1, "comment_added")
    pushed = await next_message(gallery)
    assert (pushed["type"], pushed["seq"], pushed["body"]) == (
        "comment", newest + 1, "after the restore")
    for ws in (panel, gallery):
        await ws.close()


BAD_HELLOS = [
    '{"last_seq": "5"}', '{"last_seq": true}', '{"last_seq": 1.5}', '{"last_seq": 1e30}',
    '{"last_seq": Infinity}', '{"last_seq": -Infinity}', '{"last_seq": NaN}',
    '{"last_seq": -1}', '{"last_seq": 9223372036854775808}', '{"last_seq": null}',
    '{"last_seq": [1]}', '{}', '[1]', '5', '"hello"', 'not json',
    '{"last_seq": 1' + '0' * 5000 + '}',  # longer than Python parses into an int
]


async def close_code_after(url: str, headers: dict, hello: str | bytes) -> int:
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(hello)
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(WAIT):
                while True:
                    await ws.recv()
        return ws.close_code


async def test_a_malformed_hello_closes_with_4400_and_no_traceback(
        photographer, new_client, server):
    _, slug, _ = await released_gallery(photographer, 1)
    visitor = new_client()
    await pass_gate(visitor, slug, email="malformed@example.com")
    log_file = server.var_dir / "server.log"
    start = log_file.stat().st_size

    def headers(client) -> dict:
        cookie = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
        return {"Cookie": cookie, "Origin": server.base_url}

    sockets = [(ws_url(server.base_url), headers(photographer)),
               (gallery_ws_url(server.base_url, slug), headers(visitor))]
    for url, hdrs in sockets:
        for hello in [*BAD_HELLOS, b'{"last_seq": 1e30}']:
            assert await close_code_after(url, hdrs, hello) == CLOSE_BAD_HELLO, (url, hello)
    # And a good hello still opens a working socket (nothing above was sticky).
    ws = await open_panel_socket(photographer, server.base_url, last_seq=0)
    assert (await receive_activity(ws, 1))[0]["kind"] == "visit"
    await ws.close()
    await asyncio.sleep(0.3)  # whatever the server logs about those sockets is written
    with log_file.open("rb") as f:
        f.seek(start)
        written = f.read().decode("utf-8", "replace")
    assert "Traceback" not in written
    assert "OverflowError" not in written


# --- one envelope --------------------------------------------------------------------------

async def test_a_replayed_event_is_the_very_message_pushed_live(
        photographer, new_client, server):
    _, slug, images = await released_gallery(photographer, 2)
    visitor = new_client()
    await pass_gate(visitor, slug, email="same@example.com", name="Same Client")
    ws = await open_panel_socket(photographer, server.base_url)
    (visit,) = await receive_activity(ws, 1)
    await toggle(visitor, slug, images[0]["id"], True)
    await comment(visitor, slug, images[1]["id"], "Lovely light")
    await toggle(visitor, slug, images[0]["id"], False)
    res = await visitor.get(f"/g/{slug}/images/{images[1]['id']}/download")
    assert res.status_code == 200, res.text
    live = await receive_activity(ws, 4)
    await ws.close()
    assert [m["kind"] for m in live] == [
        "favorite_added", "comment_added", "favorite_removed", "download_single"]
    assert all("counters" not in m for m in [visit, *live])  # applied by kind, not shipped

    again = await open_panel_socket(photographer, server.base_url, last_seq=visit["seq"])
    replayed = await receive_activity(again, 4)
    await again.close()
    assert replayed == live


# --- heartbeat: a lost push without any later event -----------------------------------------

async def test_a_committed_event_whose_push_was_lost_reaches_the_dashboard_by_heartbeat(
        photographer, new_client, server, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug, email="lost@example.com")
    ws = await open_panel_socket(photographer, server.base_url)
    (seen,) = await receive_activity(ws, 1)
    beat = await next_of_type(ws, "heartbeat", timeout=6)  # at least every 5 s
    assert beat["seq"] == seen["seq"]

    (lost,) = await append_behind_the_servers_back(
        db, photographer.photographer_id, "favorite_added", event_id=event_id,
        contact_id=contact_id, payloads=[{"image_id": images[0]["id"]}])
    got: list[dict] = []
    async with asyncio.timeout(WAIT):
        while True:  # the gap is filled before the heartbeat that announces it
            message = json.loads(await ws.recv())
            got.append(message)
            if message["type"] == "heartbeat" and message["seq"] >= lost:
                break
    activity = [m for m in got if m["type"] == "activity"]
    assert [(m["seq"], m["kind"]) for m in activity] == [(lost, "favorite_added")]
    assert activity[0]["payload"] == {"image_id": images[0]["id"]}
    assert got.index(activity[0]) < len(got) - 1
    await ws.close()


# --- routed delivery ---------------------------------------------------------------------

class Untouchable:
    """A queue that fails the test if the hub so much as looks at it."""

    def __getattr__(self, name):
        raise AssertionError(f"the hub touched an uninvolved socket's queue ({name})")


def test_the_hub_hands_an_event_only_to_the_sockets_of_its_gallery_and_contact():
    hub = Hub(redis=None, namespace="test:")
    others = [hub.register_gallery(7, 100 + n % 50, 1000 + n) for n in range(1000)]
    others += [hub.register_gallery(7, 42, 2000 + n) for n in range(5)]  # same gallery
    others += [hub.register_gallery(8, 42, 99)]  # same ids, another photographer
    others += [hub.register_panel(8)]
    for conn in others:
        conn.queue = Untouchable()
    mine = hub.register_gallery(7, 42, 99)
    panel = hub.register_panel(7, "session")
    assert hub.connection_count() == 1009

    reply_event = {"type": "activity", "seq": 5, "kind": "comment_replied", "event_id": 42,
                   "contact_id": 99, "payload": {"image_id": 1, "comment_id": 2}}
    hub.dispatch("tenant:7", reply_event)
    assert mine.queue.get_nowait() is reply_event
    assert panel.queue.get_nowait() is reply_event

    # The dashboard gets everything of its tenant; a client's gallery only its conversation.
    favorite = {**reply_event, "seq": 6, "kind": "favorite_added"}
    presence = {"type": "presence", "event_id": 42, "contact_id": 99}
    hub.dispatch("tenant:7", favorite)
    hub.dispatch("tenant:7", presence)
    assert mine.queue.empty()
    assert [panel.queue.get_nowait() for _ in range(2)] == [favorite, presence]

    for conn in (mine, panel, *others):
        hub.unregister(conn)
    assert hub.connection_count() == 0 and not hub.galleries and not hub.panels


async def test_a_client_socket_of_one_gallery_gets_nothing_of_another(
        photographer, new_client, server):
    _, slug_a, images_a = await released_gallery(photographer, 1)
    _, slug_b, images_b = await released_gallery(photographer, 1)
    visitor = new_client()  # the same person, in both galleries: one contact
    contact_a = await gate_contact_id(visitor, slug_a, email="both@example.com")
    contact_b = await gate_contact_id(visitor, slug_b, email="both@example.com")
    assert contact_a == contact_b
    await comment(visitor, slug_a, images_a[0]["id"], "in A")
    await comment(visitor, slug_b, images_b[0]["id"], "in B")
    seq = (await pass_gate(visitor, slug_a, email="both@example.com")).json()["seq"]
    ws_a = await open_gallery_socket(visitor, server.base_url, slug_a, last_seq=seq)

    res = await reply(photographer, contact_b, images_b[0]["id"], "answer in B")
    assert res.status_code == 200, res.text
    await comment(visitor, slug_b, images_b[0]["id"], "more in B")
    with pytest.raises(TimeoutError):
        await next_message(ws_a, timeout=0.7)
    res = await reply(photographer, contact_a, images_a[0]["id"], "answer in A")
    assert res.status_code == 200, res.text
    pushed = await next_message(ws_a)
    assert (pushed["type"], pushed["kind"], pushed["body"]) == (
        "comment", "comment_replied", "answer in A")
    await ws_a.close()


# --- the gate tells the page where its socket starts ---------------------------------------

async def test_the_gate_answer_carries_the_photographers_seq_and_old_replies_stay_old(
        photographer, new_client, server, db):
    _, slug, images = await released_gallery(photographer, 1)
    first = new_client()
    contact_id = await gate_contact_id(first, slug, email="later@example.com")
    await comment(first, slug, images[0]["id"], "question")
    assert (await reply(photographer, contact_id, images[0]["id"], "old answer")).status_code == 200

    again = new_client()  # the same client in a new browser, recognised at the gate
    answer = (await pass_gate(again, slug, email="later@example.com")).json()
    assert answer["seq"] == await newest_seq(db, photographer.photographer_id)
    await comment(again, slug, images[0]["id"], "new question")
    ws = await open_gallery_socket(again, server.base_url, slug, last_seq=answer["seq"])
    pushed = await next_message(ws)  # its own new comment, replayed; nothing older
    assert (pushed["kind"], pushed["body"]) == ("comment_added", "new question")
    with pytest.raises(TimeoutError):
        await next_message(ws, timeout=0.5)
    await ws.close()


# --- the gallery socket's replay: newest within the cap, or resync ---------------------------

async def test_the_gallery_socket_replays_the_newest_missed_events_or_resyncs(
        photographer, new_client, server, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug, email="many@example.com")
    thread = await comment(visitor, slug, images[0]["id"], "start of my thread")
    first_comment = thread[0]["id"]
    start = await newest_seq(db, photographer.photographer_id)

    def replies(n: int, base: int) -> list[dict]:  # replies in the thread the browser began
        return [{"image_id": images[0]["id"], "comment_id": first_comment + base + i,
                 "body": f"reply {base + i}"} for i in range(n)]

    seqs = await append_behind_the_servers_back(
        db, photographer.photographer_id, "comment_replied", event_id=event_id,
        contact_id=contact_id, payloads=replies(GALLERY_MAX_REPLAY, 1))
    ws = await open_gallery_socket(visitor, server.base_url, slug, last_seq=start)
    got = [await next_message(ws) for _ in range(GALLERY_MAX_REPLAY)]
    assert [m["seq"] for m in got] == seqs  # all of them, oldest first
    await ws.close()

    # One more than the cap missed: resync, not a partial replay (neither end of it).
    more = await append_behind_the_servers_back(
        db, photographer.photographer_id, "comment_replied", event_id=event_id,
        contact_id=contact_id, payloads=replies(1, GALLERY_MAX_REPLAY + 1))
    ws = await open_gallery_socket(visitor, server.base_url, slug, last_seq=start)
    assert await next_message(ws) == {"type": "resync", "seq": more[-1]}
    with pytest.raises(TimeoutError):
        await next_message(ws, timeout=0.5)
    await ws.close()

    # Within the cap, from a later point: just the newest ones, in order.
    ws = await open_gallery_socket(visitor, server.base_url, slug, last_seq=seqs[-3])
    got = [await next_message(ws) for _ in range(3)]
    assert [m["seq"] for m in got] == [seqs[-2], seqs[-1], more[0]]
    assert got[-1]["body"] == f"reply {GALLERY_MAX_REPLAY + 1}"
    await ws.close()


# --- nothing swallowed (units: no public way to make a stream fail on purpose) --------------

class FakeSocket:
    """Just enough of a Starlette WebSocket for sockets.serve()."""

    def __init__(self, hello: str) -> None:
        self.hello = hello
        self.closed_with: int | None = None
        self.sent: list[str] = []
        self._hello_read = False

    async def receive(self) -> dict:
        if not self._hello_read:
            self._hello_read = True
            return {"type": "websocket.receive", "text": self.hello}
        await asyncio.Event().wait()  # the browser says nothing more

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code


class FailingStream:
    def __init__(self, fail_in: str) -> None:
        self.fail_in = fail_in

    async def start(self) -> None:
        if self.fail_in == "start":
            raise ValueError("a bug in the replay")

    async def deliver(self, message: dict) -> None:
        raise TypeError("a bug in the delivery")


@pytest.mark.parametrize("fail_in", ["start", "deliver"])
async def test_an_unexpected_error_in_a_socket_is_logged_and_closes_1011(fail_in, caplog):
    hub = Hub(redis=None, namespace="test:")
    conn = hub.register_panel(4242, "session")
    conn.offer(CATCH_UP)  # something to deliver once the replay is done
    websocket = FakeSocket('{"last_seq": 0}')
    with caplog.at_level(logging.ERROR, logger="realtime.sockets"):
        async with asyncio.timeout(WAIT):
            await serve(websocket, hub, conn, lambda last_seq: FailingStream(fail_in))
    assert websocket.closed_with == CLOSE_SERVER_ERROR
    (record,) = [r for r in caplog.records if r.name == "realtime.sockets"]
    assert record.exc_info is not None
    assert "4242" in record.getMessage() and "panel" in record.getMessage()
    assert hub.connection_count() == 0


class FlakyPubSub:
    """A subscription whose first life ends in a bug; the second delivers one message."""

    lives = 0

    def __init__(self) -> None:
        FlakyPubSub.lives += 1
        self.life = FlakyPubSub.lives
        self.sent = False

    async def psubscribe(self, pattern: str) -> None:
        if self.life == 1:
            raise KeyError("a bug, not a Redis error")

    async def get_message(self, timeout: float):
        if not self.sent:
            self.sent = True
            return {"type": "pmessage", "channel": b"test:tenant:5",
                    "data": b'other|{"type":"presence","event_id":1,"contact_id":2}'}
        await asyncio.sleep(timeout)
        return None

    async def ping(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class FlakyRedis:
    def pubsub(self, **kw) -> FlakyPubSub:
        return FlakyPubSub()


async def test_the_hub_logs_a_bug_in_its_loop_and_restarts(caplog):
    FlakyPubSub.lives = 0
    hub = Hub(FlakyRedis(), "test:", origin="mine")
    panel = hub.register_panel(5)
    with caplog.at_level(logging.ERROR, logger="realtime.hub"):
        await hub.start(timeout=WAIT)
        try:
            async with asyncio.timeout(WAIT):
                first = await panel.queue.get()
                second = await panel.queue.get()
        finally:
            await hub.stop()
    assert first is CATCH_UP  # back on the bus: whatever was missed is in the database
    assert second == {"type": "presence", "event_id": 1, "contact_id": 2}
    assert FlakyPubSub.lives == 2
    (record,) = [r for r in caplog.records if r.name == hub_module.log.name]
    assert record.exc_info is not None and "KeyError" in repr(record.exc_info[1].__class__)


class SilentPubSub:
    """A subscription on a half-open link: no message, no PONG, no error."""

    lives = 0
    pings = 0

    def __init__(self) -> None:
        SilentPubSub.lives += 1

    async def psubscribe(self, pattern: str) -> None:
        pass

    async def get_message(self, timeout: float):
        await asyncio.sleep(timeout)
        return None

    async def ping(self) -> None:
        SilentPubSub.pings += 1

    async def aclose(self) -> None:
        pass


class SilentRedis:
    def pubsub(self, **kw) -> SilentPubSub:
        return SilentPubSub()


async def test_the_hub_drops_a_subscription_that_stops_answering_ping(monkeypatch):
    # Shorter clocks than production's (5 s idle + 5 s for the PONG), same mechanism.
    monkeypatch.setattr(hub_module, "READ_TIMEOUT", 0.05)
    monkeypatch.setattr(hub_module, "PING_INTERVAL", 0.2)
    monkeypatch.setattr(hub_module, "PING_TIMEOUT", 0.2)
    SilentPubSub.lives = SilentPubSub.pings = 0
    hub = Hub(SilentRedis(), "test:")
    panel = hub.register_panel(5)
    await hub.start(timeout=WAIT)
    try:
        async with asyncio.timeout(WAIT):
            caught_up = await panel.queue.get()  # a new subscription, and a catch-up
    finally:
        await hub.stop()
    assert caught_up is CATCH_UP
    assert SilentPubSub.pings >= 1 and SilentPubSub.lives >= 2
