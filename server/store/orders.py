"""Checkout and the photographer's handling of orders.

Placing an order turns the client's visible cart lines into an Order with its own lines
and totals (worked out again from the price list; a later price change touches no order),
records the coupon use, empties those lines, and queues the confirmation email, all in one
unit of work. The cart version the client saw makes a double click place one order.
Marking an order paid grants its digital files (DigitalGrant); cancelling takes them back.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import activity, mail
from ..errors import Invalid, NotFound
from ..models import Contact, Event, Image, Photographer, utcnow
from ..public import Guest
from ..templating import EMAILS
from . import carts, pricing
from .models import Cart, CouponUse, DigitalGrant, Order, OrderLine, StoreSettings
from .payments import PaymentProvider

TOKEN = re.compile(r"[A-Za-z0-9_-]{11,40}")
#: Which state an order may move to from each state.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "placed": ("paid", "cancelled"),
    "paid": ("in_production", "shipped", "delivered", "cancelled"),
    "in_production": ("shipped", "delivered", "cancelled"),
    "shipped": ("delivered",),
    "delivered": (),
    "cancelled": (),
}
STATE_LABELS = {"placed": "Placed", "paid": "Paid", "in_production": "In production",
                "shipped": "Shipped", "delivered": "Delivered", "cancelled": "Cancelled"}


def _next_number(session: Session, photographer_id: int) -> int:
    settings = session.get(StoreSettings, photographer_id, with_for_update=True)
    if settings is None:
        settings = StoreSettings(photographer_id=photographer_id, next_order_number=1001)
        session.add(settings)
        session.flush()
    number = settings.next_order_number
    settings.next_order_number = number + 1
    return number


def _line(p: carts.Priced, items: dict) -> OrderLine:
    contents = [{"kind": items[int(c["item_id"])].kind, "name": items[int(c["item_id"])].name,
                 "quantity": int(c["quantity"]),
                 "digital_scope": items[int(c["item_id"])].digital_scope}
                for c in p.item.contents if int(c["item_id"]) in items]
    return OrderLine(photographer_id=p.row.photographer_id, kind=p.item.kind,
                     name=p.item.name, options=p.options, image_id=p.row.image_id,
                     filename=p.filename, images=p.row.images,
                     digital_scope=p.item.digital_scope, contents=contents,
                     quantity=p.row.quantity, unit_price=p.unit_price,
                     line_total=p.line.total)


def place(session: Session, event: Event, guest: Guest, version: Any,
          payment: PaymentProvider, base_url: str) -> Order:
    """Place the order for the cart lines this browser sees, as of cart `version`."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise Invalid("Reload the page and review your order again.")
    cart = carts.find_cart(session, event, guest, lock=True)
    if cart is None:
        raise Invalid("Your cart is empty.")
    placed = session.scalar(select(Order).where(Order.cart_id == cart.id,
                                                Order.cart_version == version))
    if placed is not None:
        return placed  # the same click again: one order
    if cart.version != version:
        raise Invalid("Your cart changed while you were checking out: please review it again.")
    priced = carts.price_rows(session, event, carts.cart_rows(session, cart, guest))
    if not priced:
        raise Invalid("Your cart is empty.")
    terms = carts.terms_of(session, guest.photographer_id)
    subtotal = sum(p.line.total for p in priced)
    amount, coupon = carts.coupon_discount(session, cart, subtotal, terms)
    totals = pricing.totals([p.line for p in priced], terms, amount)
    details = cart.details if (guest.verified or cart.details.get("device")
                               == guest.device_id) else {}
    if not details.get("name") or not details.get("email") or (
            totals.physical and not details.get("line1")):
        raise Invalid("Enter your details (and a shipping address) before placing the order.")
    order = Order(
        photographer_id=guest.photographer_id, event_id=event.id, contact_id=guest.contact_id,
        cart_id=cart.id, cart_version=version,
        number=_next_number(session, guest.photographer_id),
        token=secrets.token_urlsafe(24), state="placed", currency=terms.currency,
        subtotal=totals.subtotal, discount=totals.discount, tax=totals.tax,
        tax_inclusive=terms.tax_inclusive, shipping=totals.shipping, total=totals.total,
        coupon_code=coupon.code if coupon else "", coupon_id=coupon.id if coupon else None,
        customer={k: v for k, v in details.items() if k != "device"},
        payment_method=payment.name,
    )
    session.add(order)
    session.flush()
    items = carts.list_items(session, event)
    for p in priced:
        line = _line(p, items)
        line.order_id = order.id
        session.add(line)
        session.delete(p.row)
    if coupon is not None:
        session.add(CouponUse(photographer_id=guest.photographer_id, coupon_id=coupon.id,
                              contact_id=guest.contact_id, order_id=order.id))
    cart.coupon_code = ""
    session.flush()
    carts.changed(session, event, guest, cart, stage="ordered")
    activity.record(session, guest.photographer_id, "order_placed", event_id=event.id,
                    contact_id=guest.contact_id, payload={
                        "order_id": order.id, "number": order.number, "total": order.total,
                        "currency": order.currency, "state": order.state})
    _confirmation_email(session, order, event, base_url)
    return order


