"""The photographer's store pages: price lists and their items, coupons, store settings.

Every page reads through the tenant-scoped services of `server.store.catalog`; a POST is
one write unit, and a bad form comes back as the same page with the error and what was
typed (400), nothing changed."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..errors import Invalid
from ..models import utcnow
from ..store import catalog
from ..store.catalog import (
    COUPON_KINDS,
    KIND_LABELS,
    SCOPE_LABELS,
    CouponForm,
    ItemForm,
    SettingsForm,
    amount_text,
)
from ..store.models import ITEM_KINDS
from ..store.pricing import CURRENCIES, MAX_QUANTITY
from . import inputs
from .common import int_param, login_required, me_id, read_form, render, services, write

SAVED = {"settings": "Store settings saved.", "coupon": "Coupon saved.",
         "item": "Item saved.", "renamed": "Price list renamed.",
         "duplicated": "This is the copy: rename it and change what you need.",
         "deleted": "Price list deleted.", "coupon-deleted": "Coupon deleted."}


def _saved(request: Request) -> str | None:
    return SAVED.get(request.query_params.get("saved", ""))


def _list_url(list_id: int, saved: str = "") -> str:
    return f"/panel/store/price-lists/{list_id}" + (f"?saved={saved}" if saved else "")


@login_required
async def store_home(request: Request) -> Response:
    return RedirectResponse("/panel/store/price-lists", status_code=303)


# --- price lists ---------------------------------------------------------------------------


async def _lists_page(request: Request, error: str | None = None, form: Any = None,
                      status: int = 200) -> Response:
    async with services(request).db.reader() as session:
        lists = await catalog.price_lists(session, me_id(request))
    return render(request, "panel/store_price_lists.html", {
        "section": "store", "tab": "price-lists", "lists": lists, "error": error,
        "form": form or {}, "saved": _saved(request)}, status_code=status)


@login_required
async def price_lists_page(request: Request) -> Response:
    if request.method == "GET":
        return await _lists_page(request)
    form = await read_form(request)
    try:
        name = inputs.text(form, "name", "Name", max_len=120, required=True)
        created = await write(request, catalog.create_price_list, me_id(request), name)
    except Invalid as exc:
        return await _lists_page(request, exc.message, dict(form), status=400)
    return RedirectResponse(_list_url(created.id), status_code=303)


async def _editor(request: Request, list_id: int, error: str | None = None,
                  form: Any = None, status: int = 200) -> Response:
    pid = me_id(request)
    async with services(request).db.reader() as session:
        price_list = await session.run_sync(catalog.find_price_list, pid, list_id)
        items = await session.run_sync(catalog.list_items, pid, list_id)
        terms = await session.run_sync(catalog.terms_of, pid)
        usage = next((row for row in await catalog.price_lists(session, pid)
                      if row["list"].id == list_id), None)
    by_id = {item.id: item for item in items}
    groups = [(kind, KIND_LABELS[kind], [i for i in items if i.kind == kind])
              for kind in ITEM_KINDS]
    return render(request, "panel/store_price_list.html", {
        "section": "store", "tab": "price-lists", "price_list": price_list,
        "groups": groups, "by_id": by_id, "currency": terms.currency,
        "scopes": SCOPE_LABELS, "usage": usage, "error": error,
        "form": form or {"name": price_list.name}, "saved": _saved(request)},
        status_code=status)


@login_required
async def price_list_page(request: Request) -> Response:
    """The editor (GET); POST renames the list."""
    list_id = int_param(request, "list_id")
    if request.method == "GET":
        return await _editor(request, list_id)
    form = await read_form(request)
    try:
        name = inputs.text(form, "name", "Name", max_len=120, required=True)
        await write(request, catalog.rename_price_list, me_id(request), list_id, name)
    except Invalid as exc:
        return await _editor(request, list_id, exc.message, dict(form), status=400)
    return RedirectResponse(_list_url(list_id, "renamed"), status_code=303)


@login_required
async def price_list_duplicate(request: Request) -> Response:
    list_id = int_param(request, "list_id")
    await read_form(request)
    try:
        created = await write(request, catalog.duplicate_price_list, me_id(request), list_id)
    except Invalid as exc:
        return await _editor(request, list_id, exc.message, status=400)
    return RedirectResponse(_list_url(created.id, "duplicated"), status_code=303)


@login_required
async def price_list_delete(request: Request) -> Response:
    list_id = int_param(request, "list_id")
    await read_form(request)
    await write(request, catalog.delete_price_list, me_id(request), list_id)
    return RedirectResponse("/panel/store/price-lists?saved=deleted", status_code=303)


# --- items ---------------------------------------------------------------------------------


def _item_fields(item) -> dict[str, Any]:
    """An item as the form shows it (the same strings the form posts back)."""
    return {"name": item.name, "description": item.description,
            "price": amount_text(item.price), "options": catalog.options_text(item.options),
            "digital_scope": item.digital_scope or "",
            "contents": {int(p["item_id"]): str(p["quantity"]) for p in item.contents or []}}


def _posted_fields(form: FormData) -> dict[str, Any]:
    """What was typed, to show again with an error."""
    fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    ids, qtys = form.getlist("content_item"), form.getlist("content_qty")
    fields["contents"] = {int(i): q for i, q in zip(ids, qtys, strict=False)
                          if isinstance(i, str) and re.fullmatch(r"[0-9]{1,10}", i)
                          and isinstance(q, str)}
    return fields


def _contents(form: FormData) -> list[tuple[int, int]]:
    """The package editor's rows: an item id and a quantity each (blank or 0: not in the
    package)."""
    ids, qtys = form.getlist("content_item"), form.getlist("content_qty")
    if len(ids) != len(qtys) or len(ids) > catalog.MAX_ITEMS_PER_LIST:
        raise Invalid("The package's items did not arrive whole: reload and try again.")
    contents = []
    for raw_id, raw_qty in zip(ids, qtys, strict=True):
        item_id = inputs.row_id({"id": raw_id}, "id", "Pick items of this price list.")
        qty = inputs.number({"q": raw_qty}, "q", "Quantity", default=0, low=0,
                            high=MAX_QUANTITY)
        if qty:
            contents.append((item_id, qty))
    return contents


def _item_form(form: FormData, kind: str) -> ItemForm:
    return ItemForm(
        kind=kind,
        name=inputs.text(form, "name", "Name", max_len=120, required=True),
        description=inputs.text(form, "description", "Description", max_len=500),
        price=inputs.text(form, "price", "Price", max_len=20, required=True),
        options=inputs.text(form, "options", "Options", max_len=8000),
        digital_scope=inputs.text(form, "digital_scope", "Download", max_len=20),
        contents=_contents(form),  # only a package's editor sends rows
    )


async def _item_page(request: Request, list_id: int, item_id: int | None, kind: str,
                     error: str | None = None, form: Any = None,
                     status: int = 200) -> Response:
    pid = me_id(request)
    async with services(request).db.reader() as session:
        price_list = await session.run_sync(catalog.find_price_list, pid, list_id)
        item = (await session.run_sync(catalog.find_item, pid, list_id, item_id)
                if item_id is not None else None)
        items = await session.run_sync(catalog.list_items, pid, list_id)
        terms = await session.run_sync(catalog.terms_of, pid)
    if item is not None:
        kind = item.kind
    parts = [i for i in items if i.kind != "package" and (item is None or i.id != item.id)]
    if form is None:
        form = _item_fields(item) if item is not None else {
            "price": "", "options": "", "contents": {},
            "digital_scope": "full" if kind == "digital" else ""}
    return render(request, "panel/store_item.html", {
        "section": "store", "tab": "price-lists", "price_list": price_list, "item": item,
        "kind": kind, "kind_label": KIND_LABELS[kind], "parts": parts, "scopes": SCOPE_LABELS,
        "currency": terms.currency, "error": error, "form": form,
        "max_quantity": MAX_QUANTITY}, status_code=status)


@login_required
async def item_new(request: Request) -> Response:
    list_id = int_param(request, "list_id")
    if request.method == "GET":
        kind = inputs.choice(request.query_params, "kind", "Kind", ITEM_KINDS,
                             default="print", lenient=True)
        return await _item_page(request, list_id, None, kind)
    form = await read_form(request)
    kind = inputs.choice(form, "kind", "Kind", ITEM_KINDS, default="print")
    try:
        fields = _item_form(form, kind)
        await write(request, catalog.add_item, me_id(request), list_id, fields)
    except Invalid as exc:
        return await _item_page(request, list_id, None, kind, exc.message,
                                _posted_fields(form), status=400)
    return RedirectResponse(_list_url(list_id, "item"), status_code=303)


@login_required
async def item_edit(request: Request) -> Response:
    list_id, item_id = int_param(request, "list_id"), int_param(request, "item_id")
    if request.method == "GET":
        return await _item_page(request, list_id, item_id, "print")
    form = await read_form(request)
    try:
        fields = _item_form(form, "")  # an item keeps the kind it was made as
        await write(request, catalog.update_item, me_id(request), list_id, item_id, fields)
    except Invalid as exc:
        return await _item_page(request, list_id, item_id, "print", exc.message,
                                _posted_fields(form), status=400)
    return RedirectResponse(_list_url(list_id, "item"), status_code=303)


@login_required
async def item_delete(request: Request) -> Response:
    list_id, item_id = int_param(request, "list_id"), int_param(request, "item_id")
    await read_form(request)
    try:
        await write(request, catalog.delete_item, me_id(request), list_id, item_id)
    except Invalid as exc:
        return await _editor(request, list_id, exc.message, status=400)
    return RedirectResponse(_list_url(list_id), status_code=303)


@login_required
async def item_move(request: Request) -> Response:
    list_id, item_id = int_param(request, "list_id"), int_param(request, "item_id")
    form = await read_form(request)
    direction = inputs.choice(form, "direction", "Direction", ("up", "down"), default="")
    await write(request, catalog.move_item, me_id(request), list_id, item_id, direction)
    return RedirectResponse(_list_url(list_id) + f"#item-{item_id}", status_code=303)


# --- coupons -------------------------------------------------------------------------------


def _coupon_fields(coupon) -> dict[str, Any]:
    return {"code": coupon.code, "kind": coupon.kind,
            "amount": str(coupon.amount) if coupon.kind == "percent"
            else amount_text(coupon.amount),
            "min_order": amount_text(coupon.min_order) if coupon.min_order else "",
            "expires_on": coupon.expires_at.date().isoformat() if coupon.expires_at else "",
            "once_per_contact": "on" if coupon.once_per_contact else "",
            "active": "on" if coupon.active else ""}


def _coupon_form(form: FormData) -> CouponForm:
    return CouponForm(
        code=inputs.text(form, "code", "Code", max_len=40, required=True),
        kind=inputs.choice(form, "kind", "Discount", COUPON_KINDS, default="percent"),
        amount=inputs.text(form, "amount", "Amount", max_len=20, required=True),
        min_order=inputs.text(form, "min_order", "Minimum order", max_len=20),
        expires_on=inputs.text(form, "expires_on", "Expiry date", max_len=20),
        once_per_contact=inputs.flag(form, "once_per_contact", "Once per client"),
        active=inputs.flag(form, "active", "Active"),
    )


async def _coupons_page(request: Request, error: str | None = None, form: Any = None,
                        status: int = 200) -> Response:
    pid = me_id(request)
    async with services(request).db.reader() as session:
        rows = await catalog.coupons(session, pid)
        terms = await session.run_sync(catalog.terms_of, pid)
    return render(request, "panel/store_coupons.html", {
        "section": "store", "tab": "coupons", "coupons": rows, "currency": terms.currency,
        "kinds": COUPON_KINDS, "error": error, "saved": _saved(request), "now": utcnow(),
        "form": form or {"kind": "percent", "active": "on"}}, status_code=status)


def _duplicate_code(form: FormData) -> str:
    code = form.get("code")
    code = code.strip().upper() if isinstance(code, str) else ""
    return f"You already have a coupon with the code {code[:40]}."


@login_required
async def coupons_page(request: Request) -> Response:
    if request.method == "GET":
        return await _coupons_page(request)
    form = await read_form(request)
    try:
        await write(request, catalog.create_coupon, me_id(request), _coupon_form(form))
    except Invalid as exc:
        return await _coupons_page(request, exc.message, dict(form), status=400)
    except IntegrityError:  # the same code saved at the same moment by another request
        return await _coupons_page(request, _duplicate_code(form), dict(form), status=400)
    return RedirectResponse("/panel/store/coupons?saved=coupon", status_code=303)


async def _coupon_page(request: Request, coupon_id: int, error: str | None = None,
                       form: Any = None, status: int = 200) -> Response:
    pid = me_id(request)
    async with services(request).db.reader() as session:
        coupon = await session.run_sync(catalog.find_coupon, pid, coupon_id)
        terms = await session.run_sync(catalog.terms_of, pid)
    return render(request, "panel/store_coupon.html", {
        "section": "store", "tab": "coupons", "coupon": coupon, "currency": terms.currency,
        "kinds": COUPON_KINDS, "error": error,
        "form": form or _coupon_fields(coupon)}, status_code=status)


@login_required
async def coupon_edit(request: Request) -> Response:
    coupon_id = int_param(request, "coupon_id")
    if request.method == "GET":
        return await _coupon_page(request, coupon_id)
    form = await read_form(request)
    try:
        await write(request, catalog.update_coupon, me_id(request), coupon_id,
                    _coupon_form(form))
    except Invalid as exc:
        return await _coupon_page(request, coupon_id, exc.message, dict(form), status=400)
    except IntegrityError:
        return await _coupon_page(request, coupon_id, _duplicate_code(form), dict(form),
                                  status=400)
    return RedirectResponse("/panel/store/coupons?saved=coupon", status_code=303)


@login_required
async def coupon_active(request: Request) -> Response:
    coupon_id = int_param(request, "coupon_id")
    form = await read_form(request)
    active = inputs.flag(form, "active", "Active")
    await write(request, catalog.set_coupon_active, me_id(request), coupon_id, active)
    return RedirectResponse("/panel/store/coupons", status_code=303)


@login_required
async def coupon_delete(request: Request) -> Response:
    coupon_id = int_param(request, "coupon_id")
    await read_form(request)
    try:
        await write(request, catalog.delete_coupon, me_id(request), coupon_id)
    except Invalid as exc:
        return await _coupons_page(request, exc.message, status=400)
    return RedirectResponse("/panel/store/coupons?saved=coupon-deleted", status_code=303)


# --- settings ------------------------------------------------------------------------------


async def _settings_page(request: Request, error: str | None = None, form: Any = None,
                         status: int = 200) -> Response:
    async with services(request).db.reader() as session:
        row = await session.run_sync(catalog.store_settings, me_id(request))
    if form is None:
        form = {"currency": row.currency, "tax_rate": catalog.tax_rate_text(row.tax_rate_bp),
                "tax_inclusive": "on" if row.tax_inclusive else "",
                "shipping_flat": amount_text(row.shipping_flat),
                "free_shipping_over": "" if row.free_shipping_over is None
                else amount_text(row.free_shipping_over)}
    return render(request, "panel/store_settings.html", {
        "section": "store", "tab": "settings", "settings": row, "currencies": CURRENCIES,
        "error": error, "form": form, "saved": _saved(request)}, status_code=status)


@login_required
async def settings_page(request: Request) -> Response:
    if request.method == "GET":
        return await _settings_page(request)
    form = await read_form(request)
    try:
        fields = SettingsForm(
            currency=inputs.choice(form, "currency", "Currency", CURRENCIES, default="USD"),
            tax_rate=inputs.text(form, "tax_rate", "Tax rate", max_len=20),
            tax_inclusive=inputs.flag(form, "tax_inclusive", "Prices include tax"),
            shipping_flat=inputs.text(form, "shipping_flat", "Shipping", max_len=20),
            free_shipping_over=inputs.text(form, "free_shipping_over",
                                           "Free shipping threshold", max_len=20),
        )
        await write(request, catalog.save_settings, me_id(request), fields)
    except Invalid as exc:
        return await _settings_page(request, exc.message, dict(form), status=400)
    except IntegrityError:  # two first saves at once: the other one made the row
        return await _settings_page(request, "Your settings changed at the same moment "
                                    "elsewhere: check them and save again.", dict(form),
                                    status=400)
    return RedirectResponse("/panel/store/settings?saved=settings", status_code=303)


routes = [
    Route("/panel/store", store_home),
    Route("/panel/store/price-lists", price_lists_page, methods=["GET", "POST"]),
    Route("/panel/store/price-lists/{list_id:int}", price_list_page, methods=["GET", "POST"]),
    Route("/panel/store/price-lists/{list_id:int}/duplicate", price_list_duplicate,
          methods=["POST"]),
    Route("/panel/store/price-lists/{list_id:int}/delete", price_list_delete,
          methods=["POST"]),
    Route("/panel/store/price-lists/{list_id:int}/items/new", item_new,
          methods=["GET", "POST"]),
    Route("/panel/store/price-lists/{list_id:int}/items/{item_id:int}", item_edit,
          methods=["GET", "POST"]),
    Route("/panel/store/price-lists/{list_id:int}/items/{item_id:int}/delete", item_delete,
          methods=["POST"]),
    Route("/panel/store/price-lists/{list_id:int}/items/{item_id:int}/move", item_move,
          methods=["POST"]),
    Route("/panel/store/coupons", coupons_page, methods=["GET", "POST"]),
    Route("/panel/store/coupons/{coupon_id:int}", coupon_edit, methods=["GET", "POST"]),
    Route("/panel/store/coupons/{coupon_id:int}/active", coupon_active, methods=["POST"]),
    Route("/panel/store/coupons/{coupon_id:int}/delete", coupon_delete, methods=["POST"]),
    Route("/panel/store/settings", settings_page, methods=["GET", "POST"]),
]
