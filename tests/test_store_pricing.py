"""server/store/pricing.py as a spec a reader can check by hand (store issue #12).

Pure arithmetic on integer minor units: no server, no database. Every table row states the
inputs and the figure worked out by hand in the comment beside it; "half up" means .5 of a
cent goes to the next cent, once per figure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.errors import Invalid
from server.store.pricing import (
    CURRENCIES,
    MAX_LINES,
    MAX_QUANTITY,
    CouponTerms,
    Line,
    PricingError,
    Terms,
    Totals,
    discount,
    money,
    package_slots,
    parse_money,
    quantity,
    totals,
    unit_price,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- unit_price

OPTIONS = [
    {"name": "Paper", "choices": [{"name": "Lustre", "price": 0},
                                  {"name": "Metallic", "price": 300}]},
    {"name": "Frame", "choices": [{"name": "None", "price": 0},
                                  {"name": "Black", "price": 2500}]},
]


@pytest.mark.parametrize(("base", "options", "choices", "price", "text"), [
    # 15.00 + 0 + 0
    (1500, OPTIONS, {"Paper": "Lustre", "Frame": "None"}, 1500, "Paper: Lustre · Frame: None"),
    # 15.00 + 3.00 + 25.00 = 43.00
    (1500, OPTIONS, {"Paper": "Metallic", "Frame": "Black"}, 4300,
     "Paper: Metallic · Frame: Black"),
    # 15.00 + 3.00 + 0; text follows the price list's order, not the browser's
    (1500, OPTIONS, {"Frame": "None", "Paper": "Metallic"}, 1800,
     "Paper: Metallic · Frame: None"),
    # an item without options: the base price and no text
    (999, [], {}, 999, ""),
], ids=["base-only", "both-deltas", "text-in-list-order", "no-options"])
def test_unit_price(base, options, choices, price, text):
    assert unit_price(base, options, choices) == (price, text)


@pytest.mark.parametrize(("choices", "message"), [
    ({"Paper": "Lustre"}, "Choose a frame from the list."),  # a group left out
    ({"Paper": "Lustre", "Frame": "None", "Size": "A4"}, "This item has no option 'Size'."),
    ({"Paper": "Glossy", "Frame": "None"}, "Choose a paper from the list."),  # unknown choice
    ({"Paper": None, "Frame": "None"}, "Choose a paper from the list."),
    # the browser cannot hand in its own price for a choice
    ({"Paper": {"name": "Metallic", "price": 0}, "Frame": "None"},
     "Choose a paper from the list."),
    (["Lustre", "None"], "Options must be a set of choices."),  # not a dict
    ("Paper: Lustre", "Options must be a set of choices."),
    (None, "Options must be a set of choices."),
], ids=["missing-group", "unknown-group", "unknown-choice", "null-choice", "choice-as-object",
        "list", "string", "none"])
def test_unit_price_rejects(choices, message):
    with pytest.raises(PricingError) as caught:
        unit_price(1500, OPTIONS, choices)
    assert caught.value.message == message
    assert caught.value.field == "choices"
    assert isinstance(caught.value, Invalid)  # a 400, not a 500


# --------------------------------------------------------------------------- quantity

@pytest.mark.parametrize("value", [1, 2, 40, MAX_QUANTITY])
def test_quantity_accepted(value):
    assert MAX_QUANTITY == 99
    assert quantity(value) == value


@pytest.mark.parametrize(("value", "message"), [
    (0, "Quantity must be between 1 and 99."),
    (-1, "Quantity must be between 1 and 99."),
    (100, "Quantity must be between 1 and 99."),
    (True, "Quantity must be a whole number."),  # bool is an int in Python; not here
    (False, "Quantity must be a whole number."),
    ("2", "Quantity must be a whole number."),
    (1.5, "Quantity must be a whole number."),
    (2.0, "Quantity must be a whole number."),
    (None, "Quantity must be a whole number."),
])
def test_quantity_rejected(value, message):
    with pytest.raises(PricingError) as caught:
        quantity(value)
    assert caught.value.message == message
    assert caught.value.field == "quantity"


# --------------------------------------------------------------------------- package_slots

KINDS = {1: ("print", None), 2: ("product", None), 3: ("digital", "web"),
         4: ("digital", "full"), 5: ("digital", "gallery"), 6: ("package", None)}


def part(item_id, qty):
    return {"item_id": item_id, "quantity": qty}


@pytest.mark.parametrize(("contents", "slots"), [
    ([part(1, 3)], 3),  # three prints: three photos
    ([part(2, 2)], 2),  # two products
    ([part(3, 1)], 1),  # a web digital
    ([part(4, 2)], 2),  # two full-resolution digitals
    ([part(5, 1)], 0),  # the whole gallery needs no pick
    ([part(1, 3), part(2, 1), part(3, 2), part(4, 1), part(5, 1)], 7),  # 3+1+2+1+0
    ([part(99, 4)], 0),  # an item no longer in the price list counts nothing
    ([part("1", "3")], 3),  # ids and quantities as JSON strings
    ([], 0),
], ids=["prints", "products", "web", "full", "gallery", "mixed", "unknown-item",
        "string-ids", "empty"])
def test_package_slots(contents, slots):
    assert package_slots(contents, KINDS) == slots


# --------------------------------------------------------------------------- discount

def coupon(kind="percent", amount=10, **fields):
    return CouponTerms(code="SPRING", kind=kind, amount=amount, **fields)


@pytest.mark.parametrize(("terms", "subtotal", "off"), [
    (coupon("percent", 10), 1250, 125),  # 10 % of 12.50 = 1.25 exactly
    (coupon("percent", 10), 1005, 101),  # 100.5 → 101 (half up)
    (coupon("percent", 10), 1004, 100),  # 100.4 → 100
    (coupon("percent", 15), 999, 150),  # 149.85 → 150
    (coupon("percent", 25), 10, 3),  # 2.5 → 3
    (coupon("percent", 100), 4321, 4321),
    (coupon("percent", 150), 1000, 1000),  # never more than the subtotal
    (coupon("fixed", 500), 2000, 500),
    (coupon("fixed", 2000), 2000, 2000),
    (coupon("fixed", 5000), 2000, 2000),  # 50.00 off a 20.00 order takes 20.00
    (coupon("fixed", 500, min_order=5000), 5000, 500),  # exactly the minimum applies
    (coupon(expires_at=NOW + timedelta(seconds=1)), 1000, 100),  # not expired yet
    (coupon(once_per_contact=True), 1000, 100),  # once, not used yet
], ids=["percent", "percent-half-up", "percent-below-half", "percent-15", "percent-tiny",
        "percent-all", "percent-over-100", "fixed", "fixed-equal", "fixed-capped",
        "min-order-met", "expires-later", "once-unused"])
def test_discount(terms, subtotal, off):
    assert discount(terms, subtotal, NOW, used_before=False) == off


def test_discount_used_before_only_matters_once_per_contact():
    assert discount(coupon(once_per_contact=False), 1000, NOW, used_before=True) == 100


@pytest.mark.parametrize(("terms", "subtotal", "used_before", "currency", "message"), [
    (coupon(expires_at=NOW), 1000, False, "USD", "The coupon SPRING has expired."),  # == now
    (coupon(expires_at=NOW - timedelta(days=1)), 1000, False, "USD",
     "The coupon SPRING has expired."),
    (coupon(active=False), 1000, False, "USD", "The coupon SPRING is no longer valid."),
    (coupon(once_per_contact=True), 1000, True, "USD",
     "You have already used the coupon SPRING."),
    (coupon(min_order=5000), 4999, False, "USD",
     "The coupon SPRING needs an order of at least $50.00."),
    (coupon(min_order=123456), 100, False, "USD",
     "The coupon SPRING needs an order of at least $1,234.56."),
    (coupon(min_order=5000), 4999, False, "EUR",
     "The coupon SPRING needs an order of at least €50.00."),
], ids=["expires-now", "expired", "inactive", "once-used", "below-min", "below-min-thousands",
        "below-min-eur"])
def test_discount_rejected(terms, subtotal, used_before, currency, message):
    with pytest.raises(PricingError) as caught:
        discount(terms, subtotal, NOW, used_before, currency)
    assert caught.value.message == message
    assert caught.value.field == "coupon"


# --------------------------------------------------------------------------- totals

SHIP = 795  # flat shipping 7.95 in the rows that charge it


def print_(unit, qty=1):
    return Line(unit_price=unit, quantity=qty, physical=True)


def digital(unit, qty=1):
    return Line(unit_price=unit, quantity=qty, physical=False)


@pytest.mark.parametrize(("lines", "terms", "off", "expected"), [
    # ---- tax added on top: tax = taxable × rate, half up; total = taxable + tax + shipping
    # 100.00 at 8.25 % → 8.25
    ([digital(10000)], Terms(tax_rate_bp=825), 0,
     Totals(subtotal=10000, discount=0, tax=825, shipping=0, total=10825, physical=False)),
    # 10.00 at 8.25 % → 0.825 → 0.83
    ([digital(1000)], Terms(tax_rate_bp=825), 0,
     Totals(subtotal=1000, discount=0, tax=83, shipping=0, total=1083, physical=False)),
    # 2 × 25.00 = 50.00, −10.00 → 40.00 taxable, 8.25 % → 3.30
    ([digital(2500, 2)], Terms(tax_rate_bp=825), 1000,
     Totals(subtotal=5000, discount=1000, tax=330, shipping=0, total=4330, physical=False)),
    # shipping is not taxed: 100.00 + 8.25 tax + 7.95 shipping
    ([print_(10000)], Terms(tax_rate_bp=825, shipping_flat=SHIP), 0,
     Totals(subtotal=10000, discount=0, tax=825, shipping=795, total=11620, physical=True)),
    # 3 × 19.99 = 59.97, −5.97 → 54.00; 8.25 % → 4.455 → 4.46; + 7.95 (under 100.00 free)
    ([print_(1999, 3)], Terms(tax_rate_bp=825, shipping_flat=SHIP, free_shipping_over=10000),
     597, Totals(subtotal=5997, discount=597, tax=446, shipping=795, total=6641,
                 physical=True)),
    # ---- tax inclusive: prices hold the tax; tax = taxable × rate / (1 + rate); total as is
    # 108.25 incl. 8.25 % → 108.25 × 825 / 10825 = 8.25
    ([digital(10825)], Terms(tax_rate_bp=825, tax_inclusive=True), 0,
     Totals(subtotal=10825, discount=0, tax=825, shipping=0, total=10825, physical=False)),
    # 10.00 incl. 20 % → 10.00 × 2000 / 12000 = 1.6667 → 1.67; total stays 10.00
    ([digital(1000)], Terms(tax_rate_bp=2000, tax_inclusive=True), 0,
     Totals(subtotal=1000, discount=0, tax=167, shipping=0, total=1000, physical=False)),
    # 120.00 − 12.00 = 108.00 incl. 20 % → 18.00; + 7.95 shipping, untaxed
    ([print_(6000, 2)], Terms(tax_rate_bp=2000, tax_inclusive=True, shipping_flat=SHIP), 1200,
     Totals(subtotal=12000, discount=1200, tax=1800, shipping=795, total=11595,
            physical=True)),
    # ---- shipping: flat only when something ships
    ([print_(2000)], Terms(shipping_flat=SHIP), 0,
     Totals(subtotal=2000, discount=0, tax=0, shipping=795, total=2795, physical=True)),
    ([digital(2000), digital(500)], Terms(shipping_flat=SHIP), 0,
     Totals(subtotal=2500, discount=0, tax=0, shipping=0, total=2500, physical=False)),
    ([digital(2000), print_(500)], Terms(shipping_flat=SHIP), 0,
     Totals(subtotal=2500, discount=0, tax=0, shipping=795, total=3295, physical=True)),
    # free over 50.00: 60.00 − 10.00 = 50.00, exactly the threshold → free
    ([print_(3000, 2)], Terms(shipping_flat=SHIP, free_shipping_over=5000), 1000,
     Totals(subtotal=6000, discount=1000, tax=0, shipping=0, total=5000, physical=True)),
    # 60.00 − 10.01 = 49.99, a cent under after the discount → shipping
    ([print_(3000, 2)], Terms(shipping_flat=SHIP, free_shipping_over=5000), 1001,
     Totals(subtotal=6000, discount=1001, tax=0, shipping=795, total=5794, physical=True)),
    # 49.99 without a discount → shipping; 50.00 → free
    ([print_(4999)], Terms(shipping_flat=SHIP, free_shipping_over=5000), 0,
     Totals(subtotal=4999, discount=0, tax=0, shipping=795, total=5794, physical=True)),
    ([print_(5000)], Terms(shipping_flat=SHIP, free_shipping_over=5000), 0,
     Totals(subtotal=5000, discount=0, tax=0, shipping=0, total=5000, physical=True)),
    # ---- the discount never exceeds the subtotal, never goes negative
    ([digital(1500)], Terms(tax_rate_bp=825), 5000,
     Totals(subtotal=1500, discount=1500, tax=0, shipping=0, total=0, physical=False)),
    ([print_(1500)], Terms(tax_rate_bp=825, shipping_flat=SHIP), 5000,  # shipping still owed
     Totals(subtotal=1500, discount=1500, tax=0, shipping=795, total=795, physical=True)),
    ([digital(1500)], Terms(), -200,
     Totals(subtotal=1500, discount=0, tax=0, shipping=0, total=1500, physical=False)),
    # ---- an empty cart
    ([], Terms(tax_rate_bp=825, shipping_flat=SHIP), 0,
     Totals(subtotal=0, discount=0, tax=0, shipping=0, total=0, physical=False)),
], ids=["added-tax", "added-tax-half-up", "added-tax-after-discount", "shipping-untaxed",
        "added-everything", "inclusive", "inclusive-rounding", "inclusive-with-shipping",
        "physical-ships", "digital-only-no-shipping", "mixed-ships", "free-at-threshold",
        "cent-under-threshold", "under-threshold-no-discount", "at-threshold-no-discount",
        "discount-capped", "discount-capped-shipping-owed", "negative-discount",
        "empty"])
def test_totals(lines, terms, off, expected):
    got = totals(lines, terms, off)
    assert got == expected
    # the parts always add up
    tax_on_top = 0 if terms.tax_inclusive else got.tax
    assert got.total == got.subtotal - got.discount + tax_on_top + got.shipping


def test_inclusive_tax_leaves_the_total_alone():
    lines = [print_(3333, 3), digital(1250)]
    without = totals(lines, Terms(shipping_flat=SHIP), 500)
    with_tax = totals(lines, Terms(tax_rate_bp=1900, tax_inclusive=True, shipping_flat=SHIP),
                      500)
    assert with_tax.total == without.total
    assert with_tax.tax > 0 and without.tax == 0


def test_totals_line_limit():
    assert MAX_LINES == 100
    assert totals([digital(100)] * MAX_LINES, Terms()).subtotal == 10000
    with pytest.raises(PricingError) as caught:
        totals([digital(100)] * (MAX_LINES + 1), Terms())
    assert caught.value.message == "A cart holds at most 100 lines."


# --------------------------------------------------------------------------- money

@pytest.mark.parametrize(("minor", "currency", "text"), [
    (123456, "USD", "$1,234.56"),
    (-123456, "USD", "-$1,234.56"),
    (-5, "GBP", "-£0.05"),
    (5, "USD", "$0.05"),
    (0, "USD", "$0.00"),
    (None, "USD", "$0.00"),
    (100000000, "EUR", "€1,000,000.00"),
    (410, "CAD", "CA$4.10"),
    (1999, "CHF", "CHF 19.99"),
    (1234, "JPY", "JPY 12.34"),  # unknown currency: its code in front
])
def test_money(minor, currency, text):
    assert money(minor, currency) == text


def test_money_defaults_to_usd():
    assert money(2500) == "$25.00"


@pytest.mark.parametrize(("text", "minor"), [
    ("12.5", 1250),
    ("12.50", 1250),
    ("12", 1200),
    ("12.", 1200),
    ("$1,200", 120000),
    ("0.05", 5),
    ("0", 0),
    (" 7.99 ", 799),
    ("€3", 300),
    ("CA$4.10", 410),
    ("NZ$4.10", 410),
    ("1,000,000.00", 100000000),  # the largest amount accepted
])
def test_parse_money(text, minor):
    assert parse_money(text, "Price") == minor


@pytest.mark.parametrize(("text", "message"), [
    ("-1", "Price must be an amount such as 12.50."),
    ("-$1", "Price must be an amount such as 12.50."),
    ("abc", "Price must be an amount such as 12.50."),
    ("1.234", "Price must be an amount such as 12.50."),
    ("1.2.3", "Price must be an amount such as 12.50."),
    ("12.5a", "Price must be an amount such as 12.50."),
    ("1e3", "Price must be an amount such as 12.50."),
    ("", "Price must be an amount such as 12.50."),
    ("   ", "Price must be an amount such as 12.50."),
    (None, "Price must be an amount such as 12.50."),
    ("$", "Price must be an amount such as 12.50."),
    (".", "Price must be an amount such as 12.50."),
    ("1000000.01", "Price is too large."),
    ("99999999999999999999", "Price is too large."),
    ("9" * 5000, "Price must be an amount such as 12.50."),  # past int()'s digit limit
])
def test_parse_money_rejects(text, message):
    with pytest.raises(Invalid) as caught:
        parse_money(text, "Price")
    assert caught.value.message == message
    assert caught.value.field == "price"


@pytest.mark.parametrize("currency", sorted(CURRENCIES))
@pytest.mark.parametrize("minor", [0, 5, 1250, 123456])
def test_parse_money_reads_what_money_writes(currency, minor):
    assert parse_money(money(minor, currency), "Price") == minor