def order_url(base_url: str, event: Event, order: Order) -> str:
    return f"{base_url}/g/{event.slug}/orders/{order.token}"


def _confirmation_email(session: Session, order: Order, event: Event, base_url: str) -> None:
    photographer = session.get(Photographer, order.photographer_id)
    context = {"order": order, "event": event, "photographer": photographer,
               "lines": lines_of(session, order), "link": order_url(base_url, event, order),
               "labels": STATE_LABELS}
    mail.queue(session, order.photographer_id, kind="order_confirmation",
               recipient=order.customer["email"],
               subject=f"Your order #{order.number} — {event.title}",
               body_text=EMAILS.get_template("email/order_confirmation.txt").render(context),
               body_html=EMAILS.get_template("email/order_confirmation.html").render(context),
               contact_id=order.contact_id, event_id=event.id)


def lines_of(session: Session, order: Order) -> list[OrderLine]:
    return list(session.scalars(select(OrderLine).where(
        OrderLine.order_id == order.id).order_by(OrderLine.id)))


def lines_for(session: Session, order_ids: list[int]) -> dict[int, list[OrderLine]]:
    """Many orders' lines in one query (the CSV export), by order id, in order."""
    found: dict[int, list[OrderLine]] = {i: [] for i in order_ids}
    if order_ids:
        for line in session.scalars(select(OrderLine).where(OrderLine.order_id.in_(order_ids))
                                    .order_by(OrderLine.id)):
            found[line.order_id].append(line)
    return found


def state_counts(session: Session, photographer_id: int) -> dict[str, int]:
    """How many orders are in each state ("": all of them), in one query."""
    counts = dict.fromkeys(TRANSITIONS, 0)
    counts.update(session.execute(select(Order.state, func.count()).where(
        Order.photographer_id == photographer_id).group_by(Order.state)).all())
    return {"": sum(counts.values()), **counts}


def find_order(session: Session, photographer_id: int, order_id: int) -> Order:
    order = session.scalar(select(Order).where(Order.id == order_id,
                                               Order.photographer_id == photographer_id))
    if order is None:
        raise NotFound("No such order.")
    return order


def by_token(session: Session, event: Event, token: str) -> Order:
    """The client's order page: the unguessable token is the key."""
    # Only what token_urlsafe makes reaches the query (PostgreSQL refuses a NUL in it).
    order = session.scalar(select(Order).where(Order.token == token,
                                               Order.event_id == event.id)) \
        if TOKEN.fullmatch(token) else None
    if order is None:
        raise NotFound("We could not find that order. Check the link in your confirmation email.")
    return order


def set_state(session: Session, photographer_id: int, order_id: int, state: str,
              tracking_note: str = "") -> Order:
    order = find_order(session, photographer_id, order_id)
    if state not in TRANSITIONS.get(order.state, ()):
        raise Invalid(f"An order that is {STATE_LABELS[order.state].lower()} cannot be marked "
                      f"{STATE_LABELS.get(state, state).lower()}.")
    now, previous = utcnow(), order.state
    order.state, order.updated_at = state, now
    if state == "paid":
        order.paid_at = now
        _grant(session, order)
    elif state == "shipped":
        order.shipped_at = now
        order.tracking_note = tracking_note[:500]
    elif state == "cancelled":
        session.execute(delete(DigitalGrant).where(DigitalGrant.order_id == order.id))
    session.flush()
    activity.record(session, photographer_id, "order_updated", event_id=order.event_id,
                    contact_id=order.contact_id, payload={
                        "order_id": order.id, "number": order.number, "state": state,
                        "from": previous, "total": order.total, "currency": order.currency})
    return order


