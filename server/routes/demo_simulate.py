"""The demo account's "Simulate a client" button: start, ask about and stop a simulated
client acting live on the studio's own galleries (server/demo_clients.py runs it).

Only the demo account sees the button; any other photographer gets a 403 here.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import demo_clients
from ..errors import DomainError, Forbidden, Invalid
from .common import login_required, me_id, read_json, services


class Unavailable(DomainError):
    status_code = 503


def _demo_only(request: Request) -> None:
    if not demo_clients.offered(request.state.photographer):
        raise Forbidden("Simulated clients are only for the demo account.")


def _answer(ends_at: datetime | None, started: bool = False) -> Response:
    return JSONResponse({"running": ends_at is not None, "started": started,
                         "ends_at": ends_at.isoformat() if ends_at else None})


@login_required
async def simulation(request: Request) -> Response:
    """GET: is one running, until when. POST: start one (or say the one running)."""
    _demo_only(request)
    svc = services(request)
    try:
        if request.method == "GET":
            return _answer(await demo_clients.live_until(svc.redis, me_id(request)))
        await read_json(request)  # the CSRF check
        async with svc.db.reader() as session:
            slugs = await _slugs(session, me_id(request))
        if not slugs:
            raise Invalid("Release a gallery without a password first: the simulated "
                          "client needs one to visit.")
        ends_at, task = await demo_clients.start_live(
            svc.redis, me_id(request), svc.settings.base_url.rstrip("/"), slugs)
    except RedisError:
        raise Unavailable("The simulation needs Redis, which is not answering. "
                          "Try again in a moment.") from None
    if task is not None:
        _keep(svc.tasks, task)
    return _answer(ends_at, started=task is not None)


@login_required
async def stop(request: Request) -> Response:
    _demo_only(request)
    await read_json(request)
    try:
        await demo_clients.stop_live(services(request).redis, me_id(request))
    except RedisError:
        raise Unavailable("Redis is not answering. Try again in a moment.") from None
    return _answer(None)


async def _slugs(session: AsyncSession, photographer_id: int) -> list[str]:
    return list(await session.scalars(demo_clients.demo_slugs(photographer_id)))


def _keep(tasks: list[asyncio.Task], task: asyncio.Task) -> None:
    """The app's background tasks, so shutdown cancels the run; a run that ended on its
    own leaves the list (a cancelled one is shutdown's, which is iterating over it)."""
    tasks.append(task)
    task.add_done_callback(lambda done: None if done.cancelled() or done not in tasks
                           else tasks.remove(done))


routes = [
    Route("/panel/demo/simulate", simulation, methods=["GET", "POST"]),
    Route("/panel/demo/simulate/stop", stop, methods=["POST"]),
]
