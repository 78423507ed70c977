"""The client's cart in one gallery, saved at every change.

One cart per (gallery, contact): it survives a reload, a restart and a new device once
that device is verified. Lines remember the browser that added them; an unverified
browser sees (and orders) only its own lines, and sees checkout details only if it typed
them (the contact's saved address is never shown to a browser that only typed an email).
Every change bumps the cart's `version`, moves the Activity report's SAVED CART columns
and logs a `cart_updated` ActivityEvent in the same unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import activity, validation
from ..contacts import insert_if_absent
from ..errors import Invalid, NotFound
from ..models import Event, GalleryType, Image, Visit, utcnow
from ..public import Guest
from ..workflows import banners, planner
from . import catalog, pricing
from .models import Cart, CartItem, Coupon, CouponUse, PriceItem

T = TypeVar("T")
CLIENT_STAGES = ("browsing", "cart", "details")
ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country")


def price_list_id(session: Session, event: Event) -> int | None:
    """The gallery's own price list, else its type's; None when the store is off."""
    if not event.store_enabled:
        return None
    if event.price_list_id is not None:
        return event.price_list_id
    if event.gallery_type_id is None:
        return None
    return session.scalar(select(GalleryType.price_list_id).where(
        GalleryType.id == event.gallery_type_id,
        GalleryType.photographer_id == event.photographer_id))


def _once(session: Session, key: tuple, make: Callable[[], T]) -> T:
    """Read once per unit of work (or reader): a cart change prices the cart for the
    report and again for the answer, from the same price list and settings."""
    memo = session.info.setdefault("store", {})
    if key not in memo:
        memo[key] = make()
    return memo[key]


def terms_of(session: Session, photographer_id: int) -> pricing.Terms:
    return _once(session, ("terms", photographer_id),
                 lambda: catalog.terms_of(session, photographer_id))


def list_items(session: Session, event: Event) -> dict[int, PriceItem]:
    def read() -> dict[int, PriceItem]:
        list_id = price_list_id(session, event)
        if list_id is None:
            return {}
        return {item.id: item for item in
                catalog.items_of(session, event.photographer_id, list_id)}
    return _once(session, ("items", event.id), read)


def slots(item: PriceItem, items: Mapping[int, PriceItem]) -> int:
    kinds = {i.id: (i.kind, i.digital_scope) for i in items.values()}
    return pricing.package_slots(item.contents, kinds)


def physical(item: PriceItem, items: Mapping[int, PriceItem]) -> bool:
    parts = [items[int(p["item_id"])].kind for p in item.contents if int(p["item_id"]) in items]
    return pricing.is_physical(item.kind, parts)


def needs_image(item: PriceItem) -> bool:
    return item.kind in pricing.PHYSICAL or (item.kind == "digital"
                                              and item.digital_scope != "gallery")


def offer(session: Session, event: Event) -> dict[str, Any] | None:
    """What the gallery's store offers (None: no store here), for the client's picker."""
    items = list_items(session, event)
    if not items:
        return None
    terms = terms_of(session, event.photographer_id)
    return {"currency": terms.currency, "items": [{
        "id": item.id, "kind": item.kind, "name": item.name,
        "description": item.description, "price": item.price, "options": item.options,
        "digital_scope": item.digital_scope, "needs_image": needs_image(item),
        "slots": slots(item, items) if item.kind == "package" else 0,
        "contents": [{"name": items[int(p["item_id"])].name, "quantity": int(p["quantity"])}
                     for p in item.contents if int(p["item_id"]) in items],
    } for item in items.values()]}


@dataclass
class Priced:
    """A cart line with its price worked out again from the price list."""

    row: CartItem
    item: PriceItem
    unit_price: int
    options: str
    physical: bool
    filename: str

    @property
    def line(self) -> pricing.Line:
        return pricing.Line(self.unit_price, self.row.quantity, self.physical)


def find_cart(session: Session, event: Event, guest: Guest, *, lock: bool = False
              ) -> Cart | None:
    """The contact's cart here. `lock`: for a change, so two changes at once (two tabs, two
    web processes on PostgreSQL) take turns and each moves `version` on (SQLite's writer
    already takes one at a time)."""
    query = select(Cart).where(Cart.event_id == event.id, Cart.contact_id == guest.contact_id,
                               Cart.photographer_id == guest.photographer_id)
    return session.scalar(query.with_for_update() if lock else query)


def _cart_for_change(session: Session, event: Event, guest: Guest) -> Cart:
    cart = find_cart(session, event, guest, lock=True)
    if cart is None:
        # Race-safe: two first changes at once make one cart, never an IntegrityError.
        session.execute(insert_if_absent(Cart, {
            "photographer_id": guest.photographer_id, "event_id": event.id,
            "contact_id": guest.contact_id, "stage": "browsing", "version": 0,
            "coupon_code": "", "details": {}, "created_at": utcnow(), "updated_at": utcnow(),
        }, ("event_id", "contact_id"), session.get_bind().dialect.name))
        cart = find_cart(session, event, guest, lock=True)
    return cart


def cart_rows(session: Session, cart: Cart, guest: Guest | None) -> list[CartItem]:
    """The lines `guest`'s browser may see (None: all of them, for the photographer)."""
    query = select(CartItem).where(CartItem.cart_id == cart.id).order_by(CartItem.id)
    if guest is not None and not guest.verified:
        query = query.where(CartItem.device_id == guest.device_id)
    return list(session.scalars(query))