def mark_paid_by_provider(session: Session, photographer_id: int, order_id: int) -> Order:
    """What a payment provider's webhook calls once a payment clears (see payments.py)."""
    order = find_order(session, photographer_id, order_id)
    return order if order.state != "placed" else set_state(
        session, photographer_id, order_id, "paid")


def set_note(session: Session, photographer_id: int, order_id: int, note: str) -> Order:
    order = find_order(session, photographer_id, order_id)
    order.internal_note = note
    order.updated_at = utcnow()
    return order


def _grant(session: Session, order: Order) -> None:
    """The digital files a paid order unlocks: single images at their size, the whole
    gallery, and the digital parts of packages (a package's photos fill its parts in order)."""
    def add(image_id: int | None, scope: str | None) -> None:
        session.add(DigitalGrant(photographer_id=order.photographer_id, event_id=order.event_id,
                                 contact_id=order.contact_id, order_id=order.id,
                                 image_id=image_id,
                                 size="web" if scope == "web" else "original"))

    for line in lines_of(session, order):
        if line.kind == "digital":
            add(None if line.digital_scope == "gallery" else line.image_id, line.digital_scope)
        elif line.kind == "package":
            photos = iter(line.images)
            for part in line.contents:
                for _ in range(int(part["quantity"])):
                    if part["kind"] == "digital" and part["digital_scope"] == "gallery":
                        add(None, "full")
                        break
                    photo = next(photos, None)
                    if part["kind"] == "digital" and photo is not None:
                        add(photo, part["digital_scope"])


def order_grants(session: Session, order: Order) -> list[DigitalGrant]:
    """The digital files this (paid) order unlocked; none before it is paid."""
    return list(session.scalars(select(DigitalGrant).where(
        DigitalGrant.order_id == order.id,
        DigitalGrant.photographer_id == order.photographer_id)))


def granted_images(session: Session, order: Order) -> list[Image] | str:
    """What the order page lists as the client's files ("all": the whole gallery)."""
    grants = order_grants(session, order)
    if any(g.image_id is None for g in grants):
        return "all"
    return list(session.scalars(select(Image).where(
        Image.id.in_({g.image_id for g in grants})).order_by(Image.id))) if grants else []


def open_count(session: Session, photographer_id: int) -> int:
    """Orders waiting on the photographer (placed, paid or in production)."""
    return int(session.scalar(select(func.count()).select_from(Order).where(
        Order.photographer_id == photographer_id,
        Order.state.in_(("placed", "paid", "in_production")))) or 0)


def orders_page(session: Session, photographer_id: int, state: str = "",
                page: int = 1, per_page: int = 50) -> tuple[list[tuple], int]:
    """One page of the Orders list, newest first: (order, contact name, email, gallery)."""
    query = (select(Order, Contact.name, Contact.email, Event.title)
             .join(Contact, Contact.id == Order.contact_id)
             .join(Event, Event.id == Order.event_id)
             .where(Order.photographer_id == photographer_id))
    counted = select(func.count()).select_from(Order).where(
        Order.photographer_id == photographer_id)
    if state:
        query, counted = query.where(Order.state == state), counted.where(Order.state == state)
    total = int(session.scalar(counted) or 0)
    rows = session.execute(query.order_by(Order.placed_at.desc(), Order.id.desc())
                           .offset((max(page, 1) - 1) * per_page).limit(per_page)).all()
    return [tuple(r) for r in rows], total


def open_cart_lines(session: Session, event: Event, contact_id: int) -> list[carts.Priced]:
    """The SAVED CART tab: every line of the contact's open cart in this gallery."""
    cart = session.scalar(select(Cart).where(Cart.event_id == event.id,
                                             Cart.contact_id == contact_id,
                                             Cart.photographer_id == event.photographer_id))
    if cart is None:
        return []
    return carts.price_rows(session, event, carts.cart_rows(session, cart, None))

