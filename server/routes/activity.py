"""Client Galleries → Activity: the report, its detail tabs, exports, print, send files,
the live feed's data, contact records and the mail log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from .. import (
    activity,
    activity_report,
    contacts,
    dashboard,
    delivery,
    favorites_export,
    galleries,
    image_sets,
    mail,
    presence,
)
from ..downloads import SIZE_NAMES, content_disposition
from ..errors import NotFound
from ..favorites_export import FavoriteLine
from ..models import utcnow
from ..store import carts, orders
from . import inputs
from .common import int_param, login_required, me_id, read_form, render, services, write

TABS = ("favorites", "comments", "downloads", "cart")


async def _report_context(request: Request) -> dict:
    q = request.query_params
    event_id = inputs.row_id(q, "event", "Pick a gallery from the list.", required=False)
    search = inputs.text(q, "q", "Search", max_len=100)
    # View preferences: an unknown column, direction or page shows the default view.
    sort = inputs.choice(q, "sort", "Sort", activity_report.SORTS, default="last", lenient=True)
    direction = inputs.choice(q, "dir", "Direction", ("asc", "desc"), default="desc",
                              lenient=True)
    page_no = inputs.number(q, "page", "Page", default=1, low=1, high=10**6, lenient=True)
    async with services(request).db.reader() as session:
        page = await activity_report.report(
            session, me_id(request), event_id=event_id, q=search, sort=sort,
            direction=direction, page=page_no,
        )
        events = await galleries.list_events(session, me_id(request))
        feed = await activity_report.recent(session, me_id(request))
        last_seq = await activity.latest_seq(session, me_id(request))  # the same snapshot
        terms = await session.run_sync(carts.terms_of, me_id(request))
    return {"report": page, "events": [r["event"] for r in events], "feed": feed,
            "filters": {"event": event_id, "q": search}, "last_seq": last_seq,
            "currency": terms.currency, "now": utcnow()}  # dates this year drop the year


@login_required
async def activity_page(request: Request) -> Response:
    context = await _report_context(request)
    if request.headers.get("accept", "").startswith("application/json"):
        report = context["report"]
        return JSONResponse({"rows": [r.as_json() for r in report.rows], "total": report.total,
                             "page": report.page, "pages": report.pages})
    return render(request, "panel/activity.html", context)


@login_required
async def report_row(request: Request) -> Response:
    async with services(request).db.reader() as session:
        row = await activity_report.report_row(session, me_id(request),
                                               int_param(request, "event_id"),
                                               int_param(request, "contact_id"))
    if row is None:
        raise NotFound()
    return JSONResponse(row.as_json())


@login_required
async def detail_page(request: Request) -> Response:
    tab = inputs.choice(request.query_params, "tab", "Tab", TABS, default="favorites",
                        lenient=True)
    sent = inputs.flag(request.query_params, "sent", "Sent")
    pid, event_id, contact_id = (me_id(request), int_param(request, "event_id"),
                                 int_param(request, "contact_id"))
    async with services(request).db.reader() as session:
        found = await activity_report.detail(session, pid, event_id, contact_id)
        items = {
            "favorites": activity_report.favorites_of,
            "comments": activity_report.comments_of,
            "downloads": activity_report.downloads_of,
        }.get(tab)
        rows = await items(session, pid, event_id, contact_id) if items else []
        cart = await _cart_tab(session, found, pid) if tab == "cart" else None
        by_set = (await image_sets.favorites_by_set(session, pid, event_id, contact_id)
                  if tab == "favorites" and rows else [])
        by_set_names = await image_sets.set_names(session, pid, event_id) if by_set else {}
        currency = (await session.run_sync(carts.terms_of, pid)).currency
        sent_files = (await delivery.last_sent(session, pid, event_id, contact_id)
                      if sent else None)
        last_seq = await activity.latest_seq(session, pid)
    exports = {}
    if tab == "favorites":
        lines = _lines(rows, by_set_names)
        exports = {fmt: favorites_export.render(fmt, lines) for fmt in favorites_export.FORMATS}
    return render(request, "panel/activity_detail.html", {
        "d": found, "tab": tab, "rows": rows, "exports": exports,
        "formats": favorites_export.FORMATS, "sent": sent, "last_seq": last_seq,
        "sent_files": sent_files, "mail_off": not services(request).settings.smtp_url,
        "cart": cart, "currency": currency, "order_labels": orders.STATE_LABELS,
        "by_set": by_set, "size_names": SIZE_NAMES,
    })


async def _cart_tab(session, found: activity_report.Detail, pid: int) -> dict:
    """SAVED CART: the open cart's lines priced from the current price list, its value,
    and the contact's orders in this gallery."""
    lines = await session.run_sync(orders.open_cart_lines, found.event, found.contact.id)
    return {"lines": lines, "value": sum(p.line.total for p in lines),
            "count": sum(p.row.quantity for p in lines),
            "orders": await activity_report.orders_of(session, pid, found.event.id,
                                                      found.contact.id)}


def _lines(favorite_rows, set_names: dict[int, str] | None = None) -> list[FavoriteLine]:
    names = set_names or {}
    return [FavoriteLine(image.filename, fav.note, fav.created_at,
                         names.get(image.set_id, "")) for fav, image in favorite_rows]


