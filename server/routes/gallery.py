"""The client's gallery at /g/<slug>: password, email gate, favorites, comments, downloads."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import activity, comments, devices, downloads, favorites, public, throttle, uploads
from ..errors import Forbidden, Invalid, NotFound
from ..models import Event
from ..public import Guest
from . import inputs
from .common import CSRF_COOKIE, int_param, read_form, read_json, render, services
from .visitor import (
    GUEST_COOKIE,
    PIN_COOKIE,
    UNLOCK_COOKIE,
    guest_of,
    pin_ok,
    remember,
    remember_device,
    unlocked,
)


async def _open(request: Request) -> Event:
    """The released, unexpired, unlocked gallery of this URL, or a clear refusal."""
    event = await services(request).gallery_cache.get(inputs.path_slug(request))
    if not unlocked(request, event):
        raise Forbidden("This gallery is password protected.")
    return event


async def _known_guest(request: Request, event: Event, *, verify: bool = True) -> Guest:
    """The visitor (device) the signed gate cookie names, checked against the database and
    with its verified state. `verify=False` when the service checks the device itself in
    its own query (the favorite toggle does)."""
    guest = guest_of(request, event)
    if guest is None:
        raise Forbidden("Tell us your name and email first.")
    if not verify:
        return guest
    async with services(request).db.reader() as session:
        guest = await public.known_guest(session, guest)
    if guest is None:
        raise Forbidden("Tell us your name and email first.")
    return guest


async def gallery_page(request: Request) -> Response:
    svc = services(request)
    # One reader: the gallery, the visitor's state and its seq from one snapshot.
    async with svc.db.reader() as session:
        event = await public.find_gallery(session, inputs.path_slug(request))
        if not unlocked(request, event):
            return render(request, "gallery/password.html", {"event": event, "error": None})
        guest = await public.known_guest(session, guest_of(request, event))
        contact = await public.guest_contact(session, guest) if guest else None
        guest = guest if contact else None
        name = await public.guest_name(session, guest, contact) if guest else ""
        due = guest is not None and await public.visit_due(session, guest)
        images = await uploads.list_images(session, event.photographer_id, event.id,
                                           ready_only=True)
        favs = await favorites.favorite_ids(session, guest) if guest else set()
        threads = await comments.commented_image_ids(session, guest) if guest else {}
        unread = await comments.unread_reply_image_ids(session, guest) if guest else set()
        last_seq = await activity.latest_seq(session, event.photographer_id) if guest else 0
        photographer = await public.photographer_of(session, event)
    if due:  # a write only on a first visit or a return after a break
        async with svc.db.transaction() as session:
            await public.touch_visit(session, guest)
    return render(request, "gallery/gallery.html", {
        "event": event, "images": images, "favorites": favs, "threads": threads,
        "unread_replies": unread, "last_seq": last_seq,
        "guest": contact, "photographer": photographer, "pin_ok": pin_ok(request, event),
        # An unverified browser sees only its own doings: say where the link went.
        "verify_sent_to": devices.mask_email(contact.email)
        if guest is not None and not guest.verified else None,
        "guest_name": name,
        "images_json": [{"id": i.id, "filename": i.filename} for i in images],
        "cover": next((i for i in images if i.id == event.cover_image_id),
                      images[0] if images else None),
    })


async def unlock(request: Request) -> Response:
    svc = services(request)
    form = await read_form(request)
    password = inputs.secret(form, "password", "Password", max_len=64 * 1024)
    async with svc.db.reader() as session:
        event = await public.find_gallery(session, inputs.path_slug(request))
    try:
        # Longer than any gallery password can be: simply not the right one.
        ok = await public.unlock(throttle.of(request), event, password[:200],
                                 throttle.client_address(request))
    except throttle.Limited as exc:
        response = render(request, "gallery/password.html",
                          {"event": event, "error": exc.message}, status_code=429)
        response.headers.update(exc.headers)
        return response
    if not ok:
        return render(request, "gallery/password.html",
                      {"event": event, "error": "That password is not right. Try again."},
                      status_code=400)
    response = RedirectResponse(f"/g/{event.slug}", status_code=303)
    remember(response, request, UNLOCK_COOKIE, str(event.id), event.password_hash[-16:])
    return response


@throttle.json_429
async def gate(request: Request) -> Response:
    event = await _open(request)
    data = await read_json(request)
    await throttle.of(request).gate(event.id, throttle.client_address(request))
    email = inputs.email(data)
    name = inputs.text(data, "name", "Name", max_len=120, required=True)
    svc = services(request)
    async with svc.db.reader() as session:
        current = await public.known_guest(session, guest_of(request, event))
    async with svc.db.transaction() as session:
        passed = await devices.pass_gate(
            session, event, email=email, name=name, current=current,
            user_agent=request.headers.get("user-agent", ""), base_url=svc.settings.base_url)
        # The photographer's current seq (the same for any address): the page's live socket
        # starts from here, so replies older than the gate are not pushed as new.
        seq = await activity.latest_seq(session, event.photographer_id)
    # The same answer whether the address was known or not (devices.pass_gate).
    response = JSONResponse({"ok": True, "verify_sent_to": passed.verify_sent_to,
                             "seq": seq})
    remember_device(response, request, passed.guest)
    return response


async def verify_page(request: Request) -> Response:
    """The emailed link. GET only shows a button (mail scanners fetch links); the POST
    spends the token."""
    event = await _open(request)
    token = request.path_params["token"]
    async with services(request).db.reader() as session:
        usable = await devices.link_is_usable(session, event, token)
    return render(request, "gallery/verify.html", {"event": event, "usable": usable},
                  status_code=200 if usable else 410)


async def verify(request: Request) -> Response:
    event = await _open(request)
    await read_form(request)
    svc = services(request)
    async with svc.db.reader() as session:
        current = await public.known_guest(session, guest_of(request, event))
    try:
        async with svc.db.transaction() as session:
            guest = await devices.use_link(session, event, request.path_params["token"],
                                           current=current,
                                           user_agent=request.headers.get("user-agent", ""))
    except devices.LinkUnusable:
        return render(request, "gallery/verify.html", {"event": event, "usable": False},
                      status_code=410)
    response = RedirectResponse(f"/g/{event.slug}", status_code=303)
    remember_device(response, request, guest)
    return response


def _image_id(request: Request) -> int:
    return int_param(request, "image_id")


async def favorite(request: Request) -> Response:
    event = await _open(request)
    data = await read_json(request)
    on = inputs.flag(data, "on", "Favorite", default=True)
    guest = await _known_guest(request, event, verify=False)
    await favorites.set_favorite(services(request).db, event, guest, _image_id(request), on)
    return JSONResponse({"ok": True, "on": on})


async def comment_thread(request: Request) -> Response:
    event = await _open(request)
    async with services(request).db.reader() as session:
        guest = await public.known_guest(session, guest_of(request, event))
    if request.method == "POST":
        data = await read_json(request)
        guest = await _known_guest(request, event)
        body = inputs.text(data, "body", "Comment", max_len=comments.MAX_COMMENT, required=True)
        async with services(request).db.transaction() as session:
            await comments.add_client_comment(session, event, guest, _image_id(request), body)
    async with services(request).db.reader() as session:
        # An image of another gallery is 404 here, whoever asks (known visitor or not).
        await public.gallery_image(session, event, _image_id(request))
        rows = await comments.thread(session, guest, _image_id(request)) if guest else []
    if any(c.author == "photographer" and not c.read_by_client for c in rows):
        async with services(request).db.transaction() as session:  # the client has seen them
            await comments.mark_read_by_client(session, guest, _image_id(request))
    return JSONResponse({"comments": [
        {"id": c.id, "author": c.author, "body": c.body, "at": c.created_at.isoformat()}
        for c in rows
    ]})


@throttle.json_429
async def pin(request: Request) -> Response:
    event = await _open(request)
    data = await read_json(request)
    given = inputs.secret(data, "pin", "PIN", max_len=64 * 1024)
    # Growing lockouts per gallery and per visitor (address + their cookie).
    limiter, visitor = throttle.of(request), throttle.visitor_key(request, GUEST_COOKIE,
                                                                   CSRF_COOKIE)
    await limiter.pin_attempt(event.id, visitor)
    if not downloads.check_pin(event, given):
        raise Invalid("That PIN is not right.")
    await limiter.pin_succeeded(event.id, visitor)
    response = JSONResponse({"ok": True})
    remember(response, request, PIN_COOKIE, str(event.id), event.download_pin)
    return response


def _refuse_head(request: Request) -> None:
    """A HEAD (download managers probe with one) must not count as a download."""
    if request.method == "HEAD":
        raise HTTPException(405, "Use GET to download.")


async def download_one(request: Request) -> Response:
    _refuse_head(request)
    svc = services(request)
    event = await _open(request)
    guest = await _known_guest(request, event)
    async with svc.db.transaction() as session:
        file = await downloads.single(session, svc.media, event, guest, _image_id(request),
                                      pin_ok=pin_ok(request, event))
    return FileResponse(file.path, filename=file.filename,
                        headers={"Cache-Control": "private, no-store"})


@throttle.json_429
async def download_zip(request: Request) -> Response:
    _refuse_head(request)
    svc = services(request)
    event = await _open(request)
    guest = await _known_guest(request, event)
    scope = inputs.choice(request.query_params, "scope", "Download scope",
                          ("all", "favorites"), default="all")
    # A slot per visitor and per gallery, held until the stream ends or the client leaves.
    lease = await throttle.of(request).bulk_download(
        event.id, f"{guest.photographer_id}:{guest.contact_id}")
    try:
        async with svc.db.transaction() as session:
            stream, filename = await downloads.bulk(session, svc.media, event, guest, scope,
                                                    pin_ok=pin_ok(request, event))
    except BaseException:
        await lease.release()
        raise
    return throttle.LeasedStreamingResponse(
        lease, stream, media_type="application/zip",
        headers={
            "Content-Length": str(len(stream)),
            "Content-Disposition": downloads.content_disposition(filename),
            "Cache-Control": "private, no-store",
        },
    )


async def gallery_media(request: Request) -> Response:
    svc = services(request)
    variant = inputs.path_choice(request, "variant", ("thumb", "preview"))
    event = await _open(request)
    async with svc.db.reader() as session:
        image = await public.gallery_image(session, event, _image_id(request))
    path = svc.media.variant_path(variant, image.storage_key)
    if not path.is_file():
        raise NotFound()
    return FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})


routes = [
    Route("/g/{slug}", gallery_page),
    Route("/g/{slug}/unlock", unlock, methods=["POST"]),
    Route("/g/{slug}/gate", gate, methods=["POST"]),
    Route("/g/{slug}/verify/{token}", verify_page),
    Route("/g/{slug}/verify/{token}", verify, methods=["POST"]),
    Route("/g/{slug}/pin", pin, methods=["POST"]),
    Route("/g/{slug}/images/{image_id:int}/favorite", favorite, methods=["POST"]),
    Route("/g/{slug}/images/{image_id:int}/comments", comment_thread, methods=["GET", "POST"]),
    Route("/g/{slug}/images/{image_id:int}/download", download_one),
    Route("/g/{slug}/download.zip", download_zip),
    Route("/g/{slug}/media/{variant}/{image_id:int}", gallery_media),
]
