"""The gallery side of Gallery Workflows: a gallery's client contacts (the Clients card of
the gallery page), its timeline (what was sent, what will be, with cancel and send-now for
one pending item), and the public unsubscribe page every workflow email links to.

Thin routes: parse with `inputs`, call the services of server/workflows/{clients,timeline}.py
in one write unit, render. The unsubscribe link needs no login: the signed token is the
proof; its confirm button is a POST with the anonymous double-submit CSRF token (as the
gallery's own public forms), so a mail scanner fetching the link changes nothing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import activity
from ..errors import Invalid, NotFound
from ..workflows import clients, messages, timeline
from . import inputs
from .common import int_param, login_required, me_id, read_form, render, services, write
from .panel import detail_page

DONE = {"cancelled": "Cancelled: it will not be sent.",
        "sending": "Sending now: it moves to the history in a moment."}


def _gallery_url(event_id: int, saved: str = "") -> str:
    return f"/panel/events/{event_id}" + (f"?clients={saved}" if saved else "") + "#clients"


# --- the gallery's clients -----------------------------------------------------------------


@login_required
async def client_add(request: Request) -> Response:
    event_id = int_param(request, "event_id")
    form = await read_form(request)
    try:
        name = inputs.text(form, "name", "Name", max_len=120)
        email = inputs.email(form, "email")
        await write(request, _add, me_id(request), event_id, name, email)
    except Invalid as exc:
        return await detail_page(request, event_id, exc.message,
                                 {"name": form.get("name", ""), "email": form.get("email", "")},
                                 status=400)
    return RedirectResponse(_gallery_url(event_id, "added"), status_code=303)


def _add(session, photographer_id: int, event_id: int, name: str, email: str) -> None:
    clients.add_client(session, photographer_id, event_id, name=name, email=email)


@login_required
async def client_remove(request: Request) -> Response:
    event_id = int_param(request, "event_id")
    await read_form(request)
    await write(request, clients.remove_client, me_id(request), event_id,
                int_param(request, "contact_id"))
    return RedirectResponse(_gallery_url(event_id, "removed"), status_code=303)


# --- the timeline --------------------------------------------------------------------------


@login_required
async def timeline_page(request: Request) -> Response:
    """The page; `?fragment=1`: only its live region (timeline_live.js swaps it in)."""
    event_id = int_param(request, "event_id")
    async with services(request).db.reader() as session:
        found = await session.run_sync(timeline.gallery_timeline, me_id(request), event_id)
        last_seq = await activity.latest_seq(session, me_id(request))  # the same snapshot
    return render(request, "panel/gallery_timeline.html", {
        "t": found, "event": found.event, "last_seq": last_seq,
        "fragment": inputs.flag(request.query_params, "fragment", "Fragment"),
        "done": DONE.get(request.query_params.get("done", ""))})


async def _act(request: Request, fn, done: str) -> Response:
    await read_form(request)
    event_id = await write(request, fn, me_id(request), int_param(request, "action_id"))
    return RedirectResponse(f"/panel/events/{event_id}/timeline?done={done}", status_code=303)


@login_required
async def action_cancel(request: Request) -> Response:
    return await _act(request, timeline.cancel, "cancelled")


@login_required
async def action_send_now(request: Request) -> Response:
    return await _act(request, timeline.send_now, "sending")


# --- unsubscribe (public) ------------------------------------------------------------------


def _reader(request: Request) -> tuple[int, int]:
    token = inputs.path_token(request)
    found = messages.read_unsubscribe_token(services(request).settings.secret_key, token)
    if found is None:
        raise NotFound("This unsubscribe link is not valid.")
    return found


async def unsubscribe(request: Request) -> Response:
    """GET shows the confirm button (mail scanners fetch links); POST unsubscribes."""
    photographer_id, contact_id = _reader(request)
    if request.method == "GET":
        async with services(request).db.reader() as session:
            view = await session.run_sync(clients.unsubscribe_view, photographer_id,
                                          contact_id)
        return render(request, "gallery/unsubscribe.html", {"view": view, "just": False})
    await read_form(request)
    view = await write(request, clients.unsubscribe, photographer_id, contact_id)
    return render(request, "gallery/unsubscribe.html", {"view": view, "just": True})


routes = [
    Route("/panel/events/{event_id:int}/clients", client_add, methods=["POST"]),
    Route("/panel/events/{event_id:int}/clients/{contact_id:int}/remove", client_remove,
          methods=["POST"]),
    Route("/panel/events/{event_id:int}/timeline", timeline_page),
    Route("/panel/scheduled/{action_id:int}/cancel", action_cancel, methods=["POST"]),
    Route("/panel/scheduled/{action_id:int}/send-now", action_send_now, methods=["POST"]),
    Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"]),
]
