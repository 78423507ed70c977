"""Settings → Account: the photographer's name, studio name and password."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import auth, validation
from ..errors import Invalid
from ..passwords import hash_password, verify_password
from . import inputs
from .common import login_required, me_id, read_form, render, write

SAVED = {"profile": "Your details are saved.",
         "password": "Password changed. Every other browser has been logged out."}


def _page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    return render(request, "panel/account.html", {
        "error": error, "saved": SAVED.get(request.query_params.get("saved", "")),
    }, status_code=status)


@login_required
async def account_page(request: Request) -> Response:
    if request.method == "GET":
        return _page(request)
    form = await read_form(request)
    try:
        name = inputs.text(form, "name", "Name", max_len=120, required=True)
        studio = inputs.text(form, "business_name", "Studio name", max_len=120)
        await write(request, auth.update_profile, me_id(request), name, studio)
    except Invalid as exc:
        return _page(request, error=exc.message, status=400)
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
        return _page(request, error=exc.message, status=400)
    # argon2 runs in a thread, before any transaction: ~20 ms each, never on the loop.
    if not await verify_password(request.state.photographer.password_hash, current):
        return _page(request, error="Your current password is not right.", status=400)
    new_hash = await hash_password(new)
    await write(request, auth.set_password, me_id(request), new_hash, request.state.auth.id)
    return RedirectResponse("/panel/settings/account?saved=password", status_code=303)


routes = [
    Route("/panel/settings/account", account_page, methods=["GET", "POST"]),
    Route("/panel/settings/password", change_password, methods=["POST"]),
]
