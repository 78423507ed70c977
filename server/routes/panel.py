"""The photographer's control panel: galleries, images, uploads, gallery types."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import (
    activity,
    contacts,
    conversations,
    demo_clients,
    galleries,
    image_sets,
    uploads,
    watermark,
)
from ..activity_report import recent as recent_activity
from ..dashboard import summary as dashboard_summary
from ..errors import Invalid
from ..galleries import DOWNLOAD_SIZES, EventForm
from ..media import VARIANTS
from ..models import Image
from ..store import catalog
from ..workflows import clients
from . import inputs
from .common import int_param, login_required, me_id, read_form, render, services, write


async def _event_form(form) -> EventForm:
    """The editor's fields, typed, a new gallery password hashed (in a thread, before any
    transaction); the service checks what depends on the database."""
    type_id = inputs.row_id(form, "gallery_type_id", "Pick a gallery type from the list.",
                            required=False)
    password = inputs.secret(form, "password", "Gallery password", max_len=100)
    return EventForm(
        title=inputs.text(form, "title", "Title", max_len=200),
        gallery_type_id=str(type_id or ""),
        event_date=inputs.text(form, "event_date", "Event date", max_len=20),
        expires_on=inputs.text(form, "expires_on", "Expiry date", max_len=20),
        password_hash=await galleries.gallery_password_hash(password),
        client_password=password,
        clear_password=inputs.flag(form, "clear_password", "Remove password"),
        download_single=inputs.flag(form, "download_single", "Single downloads"),
        download_bulk=inputs.flag(form, "download_bulk", "Bulk downloads"),
        download_sizes=_download_sizes(form),
        download_pin=inputs.text(form, "download_pin", "Download PIN", max_len=20),
        # The store fieldset: a field that is not posted leaves its setting as it is.
        store_enabled=inputs.flag(form, "store_enabled", "Store", default=None),
        price_list_id=None if form.get("price_list_id") is None else str(inputs.row_id(
            form, "price_list_id", "Pick a price list from the list.", required=False) or ""),
        **_workflow_fields(form),
        **_photo_fields(form),
    )


def _download_sizes(form) -> list[str] | None:
    """The checked download sizes. The editor posts an empty `download_sizes` beside its
    checkboxes, so none checked is an empty list (refused), not "not posted" (None:
    unchanged). A single legacy `download_size` (original | web) still sets that one."""
    if "download_sizes" in form:
        return [v for v in form.getlist("download_sizes") if v != ""]  # the service checks
    if form.get("download_size") is None:
        return None
    return [inputs.choice(form, "download_size", "Download size", ("original", "web"),
                          default="original")]


def _posted(form) -> dict:
    """The form as posted, for the editor shown again: every checked size, not the last."""
    posted = dict(form)
    if "download_sizes" in form:
        posted["download_sizes"] = form.getlist("download_sizes")
    return posted


def _photo_fields(form) -> dict:
    """The Photos fieldset (order, watermark); not posted: unchanged."""
    if form.get("watermark") is None and form.get("photo_order") is None:
        return {}
    return {
        "photo_order": inputs.choice(form, "photo_order", "Photo order",
                                     galleries.PHOTO_ORDERS, default="taken"),
        "watermark": inputs.flag(form, "watermark", "Watermark"),
        "watermark_text": inputs.text(form, "watermark_text", "Watermark text", max_len=200),
        "watermark_position": inputs.choice(form, "watermark_position", "Watermark position",
                                            watermark.POSITIONS, default="center"),
        "watermark_opacity": inputs.number(form, "watermark_opacity", "Watermark opacity",
                                           default=35, low=10, high=90),
        "watermark_kind": inputs.choice(form, "watermark_kind", "Watermark", watermark.KINDS,
                                        default="text"),
    }


def _workflow_fields(form) -> dict:
    """The Workflow fieldset: follow the type's, none, or another; not posted: unchanged."""
    mode = inputs.choice(form, "workflow_mode", "Workflow", ("type", "off", "pick"),
                         default="")
    if not mode:
        return {}
    picked = (inputs.row_id(form, "workflow_id", "Pick a workflow from the list.")
              if mode == "pick" else None)
    return {"workflows_off": mode == "off", "workflow_id": str(picked or "")}


