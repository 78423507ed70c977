"""Prices, discounts, tax and shipping: pure arithmetic on integer minor units.

Nothing here reads the database or trusts the browser: carts and orders hand in the
price list's own items and the studio's settings, and get back what a line costs and
what the order totals are. Rounding is half up, once per figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import Invalid

#: Per line; a cart of a school's 40 siblings still fits, a typo of 1000 does not.
MAX_QUANTITY = 99
MAX_LINES = 100
#: Kinds that need shipping (a package does when anything in it does).
PHYSICAL = frozenset({"print", "product"})
CURRENCIES = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$",
              "CHF": "CHF ", "SEK": "SEK ", "NOK": "NOK ", "DKK": "DKK "}


class PricingError(Invalid):
    """A cart line or coupon the price list does not allow (a clear 400)."""


@dataclass(frozen=True)
class Terms:
    """The studio's store settings that every total depends on."""

    currency: str = "USD"
    tax_rate_bp: int = 0  # basis points: 825 = 8.25 %
    tax_inclusive: bool = False
    shipping_flat: int = 0
    free_shipping_over: int | None = None


@dataclass(frozen=True)
class Line:
    unit_price: int
    quantity: int
    physical: bool

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Totals:
    subtotal: int
    discount: int
    tax: int
    shipping: int
    total: int
    physical: bool  # whether the order ships (and needs an address)


def round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def quantity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PricingError("Quantity must be a whole number.", field="quantity")
    if not 1 <= value <= MAX_QUANTITY:
        raise PricingError(f"Quantity must be between 1 and {MAX_QUANTITY}.", field="quantity")
    return value


def unit_price(base: int, options: Sequence[Mapping],
               choices: Mapping[str, Any]) -> tuple[int, str]:
    """The price of one unit with one choice per option group, and the choices as text
    ("Paper: Lustre · Frame: Black"). Every group must be chosen; nothing else may be."""
    if not isinstance(choices, Mapping):
        raise PricingError("Options must be a set of choices.", field="choices")
    groups = {group["name"]: group for group in options}
    unknown = set(choices) - set(groups)
    if unknown:
        raise PricingError(f"This item has no option {sorted(unknown)[0]!r}.", field="choices")
    price, picked = base, []
    for name, group in groups.items():
        wanted = choices.get(name)
        match = next((c for c in group["choices"] if c["name"] == wanted), None)
        if match is None:
            raise PricingError(f"Choose a {name.lower()} from the list.", field="choices")
        price += int(match["price"])
        picked.append(f"{name}: {match['name']}")
    return price, " · ".join(picked)


def package_slots(contents: Iterable[Mapping], kinds: Mapping[int, tuple[str, str | None]]) -> int:
    """How many photos a client picks for a package: one per unit of anything made from
    a single photo (a whole-gallery digital needs none). `kinds`: item id → (kind, scope)."""
    slots = 0
    for part in contents:
        kind, scope = kinds.get(int(part["item_id"]), ("", None))
        if kind in PHYSICAL or (kind == "digital" and scope != "gallery"):
            slots += int(part["quantity"])
    return slots


def is_physical(kind: str, content_kinds: Iterable[str] = ()) -> bool:
    return kind in PHYSICAL or (kind == "package" and any(k in PHYSICAL for k in content_kinds))


@dataclass(frozen=True)
class CouponTerms:
    code: str
    kind: str  # percent | fixed
    amount: int
    min_order: int = 0
    expires_at: datetime | None = None
    once_per_contact: bool = False
    active: bool = True


def discount(coupon: CouponTerms, subtotal: int, now: datetime, used_before: bool,
             currency: str = "USD") -> int:
    """What the coupon takes off this subtotal; PricingError says why it does not apply."""
    if not coupon.active:
        raise PricingError(f"The coupon {coupon.code} is no longer valid.", field="coupon")
    if coupon.expires_at is not None and coupon.expires_at <= now:
        raise PricingError(f"The coupon {coupon.code} has expired.", field="coupon")
    if coupon.once_per_contact and used_before:
        raise PricingError(f"You have already used the coupon {coupon.code}.", field="coupon")
    if subtotal < coupon.min_order:
        raise PricingError(f"The coupon {coupon.code} needs an order of at least "
                           f"{money(coupon.min_order, currency)}.", field="coupon")
    if coupon.kind == "percent":
        return min(subtotal, round_half_up(subtotal * coupon.amount, 100))
    return min(subtotal, coupon.amount)


def totals(lines: Sequence[Line], terms: Terms, discount_amount: int = 0) -> Totals:
    """Subtotal, discount, tax, shipping and total. Shipping is not taxed; with inclusive
    tax the prices already hold it and `tax` is the part of the total that is tax."""
    if len(lines) > MAX_LINES:
        raise PricingError(f"A cart holds at most {MAX_LINES} lines.")
    subtotal = sum(line.total for line in lines)
    discount_amount = max(0, min(discount_amount, subtotal))
    taxable = subtotal - discount_amount
    physical = any(line.physical for line in lines)
    free = terms.free_shipping_over is not None and taxable >= terms.free_shipping_over
    shipping = terms.shipping_flat if physical and not free else 0
    if terms.tax_inclusive:
        tax = round_half_up(taxable * terms.tax_rate_bp, 10000 + terms.tax_rate_bp)
        total = taxable + shipping
    else:
        tax = round_half_up(taxable * terms.tax_rate_bp, 10000)
        total = taxable + tax + shipping
    return Totals(subtotal, discount_amount, tax, shipping, total, physical)


def money(minor: int | None, currency: str = "USD") -> str:
    """12345, "USD" → "$123.45" (a template filter)."""
    minor = int(minor or 0)
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    symbol = CURRENCIES.get(currency, f"{currency} ")
    return f"{sign}{symbol}{whole:,}.{cents:02d}"


def parse_money(text: str, label: str) -> int:
    """"12.5" / "12.50" / "1,200" → minor units; refuses negatives and absurd amounts."""
    cleaned = (text or "").strip().replace(",", "")
    for symbol in CURRENCIES.values():
        cleaned = cleaned.removeprefix(symbol.strip()).lstrip()
    try:
        whole, _, frac = cleaned.partition(".")
        if not (whole.isascii() and frac.isascii()) or (
                not whole.isdigit() and not (whole == "" and frac)) or len(frac) > 2 or (
                frac and not frac.isdigit()):
            raise ValueError
        value = int(whole or 0) * 100 + int((frac + "00")[:2])
    except ValueError:
        raise Invalid(f"{label} must be an amount such as 12.50.", field=label.lower()) from None
    if value > 100_000_000:
        raise Invalid(f"{label} is too large.", field=label.lower())
    return value
