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
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable

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
        else:
            await self.app(scope, receive, send)

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


def _photographer(scope: Scope) -> int | str:
    state = scope.get("state")
    found = state.get("photographer_id") if state is not None else None
    return "-" if found is None else found