@login_required
async def dashboard(request: Request) -> Response:
    async with services(request).db.reader() as session:
        events = await galleries.list_events(session, me_id(request))
        summary = await dashboard_summary(session, me_id(request))
        feed = await recent_activity(session, me_id(request), limit=15)
        last_seq = await activity.latest_seq(session, me_id(request))  # the same snapshot
    return render(request, "panel/dashboard.html", {
        "events": events, "summary": summary, "feed": feed, "last_seq": last_seq,
        "demo_simulate": demo_clients.offered(request.state.photographer),
    })


async def _editor(request: Request, event_id: int | None, error: str | None, form: dict,
                  status: int = 200):
    """The gallery editor (`event_id` None: a new gallery), read from one snapshot."""
    async with services(request).db.reader() as session:
        event = (await session.run_sync(galleries.find_event, me_id(request), event_id)
                 if event_id is not None else None)
        types = await galleries.gallery_types(session, me_id(request))
        price_lists = await catalog.price_list_choices(session, me_id(request))
        workflows = await session.run_sync(clients.workflow_choices, me_id(request))
        last_seq = await activity.latest_seq(session, me_id(request))
    list_names = dict(price_lists)
    return render(
        request, "panel/event_form.html",
        {"event": event, "types": types, "error": error, "form": form, "sizes": DOWNLOAD_SIZES,
         "price_lists": price_lists, "last_seq": last_seq,
         "type_lists": {str(t.id): list_names.get(t.price_list_id) for t in types},
         "workflows": workflows, "type_workflows": clients.type_workflows(workflows),
         "photo_orders": galleries.PHOTO_ORDERS, "mark_positions": watermark.POSITIONS},
        status_code=status,
    )


@login_required
async def event_new(request: Request) -> Response:
    if request.method == "GET":
        return await _editor(request, None, None, {"download_single": True,
                                                    "download_bulk": True})
    form = await read_form(request)
    try:
        fields = await _event_form(form)
        event = await write(request, galleries.new_event, me_id(request), fields)
    except Invalid as exc:
        # Never an empty dict: the template reads an empty one as "no post, use the event".
        return await _editor(request, None, exc.message, {"title": "", **_posted(form)},
                             status=400)
    return RedirectResponse(f"/panel/events/{event.id}", status_code=303)


@login_required
async def event_edit(request: Request) -> Response:
    event_id = int_param(request, "event_id")
    if request.method == "GET":
        return await _editor(request, event_id, None, {})
    form = await read_form(request)
    try:
        fields = await _event_form(form)
        # No reader first: update_event finds the gallery (or 404s) in the write itself.
        await write(request, galleries.update_event, me_id(request), event_id, fields)
    except Invalid as exc:
        return await _editor(request, event_id, exc.message, _posted(form), status=400)
    return RedirectResponse(f"/panel/events/{event_id}", status_code=303)


@login_required
async def event_detail(request: Request) -> Response:
    return await detail_page(request, int_param(request, "event_id"))


async def detail_page(request: Request, event_id: int, clients_error: str | None = None,
                      clients_form: dict | None = None, status: int = 200) -> Response:
    """The gallery page; a bad "add a client" form comes back on it (workflows_gallery)."""
    async with services(request).db.reader() as session:
        event = await session.run_sync(galleries.find_event, me_id(request), event_id)
        images = await uploads.list_images(session, me_id(request), event_id)
        types = {t.id: t.name for t in await galleries.gallery_types(session, me_id(request))}
        comment_counts = await conversations.counts_by_image(session, me_id(request), event_id)
        gallery_clients = await session.run_sync(clients.list_clients, me_id(request), event_id)
        sets = await image_sets.panel_sets(session, me_id(request), event_id)
        last_seq = await activity.latest_seq(session, me_id(request))
    return render(request, "panel/event_detail.html", {
        "sets": sets, "max_sets": image_sets.MAX_SETS,
        "event": event, "images": images, "type_name": types.get(event.gallery_type_id, ""),
        "comment_counts": comment_counts, "last_seq": last_seq,
        "share_url": f"{services(request).settings.base_url}/g/{event.slug}",
        "clients": gallery_clients, "clients_error": clients_error,
        "clients_form": clients_form or {}, "max_clients": clients.MAX_CLIENTS,
        "photo_orders": galleries.PHOTO_ORDERS,
    }, status_code=status)