def price_rows(session: Session, event: Event, rows: list[CartItem]) -> list[Priced]:
    """Every line priced from the gallery's current price list; a line whose item left
    the list (or whose options no longer exist) is dropped from the sum, not guessed at."""
    items = list_items(session, event)
    names = dict(session.execute(select(Image.id, Image.filename).where(
        Image.id.in_({r.image_id for r in rows if r.image_id}))).all()) if rows else {}
    priced = []
    for row in rows:
        item = items.get(row.price_item_id)
        if item is None:
            continue
        try:
            unit, options = pricing.unit_price(item.price, item.options, row.choices)
        except pricing.PricingError:
            continue
        priced.append(Priced(row, item, unit, options, physical(item, items),
                             names.get(row.image_id, "")))
    return priced


def coupon_for(session: Session, photographer_id: int, code: str) -> Coupon | None:
    if not code:
        return None
    return session.scalar(select(Coupon).where(
        Coupon.photographer_id == photographer_id, Coupon.code == code.strip().upper()))


def coupon_discount(session: Session, cart: Cart, subtotal: int,
                    terms: pricing.Terms) -> tuple[int, Coupon | None]:
    """The discount of the cart's coupon; PricingError if it does not apply."""
    coupon = coupon_for(session, cart.photographer_id, cart.coupon_code)
    if coupon is None:
        if cart.coupon_code:
            raise pricing.PricingError(f"There is no coupon {cart.coupon_code}.", field="coupon")
        return 0, None
    used = session.scalar(select(CouponUse.id).where(
        CouponUse.coupon_id == coupon.id, CouponUse.contact_id == cart.contact_id).limit(1))
    amount = pricing.discount(
        pricing.CouponTerms(coupon.code, coupon.kind, coupon.amount, coupon.min_order,
                            coupon.expires_at, coupon.once_per_contact, coupon.active),
        subtotal, utcnow(), used is not None, terms.currency)
    return amount, coupon


def view(session: Session, event: Event, guest: Guest, cart: Cart | None = None,
         priced: list[Priced] | None = None) -> dict[str, Any]:
    """The cart as the client's browser shows it: lines, totals, coupon, stage, details.
    `cart` and `priced` (its lines this browser sees) when the caller has them already."""
    terms = terms_of(session, guest.photographer_id)
    cart = cart or find_cart(session, event, guest)
    if cart is None:
        empty = pricing.totals([], terms)
        return {"version": 0, "stage": "browsing", "lines": [], "coupon": "",
                "coupon_error": "", "details": {}, "currency": terms.currency,
                "totals": {**empty.__dict__, "tax_inclusive": terms.tax_inclusive},
                "count": 0}
    if priced is None:
        priced = price_rows(session, event, cart_rows(session, cart, guest))
    subtotal = sum(p.line.total for p in priced)
    coupon_error = ""
    try:
        amount, _ = coupon_discount(session, cart, subtotal, terms)
    except pricing.PricingError as exc:
        amount, coupon_error = 0, exc.message
    totals = pricing.totals([p.line for p in priced], terms, amount)
    mine = guest.verified or cart.details.get("device") == guest.device_id
    return {
        "version": cart.version, "stage": cart.stage, "currency": terms.currency,
        "coupon": cart.coupon_code, "coupon_error": coupon_error,
        "details": {k: v for k, v in cart.details.items() if k != "device"} if mine else {},
        "totals": {**totals.__dict__, "tax_inclusive": terms.tax_inclusive},
        "count": sum(p.row.quantity for p in priced),
        "lines": [{
            "id": p.row.id, "item_id": p.item.id, "kind": p.item.kind, "name": p.item.name,
            "options": p.options, "choices": p.row.choices, "image_id": p.row.image_id,
            "images": p.row.images, "filename": p.filename, "quantity": p.row.quantity,
            "unit_price": p.unit_price, "total": p.line.total,
            "digital_scope": p.item.digital_scope,
        } for p in priced],
    }


