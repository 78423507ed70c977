"""What both live sockets share: the origin check and the delivery loop."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from server.throttle import Lease

from .hub import Connection

HELLO_TIMEOUT = 10.0
CLOSE_TIMEOUT = 1.0
CLOSE_OVERFLOW = 4408  # the queue filled up: reconnect and replay
CLOSE_LOGGED_OUT = 4409
#: Too many live sockets for this visitor / login session / address (server/throttle.py):
#: the page stops reconnecting for a while (a minute) instead of retrying at once.
CLOSE_TOO_MANY = 4429


def origin_allowed(websocket: WebSocket) -> bool:
    """Browsers send cookies with the handshake from any site: accept only our own origin."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host", "")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.netloc == host and parts.scheme in ("http", "https")


async def refuse(websocket: WebSocket, code: int) -> None:
    """Accept, then close with a code the page can act on (a refused handshake would only
    tell the browser "403", and it would keep reconnecting). Nothing is sent before."""
    await websocket.accept()
    await websocket.close(code=code)


async def serve(websocket: WebSocket, hub, conn: Connection, make_stream,
                lease: Lease | None = None) -> None:
    """The shared life of a live socket after registering with the hub: read the hello
    (the last seq the page saw), replay from the database, then deliver live. `lease`
    (its slot under the socket caps) is kept alive while it lives and released after."""
    code = 1000
    if lease is not None:
        lease.keep_alive()
    try:
        hello = await asyncio.wait_for(websocket.receive_json(), HELLO_TIMEOUT)
        last_seq = int(hello.get("last_seq", 0)) if isinstance(hello, dict) else 0
        stream = make_stream(max(0, last_seq))
        await stream.replay()
        code = await pump(websocket, conn, stream)
    except (WebSocketDisconnect, TimeoutError, ValueError, TypeError, RuntimeError):
        pass  # RuntimeError: the server already closed it (ping timeout) mid-send
    finally:
        hub.unregister(conn)
        if lease is not None:
            await lease.release()
        await close_quickly(websocket, code)


async def pump(websocket: WebSocket, conn: Connection, stream) -> int:
    """Deliver queued messages through `stream.deliver` until the browser leaves, its
    queue overflows, or its session is logged out; returns the code to close with.

    Overflow wins over everything, even a send stalled on a browser that stopped reading
    (its TCP window closed): the send is abandoned, the socket closed with 4408, and the
    browser, whenever it reads again, reconnects and replays from the database. Leaving
    and overflowing cancel the loop where it waits, so a message costs no extra task."""
    stop = _Stop(asyncio.current_task())
    receiver = asyncio.create_task(drain_incoming(websocket))
    receiver.add_done_callback(lambda _: stop(1000))
    conn.on_overflow = lambda: stop(CLOSE_OVERFLOW)
    if conn.overflowed:  # already, during the replay
        stop(CLOSE_OVERFLOW)
    try:
        while True:
            message = await conn.queue.get()
            if message.get("type") == "logout" and message.get("session") == conn.session_id:
                return CLOSE_LOGGED_OUT
            await stream.deliver(message)
    except asyncio.CancelledError:
        if stop.code is None:
            raise  # cancelled from outside (shutdown): not ours to swallow
        stop.task.uncancel()
        return stop.code
    finally:
        stop.over = True
        conn.on_overflow = None
        receiver.cancel()


class _Stop:
    """Cancels the pumping task once, with the code to close with; never after the pump
    has returned (the cancel would hit whatever its caller awaits next)."""

    def __init__(self, task: asyncio.Task) -> None:
        self.task = task
        self.code: int | None = None
        self.over = False

    def __call__(self, code: int) -> None:
        if self.code is None and not self.over:
            self.code = code
            self.task.cancel()


async def close_quickly(websocket: WebSocket, code: int = 1000) -> None:
    """Close, but never wait on a browser that is not reading: its close frame would queue
    behind the stalled data. Returning lets the server drop the connection."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=code), CLOSE_TIMEOUT)


async def drain_incoming(websocket: WebSocket) -> None:
    """The browser sends only pings; reading also notices when it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
