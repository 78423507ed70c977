"""What every handler shares: rendering, signed cookies, CSRF, the logged-in photographer."""

from __future__ import annotations

import functools
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..auth import load_session
from ..errors import Forbidden, Invalid, NotFound

SESSION_COOKIE = "pr_session"
CSRF_COOKIE = "pr_csrf"
CSRF_HEADER = "x-csrf-token"
FORM_LIMITS = {"max_files": 200, "max_fields": 200, "max_part_size": 64 * 1024}


def services(request: Request):
    return request.state.services


def signer(request: Request, purpose: str) -> URLSafeSerializer:
    return _serializer(services(request).settings.secret_key, purpose)


@functools.lru_cache(maxsize=32)
def _serializer(secret_key: str, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=f"proofroom.{purpose}")


@functools.lru_cache(maxsize=2048)
def _verified(secret_key: str, purpose: str, raw: str) -> str:
    """A cookie's checked payload, as JSON text. A returning visitor sends the same cookie
    with every click: verify its signature once, not per request (bad ones are not cached:
    the exception escapes the cache)."""
    return json.dumps(_serializer(secret_key, purpose).loads(raw))


def read_signed(request: Request, cookie: str, purpose: str, default: Any = None) -> Any:
    raw = request.cookies.get(cookie)
    if not raw:
        return default
    try:
        # Parsed afresh per call, so no caller can change what the cache holds.
        return json.loads(_verified(services(request).settings.secret_key, purpose, raw))
    except BadSignature:
        return default


def set_signed(response: Response, request: Request, cookie: str, purpose: str, value: Any,
               max_age: int = 60 * 60 * 24 * 365) -> None:
    response.set_cookie(
        cookie, signer(request, purpose).dumps(value), max_age=max_age, httponly=True,
        samesite="lax", secure=services(request).settings.secure_cookies,
    )


def csrf_token(request: Request) -> str:
    """The double-submit token: the cookie's value, made on first use in this request."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or ""
        if len(token) < 20:
            token = secrets.token_urlsafe(24)
            request.state.new_csrf = token
        request.state.csrf_token = token
    return token


def attach_csrf_cookie(request: Request, response: Response) -> Response:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(
            CSRF_COOKIE, new, httponly=False, samesite="lax",
            secure=services(request).settings.secure_cookies, max_age=60 * 60 * 24 * 30,
        )
    return response


def check_csrf(request: Request, submitted: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    if not cookie or not submitted or not hmac.compare_digest(cookie, str(submitted)):
        raise Forbidden("Your session token is missing or expired. Reload the page and try again.")


async def read_form(request: Request) -> FormData:
    """Parse a form post and check its CSRF token (field `csrf_token` or the header)."""
    form = await request.form(**FORM_LIMITS)
    check_csrf(request, form.get("csrf_token") or request.headers.get(CSRF_HEADER))
    return form


def _too_large(max_bytes: int) -> Invalid:
    return Invalid(f"The request is too large (at most {max_bytes // 1024} KB).")


async def read_json(request: Request, max_bytes: int = 64 * 1024) -> dict:
    check_csrf(request, request.headers.get(CSRF_HEADER))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = b""
    async for chunk in request.stream():  # never hold more than the limit in memory
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise Invalid("Malformed JSON.") from None
    if not isinstance(data, dict):
        raise Invalid("Expected a JSON object.")
    return data


def render(request: Request, template: str, context: dict | None = None,
           status_code: int = 200) -> Response:
    ctx = {"csrf_token": csrf_token(request), "me": getattr(request.state, "photographer", None)}
    ctx.update(context or {})
    response = services(request).templates.TemplateResponse(
        request, template, ctx, status_code=status_code
    )
    return attach_csrf_cookie(request, response)


Handler = Callable[[Request], Awaitable[Response]]


def login_required(handler: Handler) -> Handler:
    """Load the server-side session behind the signed cookie, or send to the login page."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        session_id = read_signed(request, SESSION_COOKIE, "session")
        found = None
        if isinstance(session_id, str):
            async with services(request).db.reader() as session:
                found = await load_session(session, session_id)
        if found is None:
            if request.method == "GET":
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            raise Forbidden("You are logged out. Log in again.")
        request.state.auth, request.state.photographer = found
        return await handler(request)

    return wrapper


def me_id(request: Request) -> int:
    return request.state.photographer.id


#: Ids are 32-bit integer columns: a bigger number cannot name a row (and would overflow
#: the query parameter on PostgreSQL and SQLite alike), so it is simply not found.
MAX_ID = 2**31 - 1


def int_param(request: Request, name: str) -> int:
    try:
        value = int(request.path_params[name])
    except (KeyError, ValueError):
        raise NotFound() from None
    if not 0 < value <= MAX_ID:
        raise NotFound()
    return value


def form_id(value: Any, message: str) -> int:
    """A row id posted in a form field; anything that can't be one is a clear 400."""
    try:
        number = int(str(value or "").strip())
    except ValueError:
        raise Invalid(message) from None
    if not 0 < number <= MAX_ID:
        raise Invalid(message)
    return number
