"""Store → Orders: the photographer's list of orders, one order (lines, customer, state
buttons, internal note), its packing slip, and the CSV export of all orders.

Every read and write goes through server/store/orders.py, filtered on the logged-in
photographer: another studio's order is a 404 like an unknown one.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import activity
from ..downloads import content_disposition
from ..errors import Invalid
from ..models import Contact, Event, Photographer
from ..store import orders
from ..store.models import ORDER_STATES, Order, OrderLine
from ..store.orders import STATE_LABELS, TRANSITIONS
from . import inputs
from .common import int_param, login_required, me_id, read_form, render, services, write

PER_PAGE = 50
#: The CSV export reads this many orders at most (newest first).
EXPORT_LIMIT = 10_000
#: What the detail page's buttons say for each state an order can move to.
ACTIONS = {"paid": "Mark paid", "in_production": "In production", "shipped": "Mark shipped",
           "delivered": "Mark delivered", "cancelled": "Cancel order"}
NOTE_MAX = 5000
TRACKING_MAX = 500


@login_required
async def orders_list(request: Request) -> Response:
    q = request.query_params
    state = inputs.choice(q, "state", "State", ORDER_STATES, default="", lenient=True)
    page_no = inputs.number(q, "page", "Page", default=1, low=1, high=10**6, lenient=True)
    pid = me_id(request)

    def read(session: Session) -> dict[str, Any]:
        rows, total = orders.orders_page(session, pid, state, page_no, PER_PAGE)
        pages = max(1, -(-total // PER_PAGE))
        if page_no > pages:  # past the end: the last page
            rows, total = orders.orders_page(session, pid, state, pages, PER_PAGE)
        return {"rows": rows, "total": total, "pages": pages, "page": min(page_no, pages),
                "counts": orders.state_counts(session, pid)}

    async with services(request).db.reader() as session:
        context = await session.run_sync(read)
        last_seq = await activity.latest_seq(session, pid)  # the same snapshot
    return render(request, "panel/store_orders.html", {
        **context, "state": state, "labels": STATE_LABELS, "states": ORDER_STATES,
        "last_seq": last_seq})


def _order_context(session: Session, photographer_id: int, order_id: int) -> dict[str, Any]:
    order = orders.find_order(session, photographer_id, order_id)
    return {"order": order, "lines": orders.lines_of(session, order),
            "event": session.get(Event, order.event_id),
            "contact": session.get(Contact, order.contact_id),
            "studio": session.get(Photographer, photographer_id)}


async def _detail(request: Request, order_id: int, error: str | None = None,
                  status_code: int = 200) -> Response:
    pid = me_id(request)
    async with services(request).db.reader() as session:
        context = await session.run_sync(_order_context, pid, order_id)
        last_seq = await activity.latest_seq(session, pid)
    order: Order = context["order"]
    return render(request, "panel/store_order.html", {
        **context, "labels": STATE_LABELS, "error": error, "last_seq": last_seq,
        "actions": [(s, ACTIONS[s]) for s in TRANSITIONS.get(order.state, ())],
        "saved": request.query_params.get("saved", ""),
    }, status_code=status_code)


@login_required
async def order_detail(request: Request) -> Response:
    return await _detail(request, int_param(request, "order_id"))


@login_required
async def order_state(request: Request) -> Response:
    order_id = int_param(request, "order_id")
    form = await read_form(request)
    try:
        state = inputs.choice(form, "state", "New state", ORDER_STATES, default="")
        if not state:
            raise Invalid("Pick what happened to the order.", field="state")
        note = inputs.text(form, "tracking_note", "Tracking note", max_len=TRACKING_MAX)
        await write(request, orders.set_state, me_id(request), order_id, state, note)
    except Invalid as exc:
        # Someone else's order is still a 404 (find_order raises NotFound, not Invalid).
        return await _detail(request, order_id, exc.message, status_code=400)
    return RedirectResponse(f"/panel/store/orders/{order_id}?saved=state", status_code=303)


@login_required
async def order_note(request: Request) -> Response:
    order_id = int_param(request, "order_id")
    form = await read_form(request)
    try:
        note = inputs.text(form, "internal_note", "Internal note", max_len=NOTE_MAX)
        await write(request, orders.set_note, me_id(request), order_id, note)
    except Invalid as exc:
        return await _detail(request, order_id, exc.message, status_code=400)
    return RedirectResponse(f"/panel/store/orders/{order_id}?saved=note", status_code=303)


@login_required
async def packing_slip(request: Request) -> Response:
    async with services(request).db.reader() as session:
        context = await session.run_sync(_order_context, me_id(request),
                                         int_param(request, "order_id"))
    return render(request, "panel/store_packing_slip.html", {**context, "labels": STATE_LABELS})


# --- CSV export ---

CSV_HEADER = ["order_number", "placed_at", "state", "client_name", "client_email", "gallery",
              "items", "lines", "currency", "subtotal", "discount", "coupon", "shipping", "tax",
              "total", "customer_name", "customer_email", "phone", "address", "tracking_note",
              "internal_note", "paid_at", "shipped_at"]


def safe_cell(value: Any) -> str:
    """A cell starting with = + - @ (or a tab / carriage return) runs as a formula in a
    spreadsheet: defused with a leading quote, as the favorites export does."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _amount(minor: int) -> str:
    """Minor units as a plain decimal a spreadsheet sums: 4500 → 45.00."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor or 0)), 100)
    return f"{sign}{whole}.{cents:02d}"


def line_summary(line: OrderLine) -> str:
    """One line in a cell: "2 × 5x7 print (Paper: Lustre) — IMG_1001.jpg"."""
    text = f"{line.quantity} × {line.name}"
    if line.options:
        text += f" ({line.options})"
    if line.filename:
        text += f" — {line.filename}"
    elif line.images:
        text += f" — {len(line.images)} photos"
    return text


def address_of(customer: dict[str, Any]) -> str:
    parts = [customer.get(k, "") for k in ("line1", "line2", "city", "region", "postal_code",
                                            "country")]
    return ", ".join(p for p in parts if isinstance(p, str) and p)


def _export_rows(session: Session, photographer_id: int, state: str) -> list[list[str]]:
    rows, _ = orders.orders_page(session, photographer_id, state, 1, EXPORT_LIMIT)
    out, lines_by_order = [], orders.lines_for(session, [row[0].id for row in rows])
    for order, name, email, title in rows:
        lines = lines_by_order[order.id]
        customer = order.customer or {}
        out.append([
            str(order.number), _when(order.placed_at), STATE_LABELS.get(order.state, order.state),
            name or "", email or "", title or "", str(sum(li.quantity for li in lines)),
            "; ".join(line_summary(li) for li in lines), order.currency,
            _amount(order.subtotal), _amount(order.discount), order.coupon_code or "",
            _amount(order.shipping), _amount(order.tax), _amount(order.total),
            customer.get("name", ""), customer.get("email", ""), customer.get("phone", ""),
            address_of(customer), order.tracking_note or "", order.internal_note or "",
            _when(order.paid_at), _when(order.shipped_at),
        ])
    return out


@login_required
async def orders_csv(request: Request) -> Response:
    """Every order (or those in the list's `state` filter), newest first."""
    state = inputs.choice(request.query_params, "state", "State", ORDER_STATES, default="",
                          lenient=True)
    async with services(request).db.reader() as session:
        rows = await session.run_sync(_export_rows, me_id(request), state)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    name = f"orders-{state}.csv" if state else "orders.csv"
    # A BOM: Excel opens UTF-8 (names, €) correctly only with one.
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": content_disposition(name),
        "Cache-Control": "private, no-store"})


routes = [
    Route("/panel/store/orders", orders_list),
    Route("/panel/store/orders.csv", orders_csv),
    Route("/panel/store/orders/{order_id:int}", order_detail),
    Route("/panel/store/orders/{order_id:int}/state", order_state, methods=["POST"]),
    Route("/panel/store/orders/{order_id:int}/note", order_note, methods=["POST"]),
    Route("/panel/store/orders/{order_id:int}/packing-slip", packing_slip),
]