def summary(session: Session, event: Event, cart: Cart) -> tuple[int, int, list[Priced]]:
    """Item count and value of the whole cart (every browser's lines): SAVED CART."""
    priced = price_rows(session, event, cart_rows(session, cart, None))
    return sum(p.row.quantity for p in priced), sum(p.line.total for p in priced), priced


def changed(session: Session, event: Event, guest: Guest, cart: Cart,
            stage: str | None = None) -> list[Priced] | None:
    """After any change: a new version, the stage, the report's row, the logged event.
    Returns the priced lines when they are exactly what `guest` sees (for `view`)."""
    count, value, priced = summary(session, event, cart)
    if stage is None:
        stage = ("cart" if cart.stage in ("browsing", "ordered") else cart.stage) if count \
            else ("ordered" if cart.stage == "ordered" else "browsing")
    cart.stage, cart.version, cart.updated_at = stage, cart.version + 1, utcnow()
    visits = Visit.__table__  # Core: no ORM bulk-update bookkeeping for one row
    session.execute(update(visits).where(
        visits.c.event_id == event.id, visits.c.contact_id == guest.contact_id,
        visits.c.photographer_id == guest.photographer_id,
    ).values(cart_items=count, cart_value=value, cart_stage=stage))
    session.flush()
    activity.record(session, guest.photographer_id, "cart_updated", event_id=event.id,
                    contact_id=guest.contact_id, payload={
                        "items": count, "value": value, "stage": stage,
                        "currency": terms_of(session, guest.photographer_id).currency})
    planner.visitor_acted(session, event.id, guest.contact_id, "cart_change")
    banners.visitor_changed(session, event, guest.contact_id)
    return priced if guest.verified else None


def _gallery_image(session: Session, event: Event, image_id: Any) -> int:
    if isinstance(image_id, bool) or not isinstance(image_id, int):
        raise Invalid("Pick a photo from this gallery.", field="image")
    found = session.scalar(select(Image.id).where(
        Image.id == image_id, Image.event_id == event.id, Image.state == "ready"))
    if found is None:
        raise Invalid("That photo is not in this gallery.", field="image")
    return found


def add(session: Session, event: Event, guest: Guest, data: Mapping[str, Any]) -> dict:
    """Add a line (or more of an identical one) from what the browser asked for; prices
    come only from the price list."""
    items = list_items(session, event)
    item_id = data.get("item_id")
    item = items.get(item_id) if isinstance(item_id, int) else None
    if item is None:
        raise Invalid("That product is not offered in this gallery.", field="item")
    quantity = pricing.quantity(data.get("quantity", 1))
    choices = data.get("choices") or {}
    pricing.unit_price(item.price, item.options, choices)  # refuses unknown choices
    image_id, images = None, []
    if needs_image(item):
        image_id = _gallery_image(session, event, data.get("image_id"))
    if item.kind == "package":
        picked = data.get("images") or []
        if not isinstance(picked, list) or len(picked) != slots(item, items):
            raise Invalid(f"Pick {slots(item, items)} photos for {item.name}.", field="images")
        images = [_gallery_image(session, event, i) for i in picked]
    if item.kind == "digital" and quantity != 1:
        raise Invalid("A digital file is bought once.", field="quantity")
    cart = _cart_for_change(session, event, guest)
    same = next((r for r in cart_rows(session, cart, guest)
                 if (r.price_item_id, r.image_id, r.choices, r.images) ==
                 (item.id, image_id, dict(choices), images)), None)
    if same is not None:
        if item.kind == "digital":
            raise Invalid("That file is already in your cart.", field="item")
        same.quantity = pricing.quantity(same.quantity + quantity)
    else:
        if len(cart_rows(session, cart, None)) >= pricing.MAX_LINES:
            raise Invalid(f"A cart holds at most {pricing.MAX_LINES} lines.")
        session.add(CartItem(photographer_id=guest.photographer_id, cart_id=cart.id,
                             price_item_id=item.id, image_id=image_id, choices=dict(choices),
                             images=images, quantity=quantity, device_id=guest.device_id))
    session.flush()
    return view(session, event, guest, cart, changed(session, event, guest, cart))


