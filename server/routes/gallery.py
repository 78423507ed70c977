"""The client's gallery at /g/<slug>: password, email gate, favorites, comments, downloads."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from zipstream import ZipStream

from .. import (
    activity,
    brand,
    comments,
    devices,
    downloads,
    favorites,
    galleries,
    gallery_grid,
    image_sets,
    public,
    throttle,
    watermark,
)
from ..errors import Forbidden, Invalid, NotFound
from ..models import Event, Image, utcnow
from ..public import Guest
from ..security_headers import framable_by_self
from ..workflows import banners
from . import inputs
from .common import (
    CSRF_COOKIE,
    int_param,
    login_required,
    me_id,
    read_form,
    read_json,
    render,
    services,
    write,
)
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


def _logged_for(request: Request, event: Event) -> None:
    """Name the gallery's photographer in this request's log line (server/request_log.py)."""
    request.state.photographer_id = event.photographer_id


async def _open(request: Request) -> Event:
    """The released, unexpired, unlocked gallery of this URL, or a clear refusal."""
    event = await services(request).gallery_cache.get(inputs.path_slug(request))
    _logged_for(request, event)
    if not unlocked(request, event):
        raise Forbidden("This gallery is password protected.")
    return event


def _claimed_guest(request: Request, event: Event) -> Guest:
    """The visitor (device) the signed gate cookie names, not yet checked against the
    database: refuses a browser without one before any unit of work opens."""
    guest = guest_of(request, event)
    if guest is None:
        raise Forbidden("Tell us your name and email first.")
    return guest


def _known_guest(session: Session, claimed: Guest) -> Guest:
    """The claimed visitor checked against the database, with its verified state; read in
    the request's own unit (reader or write), not in one of its own."""
    guest = public.find_guest(session, claimed)
    if guest is None:
        raise Forbidden("Tell us your name and email first.")
    return guest


def _banners(session: Session, event, contact, base_url: str) -> dict:
    """The banners and announcements showing now for this visitor, and the server's time
    (the page's countdowns run from it, not from the browser's clock)."""
    now = utcnow()
    return {"now": now.isoformat(),
            "banners": banners.active(session, event, contact, base_url, now)}


async def banners_json(request: Request) -> Response:
    async with services(request).db.reader() as session:
        event = await public.find_gallery(session, inputs.path_slug(request))
        if not unlocked(request, event):
            raise Forbidden("This gallery needs its password.")
        visitor = await public.find_visitor(session, guest_of(request, event))
        shown = await session.run_sync(_banners, event, visitor and visitor.contact,
                                       services(request).settings.base_url)
    return JSONResponse(shown, headers={"Cache-Control": "no-store"})


async def banner_event(request: Request) -> Response:
    """The page tells us its visitor saw, dismissed or clicked a banner (once each)."""
    event = await _open(request)
    await read_json(request)  # checks the CSRF header, like every page post
    claimed = _claimed_guest(request, event)
    step_id, kind = int_param(request, "step_id"), request.path_params["kind"]

    def unit(session: Session) -> bool:
        guest = _known_guest(session, claimed)
        return banners.record(session, event, guest.contact_id, step_id, kind)

    await write(request, unit)
    return JSONResponse({"ok": True})