@login_required
async def event_delete(request: Request) -> Response:
    await read_form(request)
    keys = await write(request, galleries.delete_event, me_id(request),
                       int_param(request, "event_id"))
    for key in keys:  # once the delete has committed
        services(request).media.remove(key)
    return RedirectResponse("/panel", status_code=303)


@login_required
async def event_status(request: Request) -> Response:
    form = await read_form(request)
    event_id = int_param(request, "event_id")
    status = inputs.choice(form, "status", "Status", ("draft", "released"), default="")
    await write(request, galleries.change_status, me_id(request), event_id, status)
    return RedirectResponse(f"/panel/events/{event_id}", status_code=303)


@login_required
async def event_cover(request: Request) -> Response:
    form = await read_form(request)
    event_id = int_param(request, "event_id")
    image_id = inputs.row_id(form, "image_id", "Pick an image for the cover.")
    await write(request, galleries.set_cover, me_id(request), event_id, image_id)
    return RedirectResponse(f"/panel/events/{event_id}", status_code=303)


async def _stage_upload(request: Request, upload: UploadFile) -> uploads.Staged | dict:
    """One file checked and stored on disk (slow work, outside any transaction): its
    Staged record, or the error line the batch reports for it."""
    svc = services(request)
    name = upload.filename or ""
    if (upload.size or 0) > svc.settings.max_upload_bytes:
        limit = svc.settings.max_upload_bytes // (1024 * 1024)
        return {"filename": name, "ok": False, "error": f"The file is larger than {limit} MB."}
    try:
        return await uploads.stage(svc.media, filename=name, data=await upload.read(),
                                   max_pixels=svc.settings.max_image_pixels)
    except Invalid as exc:
        return {"filename": name, "ok": False, "error": exc.message}


async def _record_uploads(request: Request, event_id: int,
                          staged: list[uploads.Staged | dict]) -> dict[int, Image]:
    """The batch's good files into the gallery in one write unit; their files are removed
    if it fails. Returns position in the batch -> image row."""
    good = {i: s for i, s in enumerate(staged) if isinstance(s, uploads.Staged)}
    if not good:
        return {}
    try:
        images = await write(request, uploads.add_images, me_id(request), event_id,
                             list(good.values()))
    except BaseException:
        for s in good.values():
            services(request).media.remove(s.storage_key)
        raise
    return dict(zip(good, images, strict=True))


@login_required
async def upload_images(request: Request) -> Response:
    event_id = int_param(request, "event_id")
    # 404 before reading the files (add_images checks again, in the write).
    async with services(request).db.reader() as session:
        await session.run_sync(galleries.find_event, me_id(request), event_id)
    form = await read_form(request, files=("files",))
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not files:
        raise Invalid("Choose at least one image to upload.")
    # A bad file is reported and the rest of the batch goes in, in one write unit.
    staged = [await _stage_upload(request, f) for f in files]
    await form.close()
    images = await _record_uploads(request, event_id, staged)
    results = [
        {"filename": f.filename or "", "ok": True, "image_id": images[i].id,
         "state": images[i].state} if i in images else staged[i]
        for i, f in enumerate(files)
    ]
    status = 200 if any(r["ok"] for r in results) else 400
    return JSONResponse({"results": results}, status_code=status)


