"""The photographer's side of the store: settings, price lists and their items, coupons,
and which price list a gallery sells from.

Like the rest of the panel's services, every function takes the photographer's id and
filters on it: an id that belongs to someone else is simply not found. Writes are plain
(sync) units of work for `db.write`; readers are async, or sync helpers a reader calls
through `await session.run_sync(helper, ...)` (`terms_of`, `find_price_list`, …).

Form values arrive as text (the `*Form` dataclasses) and are checked here, in one place,
whatever the caller: a bad value is an `Invalid` with a message that says what to fix,
raised before anything is changed.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .. import validation
from ..errors import Invalid, NotFound
from ..models import Event, GalleryType, utcnow
from .models import (
    DIGITAL_SCOPES,
    ITEM_KINDS,
    Coupon,
    CouponUse,
    PriceItem,
    PriceList,
    StoreSettings,
)
from .pricing import CURRENCIES, MAX_QUANTITY, Terms, parse_money

#: Limits that keep a price list something a client can read and a cart can price.
MAX_PRICE_LISTS = 100
MAX_ITEMS_PER_LIST = 200
MAX_OPTION_GROUPS = 5
MAX_CHOICES = 20
MAX_PACKAGE_PARTS = 20
MAX_COUPONS = 500
OPTION_NAME_LEN = 60
KIND_LABELS = {"print": "Print", "digital": "Digital download", "product": "Product",
               "package": "Package"}
SCOPE_LABELS = {"web": "One photo, web size", "full": "One photo, full size",
                "gallery": "The whole gallery"}
COUPON_KINDS = {"percent": "Percentage off", "fixed": "Fixed amount off"}
_CODE = re.compile(r"[A-Z0-9-]{2,40}")
_PERCENT = re.compile(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?|\.([0-9]{1,2})")


def amount_text(minor: int | None) -> str:
    """12345 → "123.45": how a form shows an amount it will read back with parse_money."""
    minor = int(minor or 0)
    return f"{minor // 100}.{minor % 100:02d}"


# --- settings ------------------------------------------------------------------------------


def store_settings(session: Session, photographer_id: int) -> StoreSettings:
    """The studio's settings row, or an unsaved one holding the defaults."""
    row = session.get(StoreSettings, photographer_id)
    if row is None:
        row = StoreSettings(photographer_id=photographer_id, currency="USD", tax_rate_bp=0,
                            tax_inclusive=False, shipping_flat=0, free_shipping_over=None,
                            next_order_number=1001)
    return row


def terms_of(session: Session, photographer_id: int) -> Terms:
    """The settings every total depends on (defaults until the first save). Sync: a unit
    of work calls it directly, a reader through `session.run_sync(terms_of, pid)`."""
    row = store_settings(session, photographer_id)
    return Terms(currency=row.currency, tax_rate_bp=row.tax_rate_bp,
                 tax_inclusive=row.tax_inclusive, shipping_flat=row.shipping_flat,
                 free_shipping_over=row.free_shipping_over)


@dataclass
class SettingsForm:
    currency: str = "USD"
    tax_rate: str = ""  # percent, "8.25"
    tax_inclusive: bool = False
    shipping_flat: str = ""
    free_shipping_over: str = ""  # empty: never free


def parse_tax_rate(value: str) -> int:
    """"8.25" / "8.25 %" → 825 basis points; empty → 0; at most two decimals, 0 to 100 %."""
    cleaned = (value or "").strip().removesuffix("%").strip()
    if not cleaned:
        return 0
    match = _PERCENT.fullmatch(cleaned)
    if match is None:
        raise Invalid("Tax rate must be a percentage such as 8.25 (at most two decimals).",
                      field="tax_rate")
    whole, frac = match.group(1) or "0", match.group(2) or match.group(3) or ""
    bp = int(whole) * 100 + int((frac + "00")[:2])
    if bp > 10000:
        raise Invalid("Tax rate cannot be more than 100 %.", field="tax_rate")
    return bp


