"""Store → Orders and the Activity report's SAVED CART, on both backends.

A client shops through the gallery's own API (cart, details, checkout); the photographer
sees the order in the list and on its page, moves it through the allowed states (an illegal
move is a 400 that changes nothing), prints its packing slip and exports all orders as CSV
(formula cells defused). Another photographer gets 404 for all of it. The Activity report's
SAVED CART (page, row.json, cart tab) and the dashboard's open orders follow the cart.
The browser test keeps the Activity, Orders and dashboard pages open while the client
checks out over HTTP: every change lands in place, with no navigation.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from urllib.parse import urlsplit

import pytest
from conftest import Client, gate_contact_id, released_gallery, rows, scalar, seed_price_list
from playwright.async_api import expect

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "region": "IL",
           "postal_code": "12345", "country": "US"}


def _ok(res) -> dict:
    assert res.status_code == 200, res.text
    return res.json()


async def _shop(photographer: Client, new_client, db, *, email="jane@example.com",
                name="Jane Client"):
    """A released gallery with the seeded price list and a gated client:
    (event id, slug, image ids, price item ids, visitor, contact id)."""
    event_id, slug, images = await released_gallery(photographer, 3)
    ids = await seed_price_list(db, photographer.photographer_id, event_id)
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug, email=email, name=name)
    return event_id, slug, [i["id"] for i in images], ids, visitor, contact_id


async def _fill_cart(visitor: Client, slug: str, images: list[int], ids: dict) -> dict:
    """2 × 5x7 Lustre ($30.00) + a web file ($9.00): 3 items, $39.00."""
    _ok(await visitor.post_json(f"/g/{slug}/cart/items", {
        "item_id": ids["print"], "image_id": images[0], "choices": {"Paper": "Lustre"},
        "quantity": 2}))
    return _ok(await visitor.post_json(f"/g/{slug}/cart/items", {
        "item_id": ids["web"], "image_id": images[1]}))


async def _checkout(visitor: Client, slug: str, name: str = "Jane Client",
                    **extra: str) -> dict:
    cart = _ok(await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": name, "email": "jane@example.com", "phone": "555 0100", **ADDRESS, **extra}))
    assert cart["stage"] == "review"
    return _ok(await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]}))


async def _placed(photographer: Client, new_client, db, **details: str):
    event_id, slug, images, ids, visitor, contact_id = await _shop(photographer, new_client, db)
    await _fill_cart(visitor, slug, images, ids)
    await _checkout(visitor, slug, **details)
    order_id = await scalar(db, "SELECT id FROM orders WHERE photographer_id = :p",
                            p=photographer.photographer_id)
    return order_id, event_id, slug, images, visitor, contact_id


async def _state(db, order_id: int) -> str:
    return await scalar(db, "SELECT state FROM orders WHERE id = :i", i=order_id)


def _order_row(html: str, order_id: int) -> str:
    found = re.search(rf'<tr data-order-id="{order_id}".*?</tr>', html, re.S)
    assert found, f"order {order_id} is not listed"
    return found.group(0)


def _cart_cell(html: str, event_id: int, contact_id: int) -> str:
    row = re.search(rf'<tr data-row="{event_id}:{contact_id}">.*?</tr>', html, re.S)
    assert row, "no Activity row"
    cell = re.search(r'<td class="cart-cell[^"]*" data-col="cart".*?</td>', row.group(0), re.S)
    assert cell, "no SAVED CART cell"
    return cell.group(0)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


async def test_the_orders_list_and_page_show_a_placed_order(photographer, new_client, db):
    order_id, event_id, slug, images, _, contact_id = await _placed(photographer, new_client,
                                                                    db)
    listing = (await photographer.get("/panel/store/orders")).text
    row = _text(_order_row(listing, order_id))
    for shown in ("#1001", "Jane Client", "jane@example.com", "Smith Wedding", "$39.00",
                  "Placed"):
        assert shown in row, (shown, row)
    assert 'data-live-region="orders"' in listing and "orders_live.js" in listing

    # Filtered by state: listed under Placed, not under Paid (which says so).
    assert f'data-order-id="{order_id}"' in (
        await photographer.get("/panel/store/orders?state=placed")).text
    paid = (await photographer.get("/panel/store/orders?state=paid")).text
    assert f'data-order-id="{order_id}"' not in paid and "No paid orders" in paid
    # An unknown filter or page is the default view, not an error.
    assert (await photographer.get("/panel/store/orders?state=nope&page=x")).status_code == 200

    page = await photographer.get(f"/panel/store/orders/{order_id}")
    assert page.status_code == 200
    text = _text(page.text)
    for shown in ("Order #1001", "5x7 print", "Paper: Lustre", "Digital file (web)",
                  "IMG_1000.jpg", "1 Main St", "Springfield", "555 0100", "$39.00", "$30.00"):
        assert shown in text, shown
    for image_id in images[:2]:
        assert f'src="/panel/media/thumb/{image_id}"' in page.text
    # Buttons for the moves a placed order allows, and only those.
    assert 'value="paid"' in page.text and 'value="cancelled"' in page.text
    assert 'value="shipped"' not in page.text and 'value="delivered"' not in page.text
    assert f'href="/panel/activity/{event_id}/{contact_id}?tab=cart"' in page.text

    slip = await photographer.get(f"/panel/store/orders/{order_id}/packing-slip")
    assert slip.status_code == 200
    slip_text = _text(slip.text)
    for shown in ("Packing slip", "#1001", "Pat Lens", "1 Main St", "Springfield, IL 12345",
                  "5x7 print", "Paper: Lustre", "IMG_1000.jpg"):
        assert shown in slip_text, shown
    assert "$" not in slip_text  # a packing slip carries no prices

    # Nobody else's list shows it; a studio with no orders gets the empty state.
    assert (await photographer.get("/panel/store/orders/999999")).status_code == 404


async def test_empty_orders_page(photographer):
    page = (await photographer.get("/panel/store/orders")).text
    assert "No orders yet" in page and "orders-table" not in page


async def test_state_moves_follow_the_allowed_transitions(photographer, new_client, db):
    order_id, *_ = await _placed(photographer, new_client, db)
    base = f"/panel/store/orders/{order_id}"
    events_before = await scalar(db, "SELECT count(*) FROM activity_events WHERE kind = "
                                     "'order_updated' AND photographer_id = :p",
                                 p=photographer.photographer_id)

    async def move(state: str, **extra: str):
        return await photographer.post_form(f"{base}/state", {"state": state, **extra})

    # Illegal: a placed order cannot ship or be delivered; nonsense is refused too.
    for bad in ("shipped", "delivered", "in_production", "placed", "bogus", ""):
        res = await move(bad, tracking_note="UPS 1")
        assert res.status_code == 400, (bad, res.status_code)
        assert await _state(db, order_id) == "placed"
    assert "cannot be marked shipped" in (await move("shipped")).text
    assert await scalar(db, "SELECT count(*) FROM activity_events WHERE kind = 'order_updated' "
                            "AND photographer_id = :p",
                        p=photographer.photographer_id) == events_before
    assert await scalar(db, "SELECT tracking_note FROM orders WHERE id = :i", i=order_id) == ""

    # placed → paid: the digital file is granted.
    res = await move("paid")
    assert res.status_code == 303 and res.headers["location"] == f"{base}?saved=state"
    assert await _state(db, order_id) == "paid"
    assert await scalar(db, "SELECT count(*) FROM digital_grants WHERE order_id = :i",
                        i=order_id) == 1
    page = (await photographer.get(f"{base}?saved=state")).text
    assert "Order marked paid" in page
    assert 'value="in_production"' in page and 'name="tracking_note"' in page
    # paid → in production → shipped (with its tracking note) → delivered.
    assert (await move("in_production")).status_code == 303
    assert (await move("shipped", tracking_note="UPS 1Z999")).status_code == 303
    assert await scalar(db, "SELECT tracking_note FROM orders WHERE id = :i",
                        i=order_id) == "UPS 1Z999"
    assert (await move("cancelled")).status_code == 400  # shipped cannot be cancelled
    assert await _state(db, order_id) == "shipped"
    assert (await move("delivered")).status_code == 303
    page = (await photographer.get(base)).text
    assert "nothing more to do" in page and 'name="state"' not in page
    moves = [r[0] for r in await rows(
        db, "SELECT kind FROM activity_events WHERE kind = 'order_updated' AND "
            "photographer_id = :p ORDER BY seq", p=photographer.photographer_id)]
    assert len(moves) == events_before + 4
    # The internal note.
    res = await photographer.post_form(f"{base}/note", {"internal_note": "Lab #88"})
    assert res.status_code == 303
    assert await scalar(db, "SELECT internal_note FROM orders WHERE id = :i",
                        i=order_id) == "Lab #88"
    assert "Lab #88" in (await photographer.get(base)).text
    # No CSRF token: refused, nothing changes.
    res = await photographer.post_form(f"{base}/note", {"internal_note": "x"}, csrf=False)
    assert res.status_code == 403
    assert await scalar(db, "SELECT internal_note FROM orders WHERE id = :i",
                        i=order_id) == "Lab #88"


async def test_cancelling_takes_the_files_back(photographer, new_client, db):
    order_id, *_ = await _placed(photographer, new_client, db)
    base = f"/panel/store/orders/{order_id}"
    assert (await photographer.post_form(f"{base}/state", {"state": "paid"})).status_code == 303
    assert (await photographer.post_form(f"{base}/state",
                                         {"state": "cancelled"})).status_code == 303
    assert await _state(db, order_id) == "cancelled"
    assert await scalar(db, "SELECT count(*) FROM digital_grants WHERE order_id = :i",
                        i=order_id) == 0
    cancelled = (await photographer.get("/panel/store/orders?state=cancelled")).text
    assert f'data-order-id="{order_id}"' in cancelled


async def test_csv_export_one_row_per_order_with_formulas_defused(photographer, new_client,
                                                                  db):
    order_id, *_ = await _placed(photographer, new_client, db,
                                 name="=HYPERLINK(\"http://evil\")", phone="+1 555 0100")
    await photographer.post_form(f"/panel/store/orders/{order_id}/note",
                                 {"internal_note": "@SUM(A1:A9)"})
    res = await photographer.get("/panel/store/orders.csv")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    body = res.content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(body)))
    header, data = table[0], table[1:]
    assert len(data) == 1
    row = dict(zip(header, data[0], strict=True))
    assert row["order_number"] == "1001" and row["state"] == "Placed"
    assert row["gallery"] == "Smith Wedding" and row["client_email"] == "jane@example.com"
    assert row["items"] == "3" and row["total"] == "39.00" and row["currency"] == "USD"
    assert row["lines"] == ("2 × 5x7 print (Paper: Lustre) — IMG_1000.jpg; "
                            "1 × Digital file (web) — IMG_1001.jpg")
    assert row["address"] == "1 Main St, Springfield, IL, 12345, US"
    # Cells a spreadsheet would run as formulas start with a quote.
    assert row["customer_name"] == "'=HYPERLINK(\"http://evil\")"
    assert row["phone"] == "'+1 555 0100"
    assert row["internal_note"] == "'@SUM(A1:A9)"
    for cell in data[0]:
        assert cell[:1] not in ("=", "+", "-", "@"), cell
    # Filtered like the list: no paid orders yet.
    paid = (await photographer.get("/panel/store/orders.csv?state=paid")).content
    assert paid.decode("utf-8-sig").count("\r\n") == 1


async def test_another_photographer_gets_404_for_the_order(photographer, other_photographer,
                                                           new_client, db):
    order_id, *_ = await _placed(photographer, new_client, db)
    base = f"/panel/store/orders/{order_id}"
    for url in (base, f"{base}/packing-slip"):
        assert (await other_photographer.get(url)).status_code == 404, url
    for url, data in ((f"{base}/state", {"state": "paid"}),
                      (f"{base}/state", {"state": "shipped"}),
                      (f"{base}/note", {"internal_note": "mine"})):
        assert (await other_photographer.post_form(url, data)).status_code == 404, url
    assert await _state(db, order_id) == "placed"
    assert await scalar(db, "SELECT internal_note FROM orders WHERE id = :i", i=order_id) == ""
    assert f'data-order-id="{order_id}"' not in (
        await other_photographer.get("/panel/store/orders")).text
    exported = (await other_photographer.get("/panel/store/orders.csv")).content
    assert exported.decode("utf-8-sig").count("\r\n") == 1  # the header alone
    # Logged out: the login page, not the order.
    anonymous = new_client()
    res = await anonymous.get(base)
    assert res.status_code == 303 and res.headers["location"].startswith("/login")


async def test_the_activity_report_shows_the_saved_cart(photographer, new_client, db):
    event_id, slug, images, ids, visitor, contact_id = await _shop(photographer, new_client,
                                                                   db)
    base = f"/panel/activity/{event_id}/{contact_id}"
    before = _cart_cell((await photographer.get("/panel/activity")).text, event_id, contact_id)
    assert _text(before) == "—"
    assert (await photographer.get(f"{base}/row.json")).json()["cart_stage"] == ""

    await _fill_cart(visitor, slug, images, ids)
    page = (await photographer.get("/panel/activity")).text
    cell = _cart_cell(page, event_id, contact_id)
    assert _text(cell) == "3 items · $39.00 In cart"
    assert 'data-items="3"' in cell and 'data-value="3900"' in cell
    assert 'data-stage="cart"' in cell and f'href="{base}?tab=cart"' in cell
    row = (await photographer.get(f"{base}/row.json")).json()
    assert (row["cart_items"], row["cart_value"], row["cart_stage"]) == (3, 3900, "cart")
    # The JSON report is the same row.
    report = (await photographer.get("/panel/activity",
                                     headers={"Accept": "application/json"})).json()
    assert [r for r in report["rows"] if r["contact_id"] == contact_id] == [row]

    # The cart tab: the open cart's lines, with thumbnails, value and stage.
    tab = (await photographer.get(f"{base}?tab=cart")).text
    tab_text = _text(tab)
    for shown in ("3 items", "$39.00", "5x7 print", "Paper: Lustre", "Digital file (web)",
                  "In cart", "No orders yet"):
        assert shown in tab_text, shown
    assert f'src="/panel/media/thumb/{images[0]}"' in tab
    assert 'data-col="cart_items">3<' in tab

    _ok(await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane Client", "email": "jane@example.com", **ADDRESS}))
    assert (await photographer.get(f"{base}/row.json")).json()["cart_stage"] == "review"
    cart = (await visitor.get(f"/g/{slug}/store.json")).json()["cart"]
    _ok(await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]}))
    row = (await photographer.get(f"{base}/row.json")).json()
    assert (row["cart_items"], row["cart_value"], row["cart_stage"]) == (0, 0, "ordered")
    cell = _cart_cell((await photographer.get("/panel/activity")).text, event_id, contact_id)
    assert _text(cell) == "Ordered"
    order_id = await scalar(db, "SELECT id FROM orders WHERE contact_id = :c", c=contact_id)
    tab = (await photographer.get(f"{base}?tab=cart")).text
    assert "No open cart" in tab and f'href="/panel/store/orders/{order_id}"' in tab
    assert "Order #1001" in _text(tab)

    # The dashboard's open orders: 1 until the order is cancelled.
    assert (await photographer.get("/panel/summary.json")).json()["open_orders"] == 1
    dash = (await photographer.get("/panel")).text
    assert re.search(r'data-open-orders>1<', dash) and 'href="/panel/store/orders"' in dash
    await photographer.post_form(f"/panel/store/orders/{order_id}/state", {"state": "cancelled"})
    assert (await photographer.get("/panel/summary.json")).json()["open_orders"] == 0


# --- live, in a browser ---


@pytest.mark.browser
async def test_saved_cart_orders_and_open_orders_move_live(photographer, new_client, db,
                                                           server, browser):
    event_id, slug, images, ids, visitor, contact_id = await _shop(photographer, new_client,
                                                                   db)
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    pages, navigations, errors = {}, {}, []
    for name, url in (("activity", "/panel/activity"), ("orders", "/panel/store/orders"),
                      ("dashboard", "/panel")):
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        await page.goto(server.base_url + url)
        await expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
        navigations[name] = 0
        page.on("framenavigated", lambda frame, n=name, p=page: frame == p.main_frame and
                navigations.__setitem__(n, navigations[n] + 1))
        pages[name] = page

    cart_cell = pages["activity"].locator(f'tr[data-row="{event_id}:{contact_id}"] '
                                          '[data-col="cart"]')
    await expect(cart_cell).to_have_text("—")
    await expect(pages["orders"].locator("#orders-empty")).to_be_visible()
    open_orders = pages["dashboard"].locator("[data-open-orders]")
    await expect(open_orders).to_have_text("0")

    # The client fills the cart: the SAVED CART cell follows, item by item.
    _ok(await visitor.post_json(f"/g/{slug}/cart/items", {
        "item_id": ids["print"], "image_id": images[0], "choices": {"Paper": "Lustre"}}))
    await expect(cart_cell).to_have_text("1 item · $15.00In cart")
    await _fill_cart(visitor, slug, images, ids)
    await expect(cart_cell).to_have_text("4 items · $54.00In cart")
    feed = pages["activity"].locator("#feed")
    await expect(feed).to_contain_text("updated their cart — 4 items, $54.00")

    # Checkout: details (Review), then the order (Ordered).
    _ok(await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Jane Client", "email": "jane@example.com", **ADDRESS}))
    await expect(cart_cell.locator(".stage-pill")).to_have_text("Review")
    cart = (await visitor.get(f"/g/{slug}/store.json")).json()["cart"]
    _ok(await visitor.post_json(f"/g/{slug}/checkout", {"version": cart["version"]}))
    await expect(cart_cell).to_have_text("Ordered")
    await expect(feed).to_contain_text("placed order #1001 — $54.00")
    order_id = await scalar(db, "SELECT id FROM orders WHERE contact_id = :c", c=contact_id)

    # The Orders page lists the new order; the dashboard counts it.
    row = pages["orders"].locator(f'tr[data-order-id="{order_id}"]')
    await expect(row).to_contain_text("#1001")
    await expect(row.locator(".order-badge")).to_have_text("Placed")
    await expect(open_orders).to_have_text("1")

    # The photographer (another tab: HTTP) marks it paid, then cancels it.
    base = f"/panel/store/orders/{order_id}"
    assert (await photographer.post_form(f"{base}/state", {"state": "paid"})).status_code == 303
    await expect(row.locator(".order-badge")).to_have_text("Paid")
    await expect(feed).to_contain_text("Order #1001 marked paid")
    await expect(open_orders).to_have_text("1")
    assert (await photographer.post_form(f"{base}/state",
                                         {"state": "cancelled"})).status_code == 303
    await expect(row.locator(".order-badge")).to_have_text("Cancelled")
    await expect(open_orders).to_have_text("0")

    await asyncio.sleep(0.5)
    assert navigations == {"activity": 0, "orders": 0, "dashboard": 0}, navigations
    assert not errors, errors
    await context.close()


async def test_the_state_tabs_count_the_orders_in_each_state(photographer, new_client, db):
    order_id, *_ = await _placed(photographer, new_client, db)
    res = await photographer.post_form(f"/panel/store/orders/{order_id}/state", {"state": "paid"})
    assert res.status_code == 303
    listing = (await photographer.get("/panel/store/orders")).text
    tabs = dict(re.findall(r'data-state-tab="(\w+)">[^<]*<span class="count">(\d+)</span>',
                           listing))
    assert tabs["paid"] == "1" and tabs["placed"] == "0" and tabs["cancelled"] == "0"
    assert re.search(r'href="/panel/store/orders">All <span class="count">1</span>', listing)
