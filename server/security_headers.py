"""Security headers on every HTTP response: a strict Content-Security-Policy, nosniff, a
Referrer-Policy, and no framing.

A pure ASGI middleware (not BaseHTTPMiddleware): it only adds headers to the
`http.response.start` message, so streaming bodies (the bulk ZIP) stream as before, and
WebSocket and lifespan scopes pass through untouched.

`script-src 'self'` is what proves there is no inline script or inline event handler in
the templates: behaviour attaches from the ES modules under /static/js through data-*
attributes, so an email, a file name or a gallery type name can only ever be data.
`style-src` keeps 'unsafe-inline' because templates set per-element custom properties
(`style="--ar: 1.5"` on gallery tiles); styles cannot run code.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A Host header we are willing to echo into the policy: a name or an IP, and a port.
# Anything else (spaces, ';', quotes, commas) could smuggle a directive: ignore it.
_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")

_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "img-src 'self' data: blob:",
    "style-src 'self' 'unsafe-inline'",
)

_STATIC_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
)


def content_security_policy(hosts: tuple[str, ...]) -> str:
    """The policy for a page served under `hosts` (host[:port] forms). connect-src names the
    ws:/wss: form of each host: CSP Level 3 lets 'self' cover them, older Chromiums did not."""
    sockets = " ".join(f"{scheme}://{host}" for host in hosts for scheme in ("ws", "wss"))
    connect = f"connect-src 'self' {sockets}".rstrip()
    return "; ".join((*_POLICY, connect))


def framable_by_self(host: str) -> dict[str, str]:
    """Headers that let our own pages frame this response (the banner editor's preview of
    a real gallery), and no one else's."""
    hosts = (host,) if _HOST.match(host) else ()
    policy = content_security_policy(hosts).replace("frame-ancestors 'none'",
                                                    "frame-ancestors 'self'")
    return {"Content-Security-Policy": policy, "X-Frame-Options": "SAMEORIGIN"}


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (pages, JSON, redirects, static
    files, 404s, CSRF refusals). A header the app already set is left as it is."""

    def __init__(self, app: ASGIApp, base_url: str = "") -> None:
        self.app = app
        base_host = urlsplit(base_url).netloc if base_url else ""
        self.base_host = base_host if _HOST.match(base_host) else ""
        self._cache: dict[str, tuple[tuple[bytes, bytes], ...]] = {}

    def _headers(self, request_host: str) -> tuple[tuple[bytes, bytes], ...]:
        cached = self._cache.get(request_host)
        if cached is None:
            hosts = tuple(dict.fromkeys(h for h in (self.base_host, request_host) if h))
            policy = content_security_policy(hosts).encode("latin-1")
            cached = ((b"content-security-policy", policy), *_STATIC_HEADERS)
            if len(self._cache) < 64:  # a handful of real Host values; never grows unbounded
                self._cache[request_host] = cached
        return cached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        extra = self._headers(host if _HOST.match(host) else "")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((n, v) for n, v in extra if n not in present)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's ServerErrorMiddleware sits outside every user middleware, so its
            # plain 500 would leave without these headers: answer it here, then re-raise so
            # the error is still logged (it sees the response started and sends nothing).
            if not started:
                await send_with_headers({
                    "type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", b"21")],
                })
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
