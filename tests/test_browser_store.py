"""A client shops in Chromium: Buy asks who she is first, then she adds a print with
options, a digital file and a package, reloads (the cart is on the server), applies a
coupon, checks out through details and review, double-clicks Place order and lands on
her order page — and the database holds exactly one order with the server's figures."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from conftest import released_gallery, rows, scalar
from playwright.async_api import expect
from sqlalchemy import insert, update

from server.models import Event
from server.store.models import Coupon, PriceItem, PriceList, StoreSettings

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
PAPER = {"name": "Paper", "choices": [{"name": "Lustre", "price": 0},
                                      {"name": "Metallic", "price": 500}]}


async def open_store(db, photographer_id: int, event_id: int) -> dict[str, int]:
    """A price list with a print (options), a 5x7, a full-size file, a whole-gallery file
    and a package (two 5x7s and a file: three photos), on this gallery; a 10 % coupon;
    8.25 % tax and $9 flat shipping."""
    pid = photographer_id
    async with db.begin() as conn:
        list_id = (await conn.execute(insert(PriceList).values(
            photographer_id=pid, name="Wedding").returning(PriceList.id))).scalar_one()

        async def item(kind: str, name: str, price: int, position: int, **more) -> int:
            return (await conn.execute(insert(PriceItem).values(
                photographer_id=pid, price_list_id=list_id, kind=kind, name=name, price=price,
                position=position, description=more.pop("description", ""),
                options=more.pop("options", []), contents=more.pop("contents", []),
                digital_scope=more.pop("digital_scope", None)).returning(PriceItem.id)
            )).scalar_one()

        ids = {"print": await item("print", "8x10 Print", 2500, 1, options=[PAPER],
                                   description="Archival lab print.")}
        ids["small"] = await item("print", "5x7 Print", 1500, 2)
        ids["file"] = await item("digital", "Full-size file", 3500, 3, digital_scope="full")
        ids["all"] = await item("digital", "Whole gallery", 25000, 4, digital_scope="gallery")
        ids["package"] = await item("package", "Family package", 9900, 5, contents=[
            {"item_id": ids["small"], "quantity": 2}, {"item_id": ids["file"], "quantity": 1}])
        await conn.execute(insert(Coupon).values(
            photographer_id=pid, code="SAVE10", kind="percent", amount=10, min_order=0,
            once_per_contact=False, active=True))
        await conn.execute(insert(StoreSettings).values(
            photographer_id=pid, currency="USD", tax_rate_bp=825, tax_inclusive=False,
            shipping_flat=900, free_shipping_over=None, next_order_number=1001))
        await conn.execute(update(Event).where(Event.id == event_id, Event.photographer_id == pid)
                           .values(price_list_id=list_id))
    return ids


def payload(value) -> dict:
    return value if isinstance(value, dict) else json.loads(value)


async def test_a_client_shops_checks_out_and_lands_on_her_order(browser, photographer, server,
                                                                db):
    event_id, slug, images = await released_gallery(photographer, 5)
    pid = photographer.photographer_id
    ids = await open_store(db, pid, event_id)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    tiles, badge = page.locator(".tile"), page.locator("#cart-count")
    await expect(page.locator("#cart-open")).to_be_visible()  # the store exists here
    await expect(badge).to_have_text("0")

    # Buy asks who she is first, then opens the picker for that photo.
    await tiles.nth(0).hover()
    await tiles.nth(0).locator(".buy-btn").click()
    await expect(page.locator("#gate")).to_be_visible()
    await page.fill("#gate-name", "Nora Bride")
    await page.fill("#gate-email", "nora.shop@example.com")
    await page.click("#gate-form button[type=submit]")
    picker = page.locator("#store-picker")
    await expect(picker).to_be_visible()
    await expect(page.locator("#picker-sub")).to_have_text(f"For {images[0]['filename']}")
    groups = picker.locator(".product-group h3")
    await expect(groups).to_have_text(["Prints", "Digital files", "Packages"])

    # A print with options: the choices show the server's deltas; quantity 2.
    await picker.locator(f".product[data-item-id='{ids['print']}']").click()
    paper = picker.locator("select[data-group='Paper']")
    await expect(paper.locator("option")).to_have_text(["Lustre", "Metallic (+$5.00)"])
    await paper.select_option("Metallic")
    await page.click("#picker-qty button[aria-label='One more']")
    await page.click("#picker-add")
    await expect(page.locator("#picker-added")).to_be_visible()
    await expect(badge).to_have_text("2")

    # A full-size file of another photo, picked from the lightbox's Buy.
    await page.keyboard.press("Escape")
    await expect(picker).to_be_hidden()
    await page.locator(".tile-open").nth(1).click()
    await expect(page.locator("#lb-name")).to_have_text(images[1]["filename"])
    await page.click("#lb-buy")
    await expect(page.locator("#picker-sub")).to_have_text(f"For {images[1]['filename']}")
    await picker.locator(f".product[data-item-id='{ids['file']}']").click()
    await expect(page.locator("#picker-qty")).to_have_count(0)  # a file is bought once
    await page.click("#picker-add")
    await expect(page.locator("#picker-added")).to_be_visible()
    await expect(badge).to_have_text("3")

    # A package: three photos, the one she clicked Buy on comes first.
    await page.click("#keep-shopping")
    await picker.locator(f".product[data-item-id='{ids['package']}']").click()
    await expect(page.locator("#slot-count")).to_have_text("1 of 3 chosen")
    await page.click("#picker-add")  # not enough photos yet: said so, nothing sent
    await expect(page.locator("#picker-error")).to_have_text("Choose 3 photos for Family package.")
    for image in images[3:5]:
        await picker.locator(f".chooser .choose[data-image-id='{image['id']}']").click()
    await expect(page.locator("#slot-count")).to_have_text("3 of 3 chosen")
    await page.click("#picker-add")
    await expect(page.locator("#picker-added")).to_be_visible()
    await expect(badge).to_have_text("4")
    await page.keyboard.press("Escape")
    await expect(picker).to_be_hidden()

    # The cart lives on the server: a reload shows the same count and lines.
    await page.reload()
    await expect(badge).to_have_text("4")
    await page.click("#cart-open")
    drawer = page.locator("#cart-drawer")
    await expect(drawer).to_be_visible()
    lines = drawer.locator("#cart-lines .cart-line")
    await expect(lines).to_have_count(3)
    await expect(lines.nth(0).locator(".line-options")).to_have_text("Paper: Metallic")
    await expect(lines.nth(0).locator(".line-total")).to_have_text("$60.00")
    await expect(lines.nth(2).locator(".line-what")).to_have_text("3 photos")
    total = drawer.locator("[data-total=total]")
    await expect(total).to_have_text("$219.01")  # 194.00 + 16.01 tax (8.25 %) + 9.00 shipping

    # A wrong coupon is refused with the server's reason; the right one applies.
    await page.fill("#coupon-input", "nope")
    await page.click("#coupon-apply")
    await expect(page.locator("#coupon-error")).to_have_text("There is no coupon NOPE.")
    await page.fill("#coupon-input", "save10")
    await page.click("#coupon-apply")
    await expect(page.locator("#coupon-code")).to_have_text("SAVE10")
    figures = {key: drawer.locator(f"[data-total={key}]")
               for key in ("subtotal", "discount", "shipping", "tax", "total")}
    await expect(figures["subtotal"]).to_have_text("$194.00")
    await expect(figures["discount"]).to_have_text("−$19.40")
    await expect(figures["shipping"]).to_have_text("$9.00")
    await expect(figures["tax"]).to_have_text("$14.40")
    await expect(total).to_have_text("$198.00")

    # Details: the address is asked for because prints ship; missing parts are named. The
    # "details" stage report answers late (a slow server): what she types must survive it.
    async def late(route):
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/cart/stage", late)
    async with page.expect_response(lambda r: r.url.endswith("/cart/stage")):
        await page.click("#checkout-start")
        await expect(page.locator("#cart-title")).to_have_text("Your details")
        await expect(page.locator("#details-name")).to_have_value("Nora Bride")
        await page.fill("#details-email", "nora.shop@example.com")
        await page.click("#details-continue")
        await expect(page.locator("#details-error")).to_have_text("Address is required.")
        await page.fill("#details-line1", "12 Harbour St")
        await page.fill("#details-city", "Portland")
        await page.fill("#details-postal_code", "97201")
        await page.fill("#details-country", "USA")
    await page.unroute("**/cart/stage")
    await page.click("#details-continue")

    # Review: lines, address and the server's totals; a double click places one order.
    await expect(page.locator("#cart-title")).to_have_text("Review your order")
    await expect(drawer.locator("#review-lines .cart-line")).to_have_count(3)
    await expect(page.locator("#review-address")).to_contain_text("12 Harbour St")
    await expect(page.locator("#place-order")).to_have_text("Place order · $198.00")
    await page.locator("#place-order").dblclick()
    await page.wait_for_url(re.compile(r"/g/[^/]+/orders/[\w-]+$"))
    order = page.locator("#order")
    await expect(order).to_contain_text("Order #1001")
    await expect(order.locator(".order-totals dd.grand")).to_have_text("$198.00")
    await expect(order.locator(".order-lines tr")).to_have_count(3)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"client-order-{server.backend}.png"),
                          full_page=True)
    await context.close()
    assert problems == []

    assert await rows(db, "SELECT number, subtotal, discount, tax, shipping, total, "
                          "coupon_code FROM orders WHERE photographer_id=:p", p=pid) == [
        (1001, 19400, 1940, 1440, 900, 19800, "SAVE10")]
    assert await rows(db, "SELECT l.kind, l.name, l.options, l.quantity, l.line_total, "
                          "l.image_id FROM order_lines l JOIN orders o ON o.id = l.order_id "
                          "WHERE o.photographer_id=:p ORDER BY l.id", p=pid) == [
        ("print", "8x10 Print", "Paper: Metallic", 2, 6000, images[0]["id"]),
        ("digital", "Full-size file", "", 1, 3500, images[1]["id"]),
        ("package", "Family package", "", 1, 9900, None)]
    assert await scalar(db, "SELECT stage FROM carts WHERE photographer_id=:p", p=pid) == \
        "ordered"
    # The page told the server each step (the Activity report's SAVED CART stage).
    stages = [payload(p)["stage"] for (p,) in await rows(
        db, "SELECT payload FROM activity_events WHERE photographer_id=:p "
            "AND kind='cart_updated' ORDER BY seq", p=pid)]
    assert "details" in stages and stages[-2:] == ["review", "ordered"], stages


async def test_a_phone_buys_the_whole_gallery_without_an_address(browser, photographer, server,
                                                                 db):
    """390 px wide: the drawer takes the whole width; a whole-gallery file needs no photo
    and, with nothing to ship, checkout asks for no address."""
    event_id, slug, images = await released_gallery(photographer, 2)
    pid = photographer.photographer_id
    ids = await open_store(db, pid, event_id)
    context = await browser.new_context(viewport={"width": 390, "height": 844},
                                        has_touch=True, is_mobile=True)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    await page.locator(".tile").nth(1).locator(".buy-btn").click()
    await page.fill("#gate-name", "Ola Phone")
    await page.fill("#gate-email", "ola.phone@example.com")
    await page.click("#gate-form button[type=submit]")
    await page.click(f"#store-picker .product[data-item-id='{ids['all']}']")
    await expect(page.locator("#store-picker .photo-picker")).to_have_count(0)
    await page.click("#picker-add")
    await page.click("#view-cart")
    drawer = page.locator("#cart-drawer .drawer-panel")
    await expect(drawer).to_be_visible()
    assert round((await drawer.bounding_box())["width"]) == 390  # full width
    await expect(drawer.locator(".line-what")).to_have_text("Every photo in this gallery")
    await expect(drawer.locator("[data-total=shipping]")).to_have_count(0)
    await page.click("#checkout-start")
    await expect(page.locator("#details-line1")).to_have_count(0)
    await expect(page.locator("#details-email")).to_have_value("ola.phone@example.com")
    await page.click("#details-continue")
    await expect(page.locator("#review-address")).to_have_count(0)
    await page.click("#place-order")
    await page.wait_for_url(re.compile(r"/orders/"))
    await expect(page.locator("#order .order-totals dd.grand")).to_have_text("$270.63")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"client-order-phone-{server.backend}.png"),
                          full_page=True)
    await context.close()
    assert problems == []
    ((total, customer),) = await rows(
        db, "SELECT total, customer FROM orders WHERE photographer_id=:p", p=pid)
    assert (total, payload(customer)["name"], payload(customer)["line1"]) == (
        27063, "Ola Phone", "")
