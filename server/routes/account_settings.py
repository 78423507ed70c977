"""Settings → Account: the photographer's name, studio name, time zone and password."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import auth, validation
from ..errors import Invalid
from ..passwords import hash_password, verify_password
from ..workflows import builder, planner, timing
from . import inputs
from .common import login_required, me_id, read_form, render, services, write

SAVED = {"profile": "Your details are saved.",
         "password": "Password changed. Every other browser has been logged out."}


async def _page(request: Request, *, error: str | None = None, status: int = 200,
                timezone: str | None = None) -> Response:
    if timezone is None:
        async with services(request).db.reader() as session:
            timezone = (await session.run_sync(planner.rules_of, me_id(request))).timezone
    return render(request, "panel/account.html", {
        "error": error, "saved": SAVED.get(request.query_params.get("saved", "")),
        "timezone": timezone, "zones": timing.timezones(),
    }, status_code=status)


def _save_profile(session: Session, photographer_id: int, name: str, studio: str,
                  timezone: str | None) -> None:
    auth.update_profile(session, photographer_id, name, studio)
    if timezone is not None:  # a form without the field keeps the zone it had
        builder.set_timezone(session, photographer_id, timezone)


@login_required
async def account_page(request: Request) -> Response:
    if request.method == "GET":
        return await _page(request)
    form = await read_form(request)
    timezone = inputs.text(form, "timezone", "Time zone", max_len=64) or None
    try:
        name = inputs.text(form, "name", "Name", max_len=120, required=True)
        studio = inputs.text(form, "business_name", "Studio name", max_len=120)
        await write(request, _save_profile, me_id(request), name, studio, timezone)
    except Invalid as exc:
        return await _page(request, error=exc.message, status=400, timezone=timezone)
    return RedirectResponse("/panel/settings/account?saved=profile", status_code=303)


@login_required
async def change_password(request: Request) -> Response:
    form = await read_form(request)
    try:
        current = inputs.secret(form, "current_password", "Current password", max_len=200)
        new = validation.password(inputs.secret(form, "new_password", "New password",
                                                max_len=200))
        if new != inputs.secret(form, "confirm_password", "New password", max_len=200):
            raise Invalid("The two new passwords differ.", field="confirm_password")
    except Invalid as exc:
        return await _page(request, error=exc.message, status=400)
    # argon2 runs in a thread, before any transaction: ~20 ms each, never on the loop.
    if not await verify_password(request.state.photographer.password_hash, current):
        return await _page(request, error="Your current password is not right.", status=400)
    new_hash = await hash_password(new)
    await write(request, auth.set_password, me_id(request), new_hash, request.state.auth.id)
    return RedirectResponse("/panel/settings/account?saved=password", status_code=303)


routes = [
    Route("/panel/settings/account", account_page, methods=["GET", "POST"]),
    Route("/panel/settings/password", change_password, methods=["POST"]),
]
