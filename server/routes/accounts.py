"""Sign up, log in, log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import auth, throttle
from ..errors import Invalid
from . import inputs
from .common import (
    SESSION_COOKIE,
    login_required,
    read_form,
    read_signed,
    render,
    services,
    session_policy,
    set_signed,
    write,
)


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect. Browsers read `\\` as `/` and drop
    tabs and newlines, so `/\\evil.example` or `/<TAB>/evil.example` would mean
    `//evil.example`; anything with a backslash or a control character is refused too."""
    value = value or ""
    if (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not any(ord(c) < 33 or ord(c) == 127 for c in value)
        and not urlsplit(value).netloc
    ):
        return value
    return "/panel"


def _logged_in(request: Request, session_id: str, next_url: str) -> Response:
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    set_signed(response, request, SESSION_COOKIE, "session", session_id,
               max_age=int(services(request).settings.session_max_age.total_seconds()))
    return response


async def signup(request: Request) -> Response:
    if not services(request).settings.signup_open:  # PROOFROOM_SIGNUP=closed
        return render(request, "panel/signup.html", {"closed": True, "error": None, "form": {}},
                      status_code=403)
    if request.method == "GET":
        return render(request, "panel/signup.html", {"error": None, "form": {}})
    form = await read_form(request)
    try:
        await throttle.of(request).signup(throttle.client_address(request))
    except throttle.Limited as exc:
        response = render(request, "panel/signup.html",
                          {"error": exc.message, "form": dict(form)}, status_code=429)
        response.headers.update(exc.headers)
        return response
    try:
        email = inputs.email(form)
        name = inputs.text(form, "name", "Name", max_len=120, required=True)
        password = inputs.secret(form, "password", "Password", max_len=200)
        account = await auth.new_account(email=email, name=name, password=password)
        row = await write(request, auth.sign_up_and_log_in, account, session_policy(request))
    except (Invalid, IntegrityError) as exc:  # IntegrityError: the same email, same moment
        message = (exc.message if isinstance(exc, Invalid)
                   else "An account with that email already exists. Log in instead.")
        return render(request, "panel/signup.html",
                      {"error": message, "form": dict(form)}, status_code=400)
    return _logged_in(request, row.id, "/panel")


async def login(request: Request) -> Response:
    next_url = inputs.text(request.query_params, "next", "Next page", max_len=2000,
                           default="/panel")
    if request.method == "GET":
        return render(request, "panel/login.html", {"error": None, "email": "", "next": next_url})
    form = await read_form(request)
    try:
        email = inputs.text(form, "email", "Email", max_len=254)
        password = inputs.secret(form, "password", "Password", max_len=200)
        next_url = inputs.text(form, "next", "Next page", max_len=2000) or next_url
    except Invalid as exc:
        return render(request, "panel/login.html",
                      {"error": exc.message, "email": "", "next": "/panel"}, status_code=400)
    previous = read_signed(request, SESSION_COOKIE, "session")
    try:
        # The password is checked (in a thread) before the write transaction opens.
        photographer = await auth.authenticate(
            services(request).db, throttle.of(request), email=email, password=password,
            address=throttle.client_address(request))
    except throttle.Limited as exc:
        response = render(request, "panel/login.html",
                          {"error": exc.message, "email": email, "next": next_url},
                          status_code=429)
        response.headers.update(exc.headers)
        return response
    if photographer is None:
        return render(request, "panel/login.html",
                      {"error": "Wrong email or password.", "email": email, "next": next_url},
                      status_code=400)
    # Rotate: the id this browser held (if any) ends as the new one starts.
    row = await write(request, auth.log_in, photographer.id,
                      previous if isinstance(previous, str) else None, session_policy(request))
    return _logged_in(request, row.id, next_url)


@login_required
async def logout(request: Request) -> Response:
    await read_form(request)
    session_id = read_signed(request, SESSION_COOKIE, "session")
    await write(request, auth.end_session, session_id)  # with a due expiry slide: one unit
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def home(request: Request) -> Response:
    if read_signed(request, SESSION_COOKIE, "session"):
        return RedirectResponse("/panel", status_code=303)
    return render(request, "home.html")


routes = [
    Route("/", home),
    Route("/signup", signup, methods=["GET", "POST"]),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