@login_required
async def export(request: Request) -> Response:
    fmt = inputs.choice(request.query_params, "format", "Export format",
                        favorites_export.FORMATS, default="lightroom")
    pid, event_id, contact_id = (me_id(request), int_param(request, "event_id"),
                                 int_param(request, "contact_id"))
    async with services(request).db.reader() as session:
        found = await activity_report.detail(session, pid, event_id, contact_id)
        rows = await activity_report.favorites_of(session, pid, event_id, contact_id)
        names = await image_sets.set_names(session, pid, event_id)
    body = favorites_export.render(fmt, _lines(rows, names))
    name = f"{found.contact.email.split('@')[0]}-favorites-{fmt}.{favorites_export.extension(fmt)}"
    media_type = "text/csv" if fmt == "csv" else "text/plain"
    return PlainTextResponse(body, media_type=f"{media_type}; charset=utf-8", headers={
        "Content-Disposition": content_disposition(name)})  # emails may be non-ASCII


@login_required
async def print_page(request: Request) -> Response:
    pid, event_id, contact_id = (me_id(request), int_param(request, "event_id"),
                                 int_param(request, "contact_id"))
    async with services(request).db.reader() as session:
        found = await activity_report.detail(session, pid, event_id, contact_id)
        rows = await activity_report.favorites_of(session, pid, event_id, contact_id)
    return render(request, "panel/favorites_print.html", {"d": found, "rows": rows})


@login_required
async def send_files(request: Request) -> Response:
    await read_form(request)
    svc = services(request)
    event_id, contact_id = int_param(request, "event_id"), int_param(request, "contact_id")
    # Looked up and rendered before the write: the write only queues the email.
    async with svc.db.reader() as session:
        email = await delivery.favorites_email(
            session, secret=svc.settings.secret_key, base_url=svc.settings.base_url,
            photographer_id=me_id(request), event_id=event_id, contact_id=contact_id,
        )
    await write(request, delivery.send_favorites, email)
    return RedirectResponse(f"/panel/activity/{event_id}/{contact_id}?tab=favorites&sent=1",
                            status_code=303)


async def favorites_link(request: Request) -> Response:
    """The emailed link: no login, the signature is the authorisation."""
    svc = services(request)
    try:
        async with svc.db.reader() as session:
            link = await session.run_sync(delivery.open_link, svc.settings.secret_key,
                                          inputs.path_token(request))
    except delivery.LinkClosed as exc:
        return render(request, "link_closed.html", {"message": exc.message,
                                                    "studio": exc.studio},
                      status_code=exc.status_code)
    # The ZIP reads the files' sizes: disk work, between the read and the write.
    stream, filename = await delivery.link_zip(svc.media, link)
    await write(request, delivery.record_download, link, len(stream))
    return StreamingResponse(stream, media_type="application/zip", headers={
        "Content-Length": str(len(stream)), "Content-Disposition": content_disposition(filename),
        "Cache-Control": "private, no-store"})


@login_required
async def feed_json(request: Request) -> Response:
    async with services(request).db.reader() as session:
        return JSONResponse({"feed": await activity_report.recent(session, me_id(request))})


@login_required
async def viewing_now(request: Request) -> Response:
    svc = services(request)
    async with svc.db.reader() as session:
        return JSONResponse(await presence.viewing_now_json(
            svc.redis, svc.settings.channel_namespace, session, me_id(request)))


@login_required
async def contact_record(request: Request) -> Response:
    pid, contact_id = me_id(request), int_param(request, "contact_id")
    async with services(request).db.reader() as session:
        contact = await contacts.get_contact(session, pid, contact_id)
        rows = await activity_report.contact_rows(session, pid, contact_id)
        timeline = await activity_report.timeline(session, pid, contact_id)
        last_seq = await activity.latest_seq(session, pid)
    return render(request, "panel/contact.html", {"contact": contact, "rows": rows,
                                                  "timeline": timeline, "last_seq": last_seq})


@login_required
async def mail_log(request: Request) -> Response:
    async with services(request).db.reader() as session:
        emails = await mail.mail_log(session, me_id(request))
        last_seq = await activity.latest_seq(session, me_id(request))
    return render(request, "panel/mail_log.html", {"emails": emails, "last_seq": last_seq,
                                                   "kinds": mail.KIND_LABELS})


@login_required
async def dashboard_card(request: Request) -> Response:
    async with services(request).db.reader() as session:
        return JSONResponse(_summary_json(await dashboard.summary(session, me_id(request))))


def _summary_json(summary: dict) -> dict:
    return {**summary, "expiring": [
        {"id": e.id, "title": e.title, "expires_at": e.expires_at.isoformat()}
        for e in summary["expiring"]]}


routes = [
    Route("/panel/activity", activity_page),
    Route("/panel/activity/feed.json", feed_json),
    Route("/panel/activity/viewing.json", viewing_now),
    Route("/panel/activity/{event_id:int}/{contact_id:int}", detail_page),
    Route("/panel/activity/{event_id:int}/{contact_id:int}/row.json", report_row),
    Route("/panel/activity/{event_id:int}/{contact_id:int}/export", export),
    Route("/panel/activity/{event_id:int}/{contact_id:int}/print", print_page),
    Route("/panel/activity/{event_id:int}/{contact_id:int}/send-files", send_files,
          methods=["POST"]),
    Route("/panel/contacts/{contact_id:int}", contact_record),
    Route("/panel/mail", mail_log),
    Route("/panel/summary.json", dashboard_card),
    Route("/d/{token}", favorites_link),
]
