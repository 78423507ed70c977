"""What every handler shares: rendering, signed cookies, CSRF, the logged-in photographer."""

from __future__ import annotations

import functools
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from .. import auth
from ..errors import Forbidden, Invalid
from ..models import AuthSession, Photographer, utcnow
from . import inputs

T = TypeVar("T")

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
    """The token a page embeds in its forms and its `csrf-token` meta tag.

    Logged in: the session row's own token, so a cookie+field pair planted from another
    browser never matches, and logging in (a new session row) rotates it. Anonymous pages
    (login, sign-up, the client gallery): a double-submit cookie, made on first use."""
    login = getattr(request.state, "auth", None)
    if login is not None:
        return login.csrf_token
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


def check_csrf(request: Request, submitted: Any) -> None:
    login = getattr(request.state, "auth", None)
    expected = login.csrf_token if login is not None else request.cookies.get(CSRF_COOKIE) or ""
    given = submitted if isinstance(submitted, str) else ""
    # Bytes, not str: compare_digest refuses non-ASCII text with a TypeError.
    if not expected or not given or not hmac.compare_digest(
        expected.encode("utf-8", "replace"), given.encode("utf-8", "replace")
    ):
        raise Forbidden("Your session token is missing or expired. Reload the page and try again.")


async def read_form(request: Request, files: tuple[str, ...] = ()) -> FormData:
    """Parse a form post and check its CSRF token (field `csrf_token` or the header).
    A file part is refused (400) unless its field is one of `files`: every other field is
    text, read through `inputs`."""
    form = await request.form(**FORM_LIMITS)
    check_csrf(request, form.get("csrf_token") or request.headers.get(CSRF_HEADER))
    misplaced = sorted({k for k, v in form.multi_items()
                        if not isinstance(v, str) and k not in files})
    if misplaced:
        await form.close()
        raise Invalid(f"Expected text, not a file, in: {', '.join(misplaced)[:200]}.")
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
    except (ValueError, RecursionError):  # RecursionError: nesting too deep to parse
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
    """Load the server-side session behind the signed cookie, or send to the login page.
    A login due to slide its expiry forward slides in the handler's own write unit
    (`write`), or after the handler if it wrote nothing: never a second unit."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        found = await current_session(request, defer_slide=True)
        if found is None:
            if request.method == "GET":
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            raise Forbidden("You are logged out. Log in again.")
        request.state.auth, request.state.photographer = found
        try:
            return await handler(request)
        finally:
            # Still due: the handler wrote nothing, or its unit rolled back.
            if getattr(request.state, "slide_due", None) is not None:
                await write(request, _nothing)

    return wrapper


def _nothing(session: Session) -> None:
    """A unit with nothing of its own: the login slide alone (see `write`)."""


async def write(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """The request's one unit of work: `fn(session, *args)` through `db.write` (a plain
    ORM session, see server/db.py), plus the login's expiry slide when one is due
    (login_required), so the two commit together."""
    due, policy = getattr(request.state, "slide_due", None), session_policy(request)

    def unit(session: Session) -> T:
        if due is not None:
            auth.extend_session(session, due, policy)
        return fn(session, *args)

    result = await services(request).db.write(unit)
    request.state.slide_due = None  # only once committed: a rollback leaves it due
    return result


def session_policy(conn: HTTPConnection) -> auth.SessionPolicy:
    settings = conn.state.services.settings
    return auth.SessionPolicy(idle=settings.session_idle, max_age=settings.session_max_age)


async def current_session(conn: HTTPConnection, *, defer_slide: bool = False
                          ) -> tuple[AuthSession, Photographer] | None:
    """The live session (and its photographer) behind the signed cookie, or None. Used by
    the panel's pages and its socket alike; slides the idle expiry forward when due (with
    `defer_slide`, in the request's `write` instead: see login_required)."""
    session_id = read_signed(conn, SESSION_COOKIE, "session")
    if not isinstance(session_id, str):
        return None
    db = conn.state.services.db
    async with db.reader() as session:
        found = await auth.load_session(session, session_id)
    conn.state.photographer_id = found[1].id if found else None  # server/request_log.py
    if found is None or not session_policy(conn).refresh_due(found[0], utcnow()):
        return found
    if defer_slide:
        conn.state.slide_due = found[0]
    else:
        await db.write(auth.extend_session, found[0], session_policy(conn))
    return found


def me_id(request: Request) -> int:
    return request.state.photographer.id


def int_param(request: Request, name: str) -> int:
    """A row id in the path (see `inputs.path_id`): anything else is a 404."""
    return inputs.path_id(request, name)


def form_id(value: Any, message: str) -> int:
    """A row id posted in a form field (see `inputs.row_id`): anything else is a clear 400."""
    return inputs.row_id({"id": value}, "id", message)
