"""The gallery page's Sets bar (server/image_sets.py): make, rename, order and delete a
gallery's sets and move photos between them, as JSON for web/static/js/image_sets.js."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import image_sets
from . import inputs
from .common import int_param, login_required, me_id, read_json, write


def _ids(data: dict, key: str, most: int) -> list[int]:
    """A list of row ids, or [] (which the service refuses once it has found the gallery,
    so someone else's gallery is a 404 whatever the body says)."""
    ids = data.get(key)
    if (not isinstance(ids, list) or len(ids) > most
            or not all(type(i) is int and 0 < i <= inputs.MAX_ID for i in ids)):
        return []
    return ids


def _name(data: dict) -> str:
    """The posted name; anything but text is "" (the service says a name is required, once
    it has found the gallery or set: someone else's is a 404 whatever the body says)."""
    name = data.get("name")
    return name if isinstance(name, str) else ""


def _set_json(row) -> dict:
    return {"id": row.id, "name": row.name}


@login_required
async def create(request: Request) -> Response:
    data = await read_json(request)
    row = await write(request, image_sets.create_set, me_id(request),
                      int_param(request, "event_id"), _name(data))
    return JSONResponse({"set": _set_json(row)})


@login_required
async def rename(request: Request) -> Response:
    data = await read_json(request)
    row = await write(request, image_sets.rename_set, me_id(request),
                      int_param(request, "set_id"), _name(data))
    return JSONResponse({"set": _set_json(row)})


@login_required
async def delete(request: Request) -> Response:
    await read_json(request)  # the CSRF header
    await write(request, image_sets.delete_set, me_id(request), int_param(request, "set_id"))
    return JSONResponse({"ok": True})


@login_required
async def reorder(request: Request) -> Response:
    data = await read_json(request)
    await write(request, image_sets.reorder_sets, me_id(request),
                int_param(request, "event_id"), _ids(data, "ids", image_sets.MAX_SETS))
    return JSONResponse({"ok": True})


@login_required
async def move(request: Request) -> Response:
    """`ids`: photos of this gallery; `set_id`: a set of it, or null for "no set"."""
    data = await read_json(request, max_bytes=512 * 1024)  # a whole gallery's ids
    target = data.get("set_id")
    if target is not None and (type(target) is not int or not 0 < target <= inputs.MAX_ID):
        target = 0  # refused by the service once it has found the gallery (else a 404)
    moved = await write(request, image_sets.move_images, me_id(request),
                        int_param(request, "event_id"),
                        _ids(data, "ids", image_sets.MAX_MOVE), target)
    return JSONResponse({"moved": moved, "set_id": target})


routes = [
    Route("/panel/events/{event_id:int}/sets.json", create, methods=["POST"]),
    Route("/panel/events/{event_id:int}/sets/order.json", reorder, methods=["POST"]),
    Route("/panel/events/{event_id:int}/sets/move.json", move, methods=["POST"]),
    Route("/panel/sets/{set_id:int}/rename.json", rename, methods=["POST"]),
    Route("/panel/sets/{set_id:int}/delete.json", delete, methods=["POST"]),
]