def tax_rate_text(bp: int) -> str:
    """825 → "8.25", 800 → "8", 850 → "8.5"."""
    whole, frac = divmod(int(bp or 0), 100)
    return f"{whole}.{frac:02d}".rstrip("0").rstrip(".") if frac else str(whole)


def save_settings(session: Session, photographer_id: int, form: SettingsForm) -> StoreSettings:
    if form.currency not in CURRENCIES:
        raise Invalid("Pick a currency from the list.", field="currency")
    tax_rate_bp = parse_tax_rate(form.tax_rate)
    shipping = parse_money(form.shipping_flat, "Shipping") if (
        form.shipping_flat or "").strip() else 0
    free_over = parse_money(form.free_shipping_over, "Free shipping threshold") if (
        form.free_shipping_over or "").strip() else None
    row = session.get(StoreSettings, photographer_id)
    if row is None:
        row = StoreSettings(photographer_id=photographer_id, next_order_number=1001)
        session.add(row)
    row.currency = form.currency
    row.tax_rate_bp = tax_rate_bp
    row.tax_inclusive = bool(form.tax_inclusive)
    row.shipping_flat = shipping
    row.free_shipping_over = free_over
    session.flush()
    return row


# --- price lists ---------------------------------------------------------------------------


def find_price_list(session: Session, photographer_id: int, list_id: int) -> PriceList:
    found = session.scalar(select(PriceList).where(
        PriceList.id == list_id, PriceList.photographer_id == photographer_id))
    if found is None:
        raise NotFound("No such price list.")
    return found


async def price_lists(session: AsyncSession, photographer_id: int) -> list[dict[str, Any]]:
    """Every price list with its item count and what uses it (gallery types by name, a
    count of galleries that chose it themselves), by name."""
    lists = list(await session.scalars(
        select(PriceList).where(PriceList.photographer_id == photographer_id)
        .order_by(func.lower(PriceList.name), PriceList.id)))
    counts = dict((await session.execute(
        select(PriceItem.price_list_id, func.count())
        .where(PriceItem.photographer_id == photographer_id)
        .group_by(PriceItem.price_list_id))).all())
    galleries = dict((await session.execute(
        select(Event.price_list_id, func.count())
        .where(Event.photographer_id == photographer_id, Event.price_list_id.is_not(None))
        .group_by(Event.price_list_id))).all())
    types: dict[int, list[str]] = {}
    for list_id, name in await session.execute(
            select(GalleryType.price_list_id, GalleryType.name)
            .where(GalleryType.photographer_id == photographer_id,
                   GalleryType.price_list_id.is_not(None))
            .order_by(GalleryType.name)):
        types.setdefault(list_id, []).append(name)
    return [{"list": pl, "item_count": counts.get(pl.id, 0), "types": types.get(pl.id, []),
             "gallery_count": galleries.get(pl.id, 0)} for pl in lists]


async def price_list_choices(session: AsyncSession, photographer_id: int
                             ) -> list[tuple[int, str]]:
    """(id, name) of every price list, for a select."""
    rows = await session.execute(
        select(PriceList.id, PriceList.name).where(PriceList.photographer_id == photographer_id)
        .order_by(func.lower(PriceList.name), PriceList.id))
    return [(list_id, name) for list_id, name in rows]


def _list_name(session: Session, photographer_id: int, name: str,
               exclude_id: int | None = None) -> str:
    name = validation.text(name, "Name", max_len=120)
    query = select(PriceList.id).where(PriceList.photographer_id == photographer_id,
                                       func.lower(PriceList.name) == name.lower())
    if exclude_id is not None:
        query = query.where(PriceList.id != exclude_id)
    if session.scalar(query.limit(1)) is not None:
        raise Invalid(f"You already have a price list called {name}.", field="name")
    return name