async def gallery_page(request: Request) -> Response:
    svc = services(request)
    # One reader: the gallery, the visitor's state and its seq from one snapshot.
    async with svc.db.reader() as session:
        event, photographer = await public.gallery_and_owner(session,
                                                             inputs.path_slug(request))
        _logged_for(request, event)
        if not unlocked(request, event):
            return render(request, "gallery/password.html", {"event": event, "error": None})
        visitor = await public.find_visitor(session, guest_of(request, event))
        guest, contact = (visitor.guest, visitor.contact) if visitor else (None, None)
        grid = await gallery_grid.grid(session, event, request.query_params.get("set"))
        favs = await favorites.favorite_ids(session, guest) if guest else set()
        threads = await comments.threads_of(session, guest) if guest else comments.Threads()
        last_seq = photographer.last_event_seq if guest else 0
        shown = await session.run_sync(_banners, event, contact, svc.settings.base_url)
    # A page view is a pure read; it writes only on a first visit or a return after a
    # break. The page stays out of that write: a write unit would take SQLite's writer for
    # every view, and on PostgreSQL it is READ COMMITTED, not the page's one snapshot.
    # touch_visit re-reads the visit row in the write, so a racing view records nothing.
    if visitor and visitor.visit_due:
        await write(request, public.touch_visit, guest)
    return render(request, "gallery/gallery.html", {
        **gallery_grid.grid_context(grid, favs, threads.counts, threads.unread),
        "event": event, "last_seq": last_seq, "guest": contact, "photographer": photographer,
        "brand": brand.brand_of(photographer), "pin_ok": pin_ok(request, event),
        # An unverified browser sees only its own doings: say where the link went.
        "verify_sent_to": devices.mask_email(contact.email)
        if guest is not None and not guest.verified else None,
        "guest_name": visitor.name if visitor else "", "banners": shown,
    })


async def gallery_photos(request: Request) -> Response:
    """Every photo of the gallery for gallery.js (server/gallery_grid.py). Revalidated on
    each use: a photo moved, added or deleted shows on the next page view."""
    async with services(request).db.reader() as session:
        event = await public.find_gallery(session, inputs.path_slug(request))
        _logged_for(request, event)
        if not unlocked(request, event):
            raise Forbidden("This gallery is password protected.")
        text = await gallery_grid.photos_json(session, event)
    etag = f'W/"{hashlib.blake2b(text.encode(), digest_size=12).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(text, media_type="application/json", headers=headers)


async def gallery_marks(request: Request) -> Response:
    """This visitor's marks on the gallery's photos (favorites, comment counts, unread
    replies), as the page embeds them: the page asks once its visitor passes the gate, so
    a second device shows what the server lets it see of the client's without a reload."""
    event = await _open(request)
    claimed = _claimed_guest(request, event)
    async with services(request).db.reader() as session:
        guest = await session.run_sync(_known_guest, claimed)
        favs = await favorites.favorite_ids(session, guest)
        threads = await comments.threads_of(session, guest)
    return JSONResponse({"favorites": sorted(favs), "threads": threads.counts,
                         "unread": sorted(threads.unread)}, headers={"Cache-Control": "no-store"})


@login_required
async def banner_preview(request: Request) -> Response:
    """The real gallery page for its owner, as a visitor who has not given their name sees
    it, with no banners of its own: the banner editor frames it and posts the banner being
    edited into it (banners.js, preview mode). Nothing is recorded, no socket opens."""
    async with services(request).db.reader() as session:
        event = await galleries.get_event(session, me_id(request),
                                          int_param(request, "event_id"))
        grid = await gallery_grid.grid(session, event)
        photographer = await public.photographer_of(session, event)
    response = render(request, "gallery/gallery.html", {
        **gallery_grid.grid_context(grid, set(), {}, set()),
        "event": event, "last_seq": 0, "guest": None, "photographer": photographer,
        "brand": brand.brand_of(photographer),
        "pin_ok": False, "verify_sent_to": None, "guest_name": "", "preview": True,
        "banners": {"now": utcnow().isoformat(), "banners": []},
    })
    response.headers.update(framable_by_self(request.headers.get("host", "")))
    if event.password_hash:  # its photos load through the gallery's own media route
        remember(response, request, UNLOCK_COOKIE, str(event.id), event.password_hash[-16:])
    return response


