"""Refuse oversized request bodies before reading them (a pure ASGI middleware).

Every route takes a small body (a form or a JSON object: `SMALL`), except the photo
upload, which takes `max_upload_bytes` per file times `UPLOAD_FILES` files. A request
whose Content-Length declares more is answered 413 at once, without reading a byte of
it; one without a Content-Length (chunked) is counted as it streams and stopped with 413
as soon as it passes the limit. Either way the connection is closed after the answer, so
the server never drains the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Forms and JSON objects: far more than any of them needs.
SMALL = 64 * 1024
#: Files one upload request may carry: the panel's uploader sends one per request, a
#: script may send a few. 4 × 80 MB: a 500 MB body is refused before it is read.
UPLOAD_FILES = 4
#: Room for the multipart boundaries, part headers and the CSRF field around the files.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_PATH = re.compile(r"/panel/events/[0-9]+/images")
#: Settings → Brand posts a logo (server/brand.py LOGO_MAX_BYTES) with its text fields.
BRAND_PATH = "/panel/settings/brand"
BRAND_LIMIT = 5 * 1024 * 1024 + MULTIPART_OVERHEAD


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(message(limit))
        self.limit = limit


def message(limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"The request is too large (at most {size})."


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, small: int = SMALL) -> None:
        self.app = app
        self.small = small
        self.upload = max_upload_bytes * UPLOAD_FILES + MULTIPART_OVERHEAD

    def limit_for(self, scope: Scope) -> int:
        if scope["method"] == "POST" and UPLOAD_PATH.fullmatch(scope["path"]):
            return self.upload
        if scope["method"] == "POST" and scope["path"] == BRAND_PATH:
            return BRAND_LIMIT
        return self.small

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None:  # the server holds the client to it
            if declared > limit:
                await _refuse(scope, send, limit)
            else:
                await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return msg

        async def watched_send(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(scope, send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
    if b"application/json" in accept:
        body = json.dumps({"error": message(limit)}).encode()
        kind = b"application/json"
    else:
        body = message(limit).encode()
        kind = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