@login_required
async def images_json(request: Request) -> Response:
    event_id = int_param(request, "event_id")
    async with services(request).db.reader() as session:
        await session.run_sync(galleries.find_event, me_id(request), event_id)
        images = await uploads.list_images(session, me_id(request), event_id)
    return JSONResponse({"images": [
        {"id": i.id, "filename": i.filename, "state": i.state, "error": i.error,
         "thumb": f"/panel/media/thumb/{i.id}", "width": i.width, "height": i.height}
        for i in images
    ]})


@login_required
async def image_delete(request: Request) -> Response:
    await read_form(request)
    await write(request, uploads.delete_image, services(request).media, me_id(request),
                int_param(request, "image_id"))
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"ok": True})
    return RedirectResponse(request.headers.get("referer") or "/panel", status_code=303)


@login_required
async def panel_media(request: Request) -> Response:
    """The owner's view of any of their images, in any variant (tenant-scoped lookup)."""
    variant = inputs.path_choice(request, "variant", VARIANTS)
    image_id = int_param(request, "image_id")
    svc = services(request)
    async with svc.db.reader() as session:
        image = await session.run_sync(uploads.get_image, me_id(request), image_id)
    path = svc.media.variant_path(variant, image.storage_key)
    if not path.is_file():
        return Response("Still processing", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})


@login_required
async def gallery_types_page(request: Request) -> Response:
    error = None
    if request.method == "POST":
        form = await read_form(request)
        try:
            if form.get("delete"):
                # Someone else's (or no such) type is a 404 like everywhere else.
                type_id = inputs.row_id(form, "delete", "Pick a gallery type to delete.")
                await write(request, galleries.delete_gallery_type, me_id(request), type_id)
            elif form.get("assign"):
                # The type's default price list (empty: none); another's type or list: 404.
                type_id = inputs.row_id(form, "assign", "Pick a gallery type.")
                list_id = inputs.row_id(form, "price_list_id", "Pick a price list from the list.",
                                        required=False)
                await write(request, catalog.set_gallery_type_price_list, me_id(request),
                            type_id, list_id)
            else:
                name = inputs.text(form, "name", "Gallery type", max_len=60, required=True)
                await write(request, galleries.add_gallery_type, me_id(request), name)
        except Invalid as exc:
            error = exc.message
        except IntegrityError:  # the same name added at the same moment by another request
            error = "You already have a gallery type called that."
        else:
            return RedirectResponse("/panel/settings/gallery-types", status_code=303)
    async with services(request).db.reader() as session:
        types = await galleries.gallery_types(session, me_id(request))
        price_lists = await catalog.price_list_choices(session, me_id(request))
        last_seq = await activity.latest_seq(session, me_id(request))
    return render(request, "panel/gallery_types.html",
                  {"types": types, "price_lists": price_lists, "error": error,
                   "last_seq": last_seq},
                  status_code=400 if error else 200)


@login_required
async def contacts_page(request: Request) -> Response:
    async with services(request).db.reader() as session:
        rows = await contacts.list_contacts(session, me_id(request))
        last_seq = await activity.latest_seq(session, me_id(request))
    return render(request, "panel/contacts.html", {"contacts": rows, "last_seq": last_seq})


routes = [
    Route("/panel", dashboard),
    Route("/panel/events/new", event_new, methods=["GET", "POST"]),
    Route("/panel/events/{event_id:int}", event_detail),
    Route("/panel/events/{event_id:int}/edit", event_edit, methods=["GET", "POST"]),
    Route("/panel/events/{event_id:int}/delete", event_delete, methods=["POST"]),
    Route("/panel/events/{event_id:int}/status", event_status, methods=["POST"]),
    Route("/panel/events/{event_id:int}/cover", event_cover, methods=["POST"]),
    Route("/panel/events/{event_id:int}/images", upload_images, methods=["POST"]),
    Route("/panel/events/{event_id:int}/images.json", images_json),
    Route("/panel/images/{image_id:int}/delete", image_delete, methods=["POST"]),
    Route("/panel/media/{variant}/{image_id:int}", panel_media),
    Route("/panel/settings/gallery-types", gallery_types_page, methods=["GET", "POST"]),
    Route("/panel/contacts", contacts_page),
]