def _room_for_a_list(session: Session, photographer_id: int) -> None:
    count = session.scalar(select(func.count()).select_from(PriceList).where(
        PriceList.photographer_id == photographer_id))
    if count >= MAX_PRICE_LISTS:
        raise Invalid(f"You can have at most {MAX_PRICE_LISTS} price lists.")


def create_price_list(session: Session, photographer_id: int, name: str) -> PriceList:
    name = _list_name(session, photographer_id, name)
    _room_for_a_list(session, photographer_id)
    row = PriceList(photographer_id=photographer_id, name=name)
    session.add(row)
    session.flush()
    return row


def rename_price_list(session: Session, photographer_id: int, list_id: int,
                      name: str) -> PriceList:
    row = find_price_list(session, photographer_id, list_id)
    row.name = _list_name(session, photographer_id, name, exclude_id=row.id)
    row.updated_at = utcnow()
    session.flush()
    return row


def _copy_name(session: Session, photographer_id: int, name: str) -> str:
    taken = {n.lower() for n in session.scalars(select(PriceList.name).where(
        PriceList.photographer_id == photographer_id))}
    for n in range(1, MAX_PRICE_LISTS + 2):
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = name[:120 - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
    raise Invalid(f"You can have at most {MAX_PRICE_LISTS} price lists.")


def duplicate_price_list(session: Session, photographer_id: int, list_id: int) -> PriceList:
    """A copy of the list and all its items, named "… (copy)"; the copy's packages hold
    the copy's items, never the original's."""
    source = find_price_list(session, photographer_id, list_id)
    _room_for_a_list(session, photographer_id)
    copy_row = PriceList(photographer_id=photographer_id,
                         name=_copy_name(session, photographer_id, source.name))
    session.add(copy_row)
    session.flush()
    items = items_of(session, photographer_id, source.id)
    copies: dict[int, PriceItem] = {}
    for item in items:
        copies[item.id] = PriceItem(
            photographer_id=photographer_id, price_list_id=copy_row.id, kind=item.kind,
            name=item.name, description=item.description, price=item.price,
            position=item.position, options=copy.deepcopy(item.options or []),
            digital_scope=item.digital_scope, contents=[])
        session.add(copies[item.id])
    session.flush()  # the copies' ids, for the packages
    for item in items:
        if item.kind == "package":
            copies[item.id].contents = [
                {"item_id": copies[int(part["item_id"])].id, "quantity": int(part["quantity"])}
                for part in item.contents or [] if int(part["item_id"]) in copies]
    session.flush()
    return copy_row


def delete_price_list(session: Session, photographer_id: int, list_id: int) -> None:
    """Delete the list and its items. Gallery types and galleries that used it fall back
    (to no list, and to their type's list); placed orders keep their own lines."""
    row = find_price_list(session, photographer_id, list_id)
    session.execute(update(GalleryType).where(
        GalleryType.photographer_id == photographer_id, GalleryType.price_list_id == row.id,
    ).values(price_list_id=None))
    session.execute(update(Event).where(
        Event.photographer_id == photographer_id, Event.price_list_id == row.id,
    ).values(price_list_id=None))
    session.delete(row)  # its items go with it (ON DELETE CASCADE)
    session.flush()


# --- items ---------------------------------------------------------------------------------


@dataclass
class ItemForm:
    """An item as the editor submits it. `options`: the editor's text (one group per line,
    "Paper: Lustre, Metallic=3.00") or the stored structure; `contents` (packages):
    (item id, quantity) pairs."""

    kind: str = "print"
    name: str = ""
    description: str = ""
    price: str = ""
    options: str | list[Any] = ""
    digital_scope: str = ""
    contents: list[tuple[int, int]] = field(default_factory=list)


def items_of(session: Session, photographer_id: int, list_id: int) -> list[PriceItem]:
    """The list's items in order (none if the list is not the photographer's)."""
    return list(session.scalars(
        select(PriceItem).where(PriceItem.photographer_id == photographer_id,
                                PriceItem.price_list_id == list_id)
        .order_by(PriceItem.position, PriceItem.id)))


def list_items(session: Session, photographer_id: int, list_id: int) -> list[PriceItem]:
    """The list's items in order (NotFound if the list is not the photographer's)."""
    find_price_list(session, photographer_id, list_id)
    return items_of(session, photographer_id, list_id)


def find_item(session: Session, photographer_id: int, list_id: int, item_id: int) -> PriceItem:
    found = session.scalar(select(PriceItem).where(
        PriceItem.id == item_id, PriceItem.price_list_id == list_id,
        PriceItem.photographer_id == photographer_id))
    if found is None:
        raise NotFound("No such item on this price list.")
    return found


def options_text(options: list[Any] | None) -> str:
    """The stored option groups as the editor's text (what `parse_options` reads)."""
    return "\n".join(
        f"{group['name']}: " + ", ".join(f"{c['name']}={amount_text(c['price'])}"
                                         for c in group["choices"])
        for group in options or [])


def parse_options(value: str) -> list[dict[str, Any]]:
    """One group per line: "Paper: Lustre, Metallic=3.00" (a choice without "=" adds
    nothing to the price). Checked by `check_options`."""
    groups = []
    for number, line in enumerate((value or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name, colon, rest = line.partition(":")
        if not colon:
            raise Invalid(f'Option line {number}: write it as "Paper: Lustre, Metallic=3.00".',
                          field="options")
        choices = []
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            choice, equals, price = part.rpartition("=") if "=" in part else (part, "", "0")
            label = f"The price of {choice.strip() or 'a choice'}"
            choices.append({"name": choice.strip(),
                            "price": parse_money(price if equals else "0", label)})
        groups.append({"name": name.strip(), "choices": choices})
    return check_options(groups)


def _option_name(value: Any, label: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{label} must be text.", field="options")
    return validation.text(value, label, max_len=OPTION_NAME_LEN)


def check_options(groups: Any) -> list[dict[str, Any]]:
    """Up to 5 groups of 1 to 20 choices, every name given and unique where it must be,
    every price a whole number of minor units, none negative."""
    if not isinstance(groups, list):
        raise Invalid("Options must be a list of groups.", field="options")
    if len(groups) > MAX_OPTION_GROUPS:
        raise Invalid(f"An item takes at most {MAX_OPTION_GROUPS} option groups.",
                      field="options")
    clean, seen = [], set()
    for group in groups:
        if not isinstance(group, dict):
            raise Invalid("Options must be a list of groups.", field="options")
        name = _option_name(group.get("name"), "Option group name")
        if name.lower() in seen:
            raise Invalid(f"There are two option groups called {name}.", field="options")
        seen.add(name.lower())
        choices = group.get("choices")
        if not isinstance(choices, list) or not choices:
            raise Invalid(f"The option group {name} needs at least one choice.",
                          field="options")
        if len(choices) > MAX_CHOICES:
            raise Invalid(f"The option group {name} has more than {MAX_CHOICES} choices.",
                          field="options")
        clean_choices, names = [], set()
        for choice in choices:
            if not isinstance(choice, dict):
                raise Invalid(f"The option group {name} has a malformed choice.",
                              field="options")
            choice_name = _option_name(choice.get("name"), f"Every choice of {name}: a name")
            if choice_name.lower() in names:
                raise Invalid(f"The option group {name} lists {choice_name} twice.",
                              field="options")
            names.add(choice_name.lower())
            price = choice.get("price", 0)
            if isinstance(price, bool) or not isinstance(price, int) or not (
                    0 <= price <= 100_000_000):
                raise Invalid(f"The price of {choice_name} must be 0 or more.",
                              field="options")
            clean_choices.append({"name": choice_name, "price": price})
        clean.append({"name": name, "choices": clean_choices})
    return clean


def _check_contents(session: Session, photographer_id: int, list_id: int,
                    contents: list[tuple[int, int]], self_id: int | None) -> list[dict]:
    if not contents:
        raise Invalid("A package needs at least one item: give a quantity to one or more.",
                      field="contents")
    if len(contents) > MAX_PACKAGE_PARTS:
        raise Invalid(f"A package holds at most {MAX_PACKAGE_PARTS} different items.",
                      field="contents")
    ids = [item_id for item_id, _ in contents]
    if len(set(ids)) != len(ids):
        raise Invalid("A package lists the same item twice.", field="contents")
    for _, qty in contents:
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QUANTITY:
            raise Invalid(f"Quantities in a package must be from 1 to {MAX_QUANTITY}.",
                          field="contents")
    found = {item.id: item for item in session.scalars(select(PriceItem).where(
        PriceItem.id.in_(ids), PriceItem.price_list_id == list_id,
        PriceItem.photographer_id == photographer_id))}
    if len(found) != len(ids):
        raise Invalid("A package can only hold items of its own price list.",
                      field="contents")
    if any(item.kind == "package" or item.id == self_id for item in found.values()):
        raise Invalid("A package cannot hold another package.", field="contents")
    return [{"item_id": item_id, "quantity": qty} for item_id, qty in contents]


def _apply_item(session: Session, photographer_id: int, item: PriceItem,
                form: ItemForm) -> None:
    """Check the whole form, then set the item's fields (nothing is set on a bad form)."""
    name = validation.text(form.name, "Name", max_len=120)
    description = validation.text(form.description, "Description", max_len=500,
                                  required=False)
    price = parse_money(form.price, "Price")
    options: list[dict[str, Any]] = []
    raw = form.options
    if raw and (not isinstance(raw, str) or raw.strip()):
        if item.kind not in ("print", "product"):
            raise Invalid("Only prints and products take options.", field="options")
        options = parse_options(raw) if isinstance(raw, str) else check_options(raw)
    scope = None
    if item.kind == "digital":
        if form.digital_scope not in DIGITAL_SCOPES:
            raise Invalid("Pick what the download is: one photo at web size, one photo at "
                          "full size, or the whole gallery.", field="digital_scope")
        scope = form.digital_scope
    contents: list[dict] = []
    if item.kind == "package":
        contents = _check_contents(session, photographer_id, item.price_list_id,
                                   list(form.contents), item.id)
    elif form.contents:
        raise Invalid("Only packages hold other items.", field="contents")
    item.name, item.description, item.price = name, description, price
    item.options, item.digital_scope, item.contents = options, scope, contents


def _touch(session: Session, photographer_id: int, list_id: int) -> None:
    session.execute(update(PriceList).where(
        PriceList.id == list_id, PriceList.photographer_id == photographer_id,
    ).values(updated_at=utcnow()))


def add_item(session: Session, photographer_id: int, list_id: int,
             form: ItemForm) -> PriceItem:
    price_list = find_price_list(session, photographer_id, list_id)
    if form.kind not in ITEM_KINDS:
        raise Invalid(f"Kind must be one of: {', '.join(ITEM_KINDS)}.", field="kind")
    count, last = session.execute(
        select(func.count(), func.max(PriceItem.position)).where(
            PriceItem.price_list_id == price_list.id,
            PriceItem.photographer_id == photographer_id)).one()
    if count >= MAX_ITEMS_PER_LIST:
        raise Invalid(f"A price list holds at most {MAX_ITEMS_PER_LIST} items.")
    item = PriceItem(photographer_id=photographer_id, price_list_id=price_list.id,
                     kind=form.kind, position=(last or 0) + 1)
    _apply_item(session, photographer_id, item, form)
    session.add(item)
    _touch(session, photographer_id, price_list.id)
    session.flush()
    return item


def update_item(session: Session, photographer_id: int, list_id: int, item_id: int,
                form: ItemForm) -> PriceItem:
    """Edit an item; its kind stays what it was made as."""
    item = find_item(session, photographer_id, list_id, item_id)
    _apply_item(session, photographer_id, item, form)
    _touch(session, photographer_id, list_id)
    session.flush()
    return item


def packages_holding(session: Session, photographer_id: int, list_id: int,
                     item_id: int) -> list[PriceItem]:
    packages = session.scalars(select(PriceItem).where(
        PriceItem.photographer_id == photographer_id, PriceItem.price_list_id == list_id,
        PriceItem.kind == "package"))
    return [p for p in packages
            if any(int(part["item_id"]) == item_id for part in p.contents or [])]


def delete_item(session: Session, photographer_id: int, list_id: int, item_id: int) -> None:
    """Delete an item, unless a package holds it (take it out of the package first)."""
    item = find_item(session, photographer_id, list_id, item_id)
    holders = packages_holding(session, photographer_id, list_id, item.id)
    if holders:
        names = ", ".join(p.name for p in holders)
        raise Invalid(f"{item.name} is part of the package {names}: take it out of the "
                      "package first.")
    session.delete(item)
    _touch(session, photographer_id, list_id)
    session.flush()


def move_item(session: Session, photographer_id: int, list_id: int, item_id: int,
              direction: str) -> None:
    """Swap the item with its neighbour of the same kind (the editor lists each kind on
    its own), "up" or "down"."""
    if direction not in ("up", "down"):
        raise Invalid("Move an item up or down.", field="direction")
    item = find_item(session, photographer_id, list_id, item_id)
    items = items_of(session, photographer_id, list_id)
    for position, row in enumerate(items):  # distinct positions, in the current order
        row.position = position
    same = [row for row in items if row.kind == item.kind]
    index = same.index(item) + (-1 if direction == "up" else 1)
    if 0 <= index < len(same):
        other = same[index]
        item.position, other.position = other.position, item.position
    _touch(session, photographer_id, list_id)
    session.flush()


# --- coupons -------------------------------------------------------------------------------


@dataclass
class CouponForm:
    code: str = ""
    kind: str = "percent"
    amount: str = ""  # percent: whole percent; fixed: an amount such as 10.00
    min_order: str = ""
    expires_on: str = ""  # a date; the coupon works through the end of that day (UTC)
    once_per_contact: bool = False
    active: bool = True


def normalize_code(value: str) -> str:
    """" spring-10 " → "SPRING-10"; Invalid unless letters, digits and hyphens (2-40)."""
    code = (value or "").strip().upper()
    if not _CODE.fullmatch(code):
        raise Invalid("A coupon code uses letters, digits and hyphens only (2 to 40 "
                      "characters), e.g. SPRING-10.", field="code")
    return code


def find_coupon(session: Session, photographer_id: int, coupon_id: int) -> Coupon:
    found = session.scalar(select(Coupon).where(
        Coupon.id == coupon_id, Coupon.photographer_id == photographer_id))
    if found is None:
        raise NotFound("No such coupon.")
    return found


async def coupons(session: AsyncSession, photographer_id: int) -> list[dict[str, Any]]:
    """Every coupon with how many orders used it, newest first."""
    rows = list(await session.scalars(
        select(Coupon).where(Coupon.photographer_id == photographer_id)
        .order_by(Coupon.created_at.desc(), Coupon.id.desc())))
    uses = dict((await session.execute(
        select(CouponUse.coupon_id, func.count())
        .where(CouponUse.photographer_id == photographer_id)
        .group_by(CouponUse.coupon_id))).all())
    return [{"coupon": c, "uses": uses.get(c.id, 0)} for c in rows]


def _end_of_day(value: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid("Expiry date must be a date like 2026-06-30.", field="expires_on") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _apply_coupon(session: Session, photographer_id: int, coupon: Coupon,
                  form: CouponForm) -> None:
    code = normalize_code(form.code)
    if form.kind not in COUPON_KINDS:
        raise Invalid("Pick a percentage or a fixed amount off.", field="kind")
    if form.kind == "percent":
        text = (form.amount or "").strip().removesuffix("%").strip()
        if not (re.fullmatch(r"[0-9]{1,3}", text) and 1 <= int(text) <= 100):
            raise Invalid("A percentage off must be a whole number from 1 to 100.",
                          field="amount")
        amount = int(text)
    else:
        amount = parse_money(form.amount, "Amount")
        if amount <= 0:
            raise Invalid("A fixed amount off must be more than 0.", field="amount")
    min_order = parse_money(form.min_order, "Minimum order") if (
        form.min_order or "").strip() else 0
    expires_at = _end_of_day(form.expires_on)
    taken = session.scalar(select(Coupon.id).where(
        Coupon.photographer_id == photographer_id, Coupon.code == code,
        Coupon.id != (coupon.id or 0)))
    if taken is not None:
        raise Invalid(f"You already have a coupon with the code {code}.", field="code")
    coupon.code, coupon.kind, coupon.amount = code, form.kind, amount
    coupon.min_order, coupon.expires_at = min_order, expires_at
    coupon.once_per_contact, coupon.active = bool(form.once_per_contact), bool(form.active)


def create_coupon(session: Session, photographer_id: int, form: CouponForm) -> Coupon:
    count = session.scalar(select(func.count()).select_from(Coupon).where(
        Coupon.photographer_id == photographer_id))
    if count >= MAX_COUPONS:
        raise Invalid(f"You can have at most {MAX_COUPONS} coupons: delete old ones first.")
    coupon = Coupon(photographer_id=photographer_id)
    _apply_coupon(session, photographer_id, coupon, form)
    session.add(coupon)
    session.flush()
    return coupon


def update_coupon(session: Session, photographer_id: int, coupon_id: int,
                  form: CouponForm) -> Coupon:
    coupon = find_coupon(session, photographer_id, coupon_id)
    _apply_coupon(session, photographer_id, coupon, form)
    session.flush()
    return coupon


def set_coupon_active(session: Session, photographer_id: int, coupon_id: int,
                      active: bool) -> Coupon:
    coupon = find_coupon(session, photographer_id, coupon_id)
    coupon.active = bool(active)
    session.flush()
    return coupon


def delete_coupon(session: Session, photographer_id: int, coupon_id: int) -> None:
    """Delete a coupon no order has used; a used one is deactivated instead, so its
    orders and its once-per-client record stay."""
    coupon = find_coupon(session, photographer_id, coupon_id)
    used = session.scalar(select(func.count()).select_from(CouponUse).where(
        CouponUse.coupon_id == coupon.id, CouponUse.photographer_id == photographer_id))
    if used:
        raise Invalid(f"{coupon.code} is on {used} order{'s' if used != 1 else ''}: "
                      "deactivate it instead.")
    session.delete(coupon)
    session.flush()


# --- which price list a gallery sells from -------------------------------------------------


def set_gallery_type_price_list(session: Session, photographer_id: int, type_id: int,
                                price_list_id: int | None) -> GalleryType:
    """The default price list of a gallery type's galleries (None: none)."""
    gallery_type = session.scalar(select(GalleryType).where(
        GalleryType.id == type_id, GalleryType.photographer_id == photographer_id))
    if gallery_type is None:
        raise NotFound("No such gallery type.")
    if price_list_id is not None:
        find_price_list(session, photographer_id, price_list_id)
    gallery_type.price_list_id = price_list_id
    session.flush()
    return gallery_type


def chosen_price_list(session: Session, photographer_id: int, value: str) -> int | None:
    """A gallery's own price list as its editor posts it: "" for its type's default, else
    the id of one of the photographer's lists (anything else: a clear 400)."""
    value = (value or "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[0-9]{1,10}", value) or not 0 < int(value) < 2**31:
        raise Invalid("Pick a price list from the list.", field="price_list_id")
    owned = session.scalar(select(PriceList.id).where(
        PriceList.id == int(value), PriceList.photographer_id == photographer_id))
    if owned is None:
        raise Invalid("Pick a price list from the list.", field="price_list_id")
    return owned