async def unlock(request: Request) -> Response:
    svc = services(request)
    form = await read_form(request)
    password = inputs.secret(form, "password", "Password", max_len=64 * 1024)
    async with svc.db.reader() as session:
        event = await public.find_gallery(session, inputs.path_slug(request))
    _logged_for(request, event)
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
    claimed, user_agent = guest_of(request, event), request.headers.get("user-agent", "")
    base_url = services(request).settings.base_url

    def unit(session: Session) -> tuple[devices.GatePassed, Callable[[], int]]:
        current = public.find_guest(session, claimed)
        passed = devices.pass_gate(session, event, email=email, name=name, current=current,
                                   user_agent=user_agent, base_url=base_url)
        # The photographer's seq as the gate commits (the same for any address): the
        # page's live socket starts from there, so replies older than the gate are not
        # pushed as new.
        return passed, activity.seq_at_commit(session, event.photographer_id)

    passed, seq = await write(request, unit)
    # The same answer whether the address was known or not (devices.pass_gate).
    response = JSONResponse({"ok": True, "verify_sent_to": passed.verify_sent_to,
                             "seq": seq()})
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
    claimed, token = guest_of(request, event), request.path_params["token"]
    user_agent = request.headers.get("user-agent", "")

    def unit(session: Session) -> Guest:
        current = public.find_guest(session, claimed)
        return devices.use_link(session, event, token, current=current, user_agent=user_agent)

    try:
        guest = await write(request, unit)
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
    # The toggle's own query checks the device: no read here first.
    guest = _claimed_guest(request, event)
    await favorites.set_favorite(services(request).db, event, guest, _image_id(request), on)
    return JSONResponse({"ok": True, "on": on})


async def comment_thread(request: Request) -> Response:
    """GET: the visitor's thread on one image; POST: add to it. Either way the client has
    now seen the photographer's replies in it."""
    event = await _open(request)
    if request.method == "POST":
        return await _post_comment(request, event)
    # A pure read unless there are unread replies to mark: the lightbox asks on every
    # image it shows, so the common case never queues for SQLite's writer.
    claimed, image_id = guest_of(request, event), _image_id(request)
    async with services(request).db.reader() as session:
        guest, rows = await session.run_sync(_visible_thread, event, claimed, image_id)
    if comments.unread_replies(rows):
        await write(request, comments.mark_read_by_client, guest, image_id)
    return _thread_json(rows)


async def _post_comment(request: Request, event: Event) -> Response:
    data = await read_json(request)
    claimed = _claimed_guest(request, event)

    # One unit: check the visitor, add the comment, read the thread back, mark it read.
    def unit(session: Session) -> list:
        guest = _known_guest(session, claimed)
        body = inputs.text(data, "body", "Comment", max_len=comments.MAX_COMMENT,
                           required=True)
        return comments.add_and_read_thread(session, event, guest, _image_id(request), body)

    return _thread_json(await write(request, unit))


def _visible_thread(session: Session, event: Event, claimed: Guest | None,
                    image_id: int) -> tuple[Guest | None, list]:
    """The checked visitor and the part of their thread on the image they may see."""
    guest = public.find_guest(session, claimed)
    # An image of another gallery is 404 here, whoever asks (known visitor or not).
    public.gallery_image(session, event, image_id)
    return guest, comments.thread(session, guest, image_id) if guest else []


def _thread_json(rows: list) -> Response:
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


def _download_size(request: Request, event: Event) -> str:
    """The size the client picked (`?size=`), if this gallery offers it; none: its largest."""
    asked = inputs.choice(request.query_params, "size", "Download size", downloads.SIZES,
                          default="")
    return downloads.offered_size(event, asked)


def _refuse_head(request: Request) -> None:
    """A HEAD (download managers probe with one) must not count as a download."""
    if request.method == "HEAD":
        raise HTTPException(405, "Use GET to download.")


async def download_one(request: Request) -> Response:
    _refuse_head(request)
    svc = services(request)
    event = await _open(request)
    claimed, ok = _claimed_guest(request, event), pin_ok(request, event)
    size = _download_size(request, event)

    def allowed(session: Session) -> Image:
        _known_guest(session, claimed)
        return downloads.single_image(session, event, _image_id(request), pin_ok=ok)

    async with svc.db.reader() as session:
        image = await session.run_sync(allowed)
    await downloads.prepare(svc.media, [image], size)  # a missing high-res copy: a thread
    file = downloads.single_file(svc.media, event, image, size)  # disk: outside the write

    def record(session: Session) -> None:
        downloads.record_single(session, event, _known_guest(session, claimed), image.id, file,
                                size)

    await write(request, record)
    return FileResponse(file.path, filename=file.filename,
                        headers={"Cache-Control": "private, no-store"})


