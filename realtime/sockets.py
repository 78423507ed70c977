"""What both live sockets share: the hello, the close codes, the origin check and the
delivery loop.

Protocol (panel `/ws/panel` and gallery `/ws/gallery/<slug>`): the page sends one hello,
`{"last_seq": N}` (an integer 0..2**63-1, the last seq it has applied); the server replays
what is newer from the database, then streams live. The panel also receives
`{"type": "heartbeat", "seq": N}` at least every 5 s, sent only after every event up to N
(fetched from the database if a push went missing). `{"type": "resync", "seq": N}` means
"reload your state": too far behind, or the hello was beyond the newest event.

Close codes, the one list of them (the pages act on them):

| code | name | meaning | the page |
|------|------|---------|----------|
| 1000 | normal | the browser left, or the server is shutting down | reconnects |
| 1011 | server error | an unexpected error (logged with the photographer) | retries, backoff |
| 4400 | CLOSE_BAD_HELLO | the hello was not JSON `{"last_seq": int 0..2**63-1}` | stops (a bug) |
| 4401 | CLOSE_UNAUTHORIZED | no login session (panel) / unknown visitor (gallery) | stops |
| 4403 | CLOSE_FORBIDDEN_ORIGIN | the handshake came from another site | stops |
| 4404 | CLOSE_GALLERY_CLOSED | the gallery is not (or no longer) open | stops |
| 4408 | CLOSE_OVERFLOW | its queue filled up (a slow reader) | reconnects and replays |
| 4409 | CLOSE_LOGGED_OUT | its login session ended | stops |
| 4429 | CLOSE_TOO_MANY | too many live sockets (server/throttle.py) | retries after a minute |
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.utils import ClientDisconnected

from server.throttle import Lease

from .hub import Connection

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
CLOSE_TIMEOUT = 1.0
MAX_SEQ = 2**63 - 1  # seqs are BIGINT

CLOSE_NORMAL = 1000
CLOSE_SERVER_ERROR = 1011
CLOSE_BAD_HELLO = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_GALLERY_CLOSED = 4404
CLOSE_OVERFLOW = 4408  # the queue filled up: reconnect and replay
CLOSE_LOGGED_OUT = 4409
#: Too many live sockets for this visitor / login session / address (server/throttle.py):
#: the page stops reconnecting for a while (a minute) instead of retrying at once.
CLOSE_TOO_MANY = 4429


class SocketGone(Exception):
    """The browser (or the server's keepalive) ended the socket while we were sending."""


class BadHello(Exception):
    """The page's hello was not `{"last_seq": int}` within 0..MAX_SEQ."""


def parse_hello(message: dict) -> int:
    """The last seq of a hello (an ASGI websocket.receive message), or BadHello."""
    raw = message.get("text")
    if raw is None:
        raw = message.get("bytes")
    try:
        hello = json.loads(raw)
    except (TypeError, ValueError) as exc:  # ValueError: bad JSON, or an int too long
        raise BadHello("not JSON") from exc
    if not isinstance(hello, dict):
        raise BadHello("not an object")
    last_seq = hello.get("last_seq")
    if type(last_seq) is not int or not 0 <= last_seq <= MAX_SEQ:  # no bool, no float
        raise BadHello("last_seq is not an integer in 0..2**63-1")
    return last_seq


async def send_text(websocket: WebSocket, text: str) -> None:
    """Send, turning the transport's "it is gone" errors into SocketGone (and nothing else:
    a bug in what we send stays a bug)."""
    try:
        await websocket.send_text(text)
    except (WebSocketDisconnect, ClientDisconnected) as exc:
        raise SocketGone() from exc
    except RuntimeError as exc:  # the server already closed it (ping timeout) mid-send
        raise SocketGone() from exc


async def send_json(websocket: WebSocket, message: dict) -> None:
    await send_text(websocket, json.dumps(message, separators=(",", ":")))


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
    (the last seq the page saw), replay from the database (`stream.start()`), then deliver
    live. `lease` (its slot under the socket caps) is kept alive while it lives and
    released after. Only the browser leaving ends it quietly: a malformed hello closes
    with 4400, any other error is logged with the socket's photographer and closes 1011."""
    code = CLOSE_NORMAL
    if lease is not None:
        lease.keep_alive()
    try:
        try:
            message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT)
        except TimeoutError:
            return
        if message["type"] == "websocket.disconnect":
            return
        try:
            last_seq = parse_hello(message)
        except BadHello as exc:
            log.info("%s socket of photographer %s: bad hello (%s)", conn.kind,
                     conn.photographer_id, exc)
            code = CLOSE_BAD_HELLO
            return
        stream = make_stream(last_seq)
        await stream.start()
        hub.replayed[conn.kind] += 1
        code = await pump(websocket, conn, stream)
    except (WebSocketDisconnect, ClientDisconnected, SocketGone):
        pass
    except Exception:
        log.exception("%s socket of photographer %s failed", conn.kind, conn.photographer_id)
        code = CLOSE_SERVER_ERROR
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
    receiver = asyncio.create_task(drain_incoming(websocket, getattr(stream, "receive", None)))

    def received_all(task: asyncio.Task) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, (WebSocketDisconnect, ClientDisconnected)):
            log.error("%s socket of photographer %s failed reading", conn.kind,
                      conn.photographer_id, exc_info=error)
            stop(CLOSE_SERVER_ERROR)
        stop(CLOSE_NORMAL)

    receiver.add_done_callback(received_all)
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


async def drain_incoming(websocket: WebSocket, on_text=None) -> None:
    """Read what the page sends after its hello (the gallery's visibility: `on_text`; the
    panel sends nothing); reading also notices when the browser goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if on_text is not None and message.get("text") is not None:
            await on_text(message["text"])
