"""The client's store inside a gallery: the catalog, the cart (saved at every change),
checkout and the order page. JSON in, the whole cart view out, so the page re-renders
from what the server saved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import downloads
from ..models import Event, Image
from ..public import Guest, find_guest
from ..store import carts, orders
from ..store.orders import STATE_LABELS
from . import inputs
from .common import int_param, read_json, render, services, write
from .gallery import _claimed_guest, _known_guest, _open
from .visitor import guest_of


async def store_json(request: Request) -> Response:
    """What the store offers here and this browser's cart, from one snapshot."""
    event = await _open(request)
    claimed = guest_of(request, event)

    def read(session: Session) -> dict[str, Any]:
        offer = carts.offer(session, event)
        guest = find_guest(session, claimed)
        return {"store": offer,
                "cart": carts.view(session, event, guest) if guest and offer else None}

    async with services(request).db.reader() as session:
        return JSONResponse(await session.run_sync(read))


async def _change(request: Request, change: Callable[..., dict], *args: Any) -> Response:
    """One cart change as the request's one unit of work; answers with the saved cart."""
    event = await _open(request)
    data = await read_json(request)
    claimed = _claimed_guest(request, event)

    def unit(session: Session) -> dict:
        guest = _known_guest(session, claimed)
        return change(session, event, guest, *args, data)

    return JSONResponse(await write(request, unit))


async def add_item(request: Request) -> Response:
    return await _change(request, lambda s, e, g, data: carts.add(s, e, g, data))


async def line(request: Request) -> Response:
    line_id = int_param(request, "line_id")
    if request.url.path.endswith("/delete"):
        return await _change(request, lambda s, e, g, data: carts.remove(s, e, g, line_id))
    return await _change(request, lambda s, e, g, data: carts.set_quantity(
        s, e, g, line_id, data.get("quantity")))


async def coupon(request: Request) -> Response:
    return await _change(request, lambda s, e, g, data: carts.apply_coupon(
        s, e, g, data.get("code", "")))


async def stage(request: Request) -> Response:
    return await _change(request, lambda s, e, g, data: carts.set_stage(
        s, e, g, data.get("stage")))


async def details(request: Request) -> Response:
    return await _change(request, lambda s, e, g, data: carts.save_details(s, e, g, data))


async def checkout(request: Request) -> Response:
    """Place the order for the cart version the client reviewed; where to go next."""
    event = await _open(request)
    data = await read_json(request)
    claimed = _claimed_guest(request, event)
    settings, payment = services(request).settings, services(request).payments

    def unit(session: Session) -> tuple[str, str | None]:
        guest: Guest = _known_guest(session, claimed)
        order = orders.place(session, event, guest, data.get("version"), payment,
                             settings.base_url)
        page = orders.order_url(settings.base_url, event, order)
        return page, payment.start(order, page)

    page, pay_at = await write(request, unit)
    return JSONResponse({"ok": True, "order_url": pay_at or page})


async def _order_gallery(request: Request) -> Event:
    """The gallery of an order link: the emailed token is the key, so neither the gallery's
    password nor its expiry closes it (what was bought stays reachable)."""
    event = await services(request).gallery_cache.get(inputs.path_slug(request),
                                                      expired_ok=True)
    request.state.photographer_id = event.photographer_id  # the request log names it
    return event


async def order_page(request: Request) -> Response:
    """The client's order: lines, totals, state, and what they can download once paid."""
    event = await _order_gallery(request)

    def read(session: Session) -> dict[str, Any]:
        order = orders.by_token(session, event, request.path_params["token"])
        lines = orders.lines_of(session, order)
        return {"order": order, "lines": lines, "event": event, "labels": STATE_LABELS,
                "grants": orders.granted_images(session, order)}

    async with services(request).db.reader() as session:
        context = await session.run_sync(read)
    return render(request, "gallery/order.html", context)


def _ordered_files(request: Request, event: Event, image_id: int | None):
    """The order (by its emailed token) and its files to serve, checked in one read."""
    def read(session: Session) -> tuple[Any, list[tuple[Image, str]]]:
        order = orders.by_token(session, event, request.path_params["token"])
        return order, downloads.purchased(session, event, order, image_id)
    return read


async def order_file(request: Request) -> Response:
    """One purchased file; the emailed order link is the key (like the favorites link)."""
    svc, event = services(request), await _order_gallery(request)
    async with svc.db.reader() as session:
        order, [(image, size)] = await session.run_sync(
            _ordered_files(request, event, int_param(request, "image_id")))
    file = downloads.single_file(svc.media, event, image, size)
    guest = Guest(order.photographer_id, event.id, order.contact_id)
    await write(request, downloads.record_single, event, guest, image.id, file, size)
    return FileResponse(file.path, filename=file.filename,
                        headers={"Cache-Control": "private, no-store"})


async def order_zip(request: Request) -> Response:
    """Every purchased file of the order as one ZIP."""
    svc, event = services(request), await _order_gallery(request)
    async with svc.db.reader() as session:
        order, files = await session.run_sync(_ordered_files(request, event, None))
    images, sizes = [image for image, _ in files], {image.id: size for image, size in files}
    stream = downloads.build_zip(svc.media, event, images, sizes)
    guest = Guest(order.photographer_id, event.id, order.contact_id)
    await write(request, downloads.record_bulk, event, guest, "purchased", len(images),
                len(stream), "original" if "original" in sizes.values() else "web")
    return StreamingResponse(stream, media_type="application/zip", headers={
        "Content-Length": str(len(stream)),
        "Content-Disposition": downloads.content_disposition(
            downloads.zip_name(event, "purchased")),
        "Cache-Control": "private, no-store"})


routes = [
    Route("/g/{slug}/store.json", store_json),
    Route("/g/{slug}/cart/items", add_item, methods=["POST"]),
    Route("/g/{slug}/cart/items/{line_id:int}", line, methods=["POST"]),
    Route("/g/{slug}/cart/items/{line_id:int}/delete", line, methods=["POST"]),
    Route("/g/{slug}/cart/coupon", coupon, methods=["POST"]),
    Route("/g/{slug}/cart/stage", stage, methods=["POST"]),
    Route("/g/{slug}/cart/details", details, methods=["POST"]),
    Route("/g/{slug}/checkout", checkout, methods=["POST"]),
    Route("/g/{slug}/orders/{token}", order_page),
    Route("/g/{slug}/orders/{token}/files/{image_id:int}", order_file),
    Route("/g/{slug}/orders/{token}/files.zip", order_zip),
]