@throttle.json_429
async def download_zip(request: Request) -> Response:
    _refuse_head(request)
    event = await _open(request)
    claimed = _claimed_guest(request, event)
    scope = inputs.choice(request.query_params, "scope", "Download scope",
                          ("all", "favorites", "set"), default="all")
    label = ""
    if scope == "set":  # ?set=<id>: a set of this gallery (else a 404 before the lease)
        scope, label = await _set_scope(request, event)
    size = _download_size(request, event)
    # A slot per visitor and per gallery, held until the stream ends or the client leaves.
    # The lease (Redis) stays outside the write; the cookie's ids are the ones the
    # database check below confirms (or the lease is released on its refusal).
    lease = await throttle.of(request).bulk_download(
        event.id, f"{claimed.photographer_id}:{claimed.contact_id}")
    try:
        stream = await _zip(request, event, claimed, scope, size)
    except BaseException:
        await lease.release()
        raise
    return throttle.LeasedStreamingResponse(
        lease, stream, media_type="application/zip",
        headers={
            "Content-Length": str(len(stream)),
            "Content-Disposition": downloads.content_disposition(
                downloads.zip_name(event, scope, label)),
            "Cache-Control": "private, no-store",
        },
    )


async def _set_scope(request: Request, event: Event) -> tuple[str, str]:
    """A set's ZIP: its download scope ("set:<id>", image_sets.SCOPE_PREFIX) and name."""
    set_id = inputs.row_id(request.query_params, "set", "Pick a set to download.")
    async with services(request).db.reader() as session:
        chosen = await session.run_sync(image_sets.gallery_set, event, set_id)
    return f"{image_sets.SCOPE_PREFIX}{chosen.id}", chosen.name


async def _zip(request: Request, event: Event, claimed: Guest, scope: str,
               size: str) -> ZipStream:
    """The ZIP of `scope` at `size` for this visitor, its download logged. Its files are
    made if missing and read (each one's size) between the read that picks them and the
    write that logs them."""
    svc, ok = services(request), pin_ok(request, event)

    def pick(session: Session) -> list[Image]:
        guest = _known_guest(session, claimed)
        return downloads.bulk_images(session, event, guest, scope, pin_ok=ok)

    async with svc.db.reader() as session:
        images = await session.run_sync(pick)
    await downloads.prepare(svc.media, images, size)
    stream = downloads.build_zip(svc.media, event, images, size)

    def record(session: Session) -> None:
        downloads.record_bulk(session, event, _known_guest(session, claimed), scope,
                              len(images), len(stream), size)

    await write(request, record)
    return stream


async def gallery_media(request: Request) -> Response:
    svc = services(request)
    variant = inputs.path_choice(request, "variant", ("thumb", "preview"))
    event = await _open(request)
    async with svc.db.reader() as session:
        image = await session.run_sync(public.gallery_image, event, _image_id(request))
        studio = (await public.photographer_of(session, event) if event.watermark and (
            not event.watermark_text or event.watermark_kind == "logo") else None)
    path = svc.media.variant_path(variant, image.storage_key)
    if not path.is_file():
        raise NotFound()
    mark = watermark.mark_of(event, studio.business_name or studio.name if studio else "",
                             (studio.brand or {}).get("logo") if studio else None)
    if mark is not None:
        path = await watermark.marked_file(svc.media, variant, image.storage_key, mark)
    return FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})


routes = [
    Route("/g/{slug}", gallery_page),
    Route("/g/{slug}/banners.json", banners_json),
    Route("/g/{slug}/marks.json", gallery_marks),
    Route("/g/{slug}/photos.json", gallery_photos),
    Route("/g/{slug}/banners/{step_id:int}/{kind}", banner_event, methods=["POST"]),
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
    Route("/panel/events/{event_id:int}/banner-preview", banner_preview),
]
