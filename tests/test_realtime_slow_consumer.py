"""A slow or dead dashboard never slows the client: while the photographer's panel socket
has stopped reading, every client request still commits and returns; the server keeps only
a bounded queue for that socket, and once it overflows the server abandons the stalled
send and drops the socket; the dashboard recovers what it missed by reconnecting and
replaying from the database, each seq exactly once and in order.

The end is seen when the stalled socket reads again: after the bytes already in flight the
connection ends, with CLOSE_OVERFLOW (4408) if the close frame got out, else abnormally
(1006: the frame could not pass the stalled data) — never by uvicorn's ping timeout (1011).
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

from conftest import Client, pass_gate, released_gallery, scalar
from sqlalchemy.ext.asyncio import AsyncEngine
from test_realtime import assert_silent, open_panel_socket, toggle, ws_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from realtime.hub import QUEUE_SIZE
from realtime.panel_socket import MAX_REPLAY
from realtime.sockets import CLOSE_OVERFLOW

#: Loopback's 64 KB MSS lets the kernel autotune the server's send buffer to ~3 MB, which
#: swallows ~7000 pushes before uvicorn's send waits at all. Advertising a small MSS (and
#: receive buffer) keeps that buffer near 140 KB, so the hub's queue is what fills.
SMALL_MSS = 536
SMALL_RCVBUF = 4096

#: Actions to make after the server's send queue stops growing: uvicorn's 64 KiB write
#: buffer takes ~150 of these ~440-byte pushes, then the hub queue fills and overflows
#: (~200 to spare). Few enough that what the dropped socket missed (everything after the
#: bytes in flight) is still a replay, not a resync.
STALLED_ACTIONS = QUEUE_SIZE + 350
MAX_ACTIONS = 4000  # the server never stopped taking bytes: fail rather than loop on
WAIT = 15.0  # seconds for any one read; a broken server fails the test instead of hanging
# The whole stall takes a few seconds: uvicorn's keepalive (30 s ping + 20 s) would
# otherwise end the socket first, with 1011.

PROC_NET_TCP = Path("/proc/net/tcp")


async def latest_seq(db: AsyncEngine, photographer_id: int) -> int:
    return await scalar(db, "SELECT max(seq) FROM activity_events WHERE photographer_id=:p",
                        p=photographer_id)


async def open_stalled_panel_socket(client: Client, base_url: str,
                                    last_seq: int) -> tuple[ClientConnection, socket.socket]:
    """A panel socket that says hello and then never reads (until the test drains it)."""
    url = urlsplit(base_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SMALL_MSS)  # before connect: advertised
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (url.hostname, url.port))
    cookie = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
    # max_queue=1: the library stops reading TCP once a frame waits for recv(). No pings:
    # their pongs would queue behind the backlog and the client would time out by itself.
    ws = await connect(ws_url(base_url), sock=sock, max_queue=1, ping_interval=None,
                       close_timeout=1,
                       additional_headers={"Cookie": cookie, "Origin": base_url})
    await ws.send(json.dumps({"last_seq": last_seq}))
    return ws, sock


def server_send_queue(sock: socket.socket) -> int:
    """Bytes the server has written to this connection that the client has not taken.

    The server cannot tell us it dropped the socket while we do not read (uvicorn's send of
    the close frame waits for the write buffer like any other, and the frame would queue
    behind the backlog anyway), so we watch its end of the TCP connection instead."""
    ours, theirs = sock.getsockname()[1], sock.getpeername()[1]
    for line in PROC_NET_TCP.read_text().splitlines()[1:]:
        fields = line.split()  # sl, local, remote, state, tx_queue:rx_queue, ...
        if fields[1].endswith(f":{theirs:04X}") and fields[2].endswith(f":{ours:04X}"):
            return int(fields[4].split(":")[0], 16)
    raise AssertionError(f"the server's end of port {ours} is not in {PROC_NET_TCP}")


async def toggle_until_overflowed(visitor: Client, slug: str, image_ids: list[int],
                                  sock: socket.socket) -> int:
    """Toggle favorites, one concurrent request per image (each changes state, so each
    commits exactly one event), until STALLED_ACTIONS went by without the server's send
    queue moving. Every request must succeed. Returns the number of actions."""
    actions = unchanged = 0
    queued = -1
    while unchanged < STALLED_ACTIONS:
        assert actions < MAX_ACTIONS, (
            f"after {actions} actions the server still takes bytes for the stalled socket "
            f"({queued} queued): the test cannot make it back up")
        on = (actions // len(image_ids)) % 2 == 0
        await asyncio.gather(*(toggle(visitor, slug, image_id, on) for image_id in image_ids))
        actions += len(image_ids)
        now = server_send_queue(sock)
        unchanged = unchanged + len(image_ids) if now == queued else 0
        queued = now
    return actions


async def drain_until_closed(ws: ClientConnection) -> list[dict]:
    """Read everything the server buffered for the socket, up to its close."""
    got: list[dict] = []
    try:
        async with asyncio.timeout(WAIT):
            while True:
                got.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        return got
    except TimeoutError:
        seqs = activity_seqs(got)
        raise AssertionError(
            f"the stalled socket delivered {len(got)} messages (seq {seqs[:1]}..{seqs[-1:]}) "
            f"and stayed open: it was never dropped") from None


def activity_seqs(messages: list[dict]) -> list[int]:
    assert not [m for m in messages if m.get("type") == "resync"], "resynced, not replayed"
    return [m["seq"] for m in messages if m.get("type") == "activity"]


async def receive_through(ws: ClientConnection, newest: int) -> list[int]:
    """Seqs of the activity pushed to `ws`, until `newest` arrives."""
    got: list[dict] = []
    try:
        async with asyncio.timeout(WAIT):
            while not got or got[-1].get("seq", 0) < newest:
                got.append(json.loads(await ws.recv()))
    except TimeoutError:
        raise AssertionError(f"no seq {newest} after {activity_seqs(got)}") from None
    return activity_seqs(got)


async def test_a_stalled_dashboard_is_dropped_after_its_queue_overflows_and_replays_the_rest(
        photographer, new_client, server, db):
    assert STALLED_ACTIONS - QUEUE_SIZE < MAX_REPLAY  # what is missed stays replayable
    _, slug, images = await released_gallery(photographer, 4)
    visitor = new_client()
    await pass_gate(visitor, slug)
    start = await latest_seq(db, photographer.photographer_id)

    stalled, sock = await open_stalled_panel_socket(photographer, server.base_url, start)
    async with stalled:  # closes it if an assertion fails before the server does
        actions = await toggle_until_overflowed(visitor, slug, [i["id"] for i in images], sock)
        newest = await latest_seq(db, photographer.photographer_id)
        assert newest == start + actions  # every request committed its event
        delivered = activity_seqs(await drain_until_closed(stalled))
    assert stalled.close_code in (CLOSE_OVERFLOW, CloseCode.ABNORMAL_CLOSURE)
    # What it got before the drop is the unbroken start of the log, and not all of it.
    assert delivered == list(range(start + 1, start + 1 + len(delivered)))
    assert delivered and delivered[-1] < newest, delivered[-1:]

    fresh = await open_panel_socket(photographer, server.base_url, last_seq=delivered[-1])
    try:
        replayed = await receive_through(fresh, newest)
        await assert_silent(fresh)  # and nothing twice
    finally:
        await fresh.close()
    assert replayed == list(range(delivered[-1] + 1, newest + 1))
    assert delivered + replayed == list(range(start + 1, newest + 1))