def _own_line(session: Session, event: Event, guest: Guest,
              line_id: int) -> tuple[Cart, CartItem]:
    cart = find_cart(session, event, guest, lock=True)
    row = next((r for r in cart_rows(session, cart, guest) if r.id == line_id), None) \
        if cart else None
    if row is None:
        raise NotFound("That line is not in your cart.")
    return cart, row


def set_quantity(session: Session, event: Event, guest: Guest, line_id: int,
                 quantity: Any) -> dict:
    cart, row = _own_line(session, event, guest, line_id)
    quantity = pricing.quantity(quantity)
    if row.quantity != quantity:
        if quantity != 1 and session.get(PriceItem, row.price_item_id).kind == "digital":
            raise Invalid("A digital file is bought once.", field="quantity")
        row.quantity = quantity
        return view(session, event, guest, cart, changed(session, event, guest, cart))
    return view(session, event, guest, cart)


def remove(session: Session, event: Event, guest: Guest, line_id: int) -> dict:
    cart, row = _own_line(session, event, guest, line_id)
    session.delete(row)
    session.flush()
    return view(session, event, guest, cart, changed(session, event, guest, cart))


def apply_coupon(session: Session, event: Event, guest: Guest, code: Any) -> dict:
    """Apply a code (or remove it with ""): one that does not apply now is refused with
    the reason and changes nothing."""
    code = validation.text(code if isinstance(code, str) else "", "Coupon", max_len=40,
                           required=False).upper()
    cart = _cart_for_change(session, event, guest)
    if code:
        terms = terms_of(session, guest.photographer_id)
        subtotal = sum(p.line.total for p in
                       price_rows(session, event, cart_rows(session, cart, guest)))
        cart.coupon_code = code
        coupon_discount(session, cart, subtotal, terms)  # raises: the unit rolls back
    cart.coupon_code = code
    stage = cart.stage if cart.stage != "ordered" else None
    return view(session, event, guest, cart, changed(session, event, guest, cart, stage))


def set_stage(session: Session, event: Event, guest: Guest, stage: Any) -> dict:
    """The client moved in the store or checkout: browsing the products, the cart, the
    details form. (Review and ordered follow from saving details and placing the order.)"""
    if stage not in CLIENT_STAGES:
        raise Invalid("Unknown checkout step.", field="stage")
    cart = _cart_for_change(session, event, guest)
    count, _, _ = summary(session, event, cart)
    if stage != "browsing" and not count:
        raise Invalid("Your cart is empty.")
    if stage == "browsing" and count:
        stage = "cart"  # the cart still holds items: that is how far along they are
    if stage != cart.stage:
        return view(session, event, guest, cart, changed(session, event, guest, cart, stage))
    return view(session, event, guest, cart)


def save_details(session: Session, event: Event, guest: Guest,
                 data: Mapping[str, Any]) -> dict:
    """Checkout details (→ review). An address is required only when something ships."""
    cart = find_cart(session, event, guest, lock=True)
    priced = price_rows(session, event, cart_rows(session, cart, guest)) if cart else []
    if not priced:
        raise Invalid("Your cart is empty.")

    def field(name: str, label: str, max_len: int, required: bool) -> str:
        value = data.get(name)
        return validation.text(value if isinstance(value, str) else "", label,
                               max_len=max_len, required=required)

    details = {"name": field("name", "Name", 120, True),
               "email": validation.email(data.get("email") if isinstance(
                   data.get("email"), str) else ""),
               "phone": field("phone", "Phone", 40, False)}
    ships = any(p.physical for p in priced)
    labels = {"line1": "Address", "line2": "Address line 2", "city": "City",
              "region": "State / region", "postal_code": "Postal code", "country": "Country"}
    for name in ADDRESS_FIELDS:
        details[name] = field(name, labels[name], 120,
                              ships and name in ("line1", "city", "postal_code", "country"))
    details["device"] = guest.device_id
    cart.details = details
    return view(session, event, guest, cart, changed(session, event, guest, cart, "review"))
