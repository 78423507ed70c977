"""One logfmt line per request (and per WebSocket, at its close) on "proofroom.requests".

    request_id=3f9c21ab-1c method=GET route=/g/{slug} status=200 photographer=12 duration_ms=1.2
    request_id=3f9c21ab-1d kind=panel route=/ws/panel close=1000 photographer=12 duration_ms=5312.0

A pure ASGI middleware (BaseHTTPMiddleware would buffer streaming bodies and run the app in
another task), the outermost one, so the duration covers every other middleware and the
status is the one the client got (a 500 included). It also hands each request's method,
route and status to `observe` (the Prometheus figures of server/metrics.py).

- request id: the incoming `X-Request-ID` when it is sane (1-64 of [A-Za-z0-9-]), else one
  of ours (a per-process random prefix and a counter: unique, and no entropy per request);
  echoed in the response's `X-Request-ID`.
- route: the template of the route that matched (`/g/{slug}`), never the raw path, so
  neither a log search nor a metric label grows with what clients type; `-` when none did.
- photographer: `photographer_id` in the request's state, which the session lookup
  (server/routes/common.py `current_session`) sets once it knows who is logged in; `-` else.

Writing the line (formatting it, the write and flush of the console handler) would be
blocking IO on the event loop for every request. While the app runs (its ASGI lifespan,
which passes through this middleware), the logger instead puts each record on a queue
(`logging.handlers.QueueHandler`) and a `QueueListener` thread hands it to the handlers
propagation would have reached (the console's, a test's capture). At shutdown the
listener writes out what is queued before the server is told shutdown is complete; the
logger then writes directly again, so no line is lost.
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from logging.handlers import QueueHandler, QueueListener

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("proofroom.requests")

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9-]{1,64}")
#: Methods logged and labelled as themselves; anything else is "OTHER" (bounded labels).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Observer = Callable[[str, str, int, float], None]  # method, route, status, seconds


class RequestLog:
    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._templates: dict[int, str] = {}  # id(route) -> its template; routes live on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Lines go through the queue from startup until shutdown is complete (see the
        module docstring)."""
        OFF_LOOP.start()
        running = True

        def stop() -> None:
            nonlocal running
            if running:
                running = False
                OFF_LOOP.stop()

        async def send_when_written(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed",
                                   "lifespan.startup.failed"):
                stop()  # before the server hears it: it may exit right after
            await send(message)

        try:
            await self.app(scope, receive, send_when_written)
        finally:
            stop()

    def _request_id(self, scope: Scope) -> bytes:
        for name, value in scope["headers"]:
            if name == HEADER:
                if _SANE_ID.fullmatch(value):
                    return value
                break
        return f"{self._prefix}-{next(self._counter):x}".encode()

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "-"
        template = self._templates.get(id(route))
        if template is None:
            template = getattr(route, "path", None) or "-"
            if isinstance(route, Mount):
                template += "/{path}"
            self._templates[id(route)] = template
        return template

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = self._request_id(scope)
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = self._route(scope)
            log.info("request_id=%s method=%s route=%s status=%d photographer=%s "
                     "duration_ms=%.1f", request_id.decode(), method, route, status,
                     _photographer(scope), seconds * 1000)
            if self.observe is not None:
                self.observe(method, route, status, seconds)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = self._request_id(scope)
        close: int | str = "-"  # the code we closed with; "-" if the browser left first

        async def send_with_id(message: Message) -> None:
            nonlocal close
            kind = message["type"]
            if kind == "websocket.close":
                close = message.get("code", 1000)
            elif kind == "websocket.accept":
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            # The endpoints are named <kind>_socket (realtime/panel_socket.py, gallery_…).
            kind = getattr(route, "name", "").removesuffix("_socket") or "-"
            log.info("request_id=%s kind=%s route=%s close=%s photographer=%s "
                     "duration_ms=%.1f", request_id.decode(), kind, self._route(scope),
                     close, _photographer(scope), (time.perf_counter() - started) * 1000)


class _Enqueue(QueueHandler):
    """Puts the record on the queue as it is: formatting it is the listener's work too.
    (The stock `prepare` formats on the caller's thread, to make the record picklable for
    another process; a thread needs none of it, and our arguments are immutable.)"""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class _Propagate(logging.Handler):
    """On the listener's thread: what propagation from `logger` would have done."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        if self.logger.parent is not None:
            self.logger.parent.callHandlers(record)


class OffLoop:
    """Routes a logger's records through a queue to a listener thread while started.
    Counted: several apps in one process (the tests) share the logger and the thread."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._lock = threading.Lock()
        self._users = 0
        self._handler: QueueHandler | None = None
        self._listener: QueueListener | None = None

    def start(self) -> None:
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            records: queue.SimpleQueue = queue.SimpleQueue()
            self._listener = QueueListener(records, _Propagate(self.logger))
            self._listener.start()
            self._handler = _Enqueue(records)
            self.logger.addHandler(self._handler)
            self.logger.propagate = False

    def stop(self) -> None:
        """Direct writes again, then the listener writes out what is queued and ends."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users or self._handler is None or self._listener is None:
                return
            self.logger.removeHandler(self._handler)
            self.logger.propagate = True
            self._listener.stop()  # a sentinel after every queued record; joins the thread
            self._handler = self._listener = None


OFF_LOOP = OffLoop(log)


def _photographer(scope: Scope) -> int | str:
    state = scope.get("state")
    found = state.get("photographer_id") if state is not None else None
    return "-" if found is None else found
