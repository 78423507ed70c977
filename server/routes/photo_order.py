"""How a gallery orders its photos (galleries.set_photo_order): a choice of order from the
gallery page's form, and the photographer's own order from a drag in the photo grid."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import galleries
from . import inputs
from .common import int_param, login_required, me_id, read_form, read_json, write

#: A gallery holds at most this many photos to reorder in one request.
MAX_IDS = 20_000


@login_required
async def choose_order(request: Request) -> Response:
    form = await read_form(request)
    event_id = int_param(request, "event_id")
    order = inputs.text(form, "order", "Order", max_len=20)
    await write(request, galleries.set_photo_order, me_id(request), event_id, order)
    return RedirectResponse(f"/panel/events/{event_id}", status_code=303)


@login_required
async def drag_order(request: Request) -> Response:
    """The grid after a drag: every photo id of the gallery, in the new order."""
    event_id = int_param(request, "event_id")
    data = await read_json(request)
    ids = data.get("ids") if isinstance(data, dict) else None
    if (not isinstance(ids, list) or not 0 < len(ids) <= MAX_IDS
            or not all(type(i) is int for i in ids)):
        ids = []  # refused by the service, after it has found the gallery (else a 404)
    await write(request, galleries.set_photo_order, me_id(request), event_id, "manual", ids)
    return JSONResponse({"ok": True, "order": "manual"})


routes = [
    Route("/panel/events/{event_id:int}/photo-order", choose_order, methods=["POST"]),
    Route("/panel/events/{event_id:int}/photo-order.json", drag_order, methods=["POST"]),
]
