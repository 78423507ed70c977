"""What both live sockets share: the origin check and the delivery loop."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from .hub import Connection

HELLO_TIMEOUT = 10.0
CLOSE_OVERFLOW = 4408  # the queue filled up: reconnect and replay
CLOSE_LOGGED_OUT = 4409


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


async def serve(websocket: WebSocket, hub, conn: Connection, make_stream) -> None:
    """The shared life of a live socket after registering with the hub: read the hello
    (the last seq the page saw), replay from the database, then deliver live."""
    try:
        hello = await asyncio.wait_for(websocket.receive_json(), HELLO_TIMEOUT)
        last_seq = int(hello.get("last_seq", 0)) if isinstance(hello, dict) else 0
        stream = make_stream(max(0, last_seq))
        await stream.replay()
        await pump(websocket, conn, stream)
    except (WebSocketDisconnect, TimeoutError, ValueError, TypeError):
        pass
    finally:
        hub.unregister(conn)
        with contextlib.suppress(Exception):
            await websocket.close()


async def pump(websocket: WebSocket, conn: Connection, stream) -> None:
    """Deliver queued messages through `stream.deliver` until the browser leaves, its
    queue overflows (it reconnects and replays), or its session is logged out."""
    receiver = asyncio.create_task(drain_incoming(websocket))
    overflow = asyncio.create_task(conn.overflowed.wait())
    try:
        while True:
            getter = asyncio.create_task(conn.queue.get())
            done, _ = await asyncio.wait({getter, receiver, overflow},
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                if overflow in done:
                    await websocket.close(code=CLOSE_OVERFLOW)
                return
            message = getter.result()
            if message.get("type") == "logout" and message.get("session") == conn.session_id:
                await websocket.close(code=CLOSE_LOGGED_OUT)
                return
            await stream.deliver(message)
    finally:
        receiver.cancel()
        overflow.cancel()


async def drain_incoming(websocket: WebSocket) -> None:
    """The browser sends only pings; reading also notices when it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
