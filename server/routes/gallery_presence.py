"""The gallery page's heartbeat for "who's viewing now" (named visitors only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import presence, public
from ..outbox import Outbox
from .common import check_csrf, services
from .visitor import guest_of, unlocked


async def heartbeat(request: Request) -> Response:
    check_csrf(request, request.headers.get("x-csrf-token"))
    svc = services(request)
    async with svc.db.reader() as session:
        event = await public.find_gallery(session, request.path_params["slug"])
        if not unlocked(request, event):
            return JSONResponse({"ok": False})  # can't be viewing a gallery still locked
        guest = await public.known_guest(session, guest_of(request, event))
    if guest is None:
        return JSONResponse({"ok": False})  # anonymous visitors are not tracked
    outbox = Outbox()
    recorded = await presence.beat(svc.redis, svc.settings.channel_namespace,
                                   event.photographer_id, event.id, guest.contact_id, outbox,
                                   verified=guest.verified)
    if not recorded:  # Redis unreachable: not an error, the page beats again later
        return JSONResponse({"ok": False, "presence": "unknown"})
    await svc.db.dispatcher.flush(outbox)
    return JSONResponse({"ok": True, "every": presence.PRESENCE_BEAT})


routes = [Route("/g/{slug}/presence", heartbeat, methods=["POST"])]
