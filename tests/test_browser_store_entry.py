"""The gallery's Shop entry in Chromium (issue #12, "a Store entry in the gallery"): the
header's Shop opens every product with no photo chosen; the email gate comes first. A print
asks for its photo before its options, and the cart shows that photo and the server's
price. A whole-gallery file from Shop needs no photo; a package fills its slots as from Buy."""

from __future__ import annotations

import pytest
from conftest import released_gallery, rows
from playwright.async_api import expect
from test_browser_store import ARTIFACTS, open_store

pytestmark = pytest.mark.browser
SHOP_SUB = "Choose a product; you pick its photo next when it needs one."


async def shot(page, name: str, backend: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.wait_for_timeout(300)  # the drawer's slide-in is over
    await page.screenshot(path=str(ARTIFACTS / f"shop-{name}-{backend}.png"))


async def pass_the_gate(page, name: str, email: str) -> None:
    await expect(page.locator("#gate")).to_be_visible()
    await page.fill("#gate-name", name)
    await page.fill("#gate-email", email)
    await page.click("#gate-form button[type=submit]")


async def test_shop_a_print_then_its_photo_then_a_package(browser, photographer, server, db):
    event_id, slug, images = await released_gallery(photographer, 6)
    pid = photographer.photographer_id
    ids = await open_store(db, pid, event_id)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    shop, picker, badge = page.locator("#store-open"), page.locator("#store-picker"), \
        page.locator("#cart-count")
    await expect(shop).to_be_visible()
    await expect(shop).to_have_text("Shop")
    await page.locator("#photos").scroll_into_view_if_needed()
    await shot(page, "header-desktop", server.backend)

    # Shop asks who she is first; then every product, for no photo in particular.
    await shop.click()
    await expect(picker).to_be_hidden()
    await pass_the_gate(page, "Sia Shopper", "sia.shop@example.com")
    await expect(picker).to_be_visible()
    await expect(page.locator("#picker-photo")).to_be_hidden()
    await expect(page.locator("#picker-title")).to_have_text("Shop this gallery")
    await expect(page.locator("#picker-sub")).to_have_text(SHOP_SUB)
    await expect(picker.locator(".product-group h3")).to_have_text(
        ["Prints", "Digital files", "Packages"])
    await expect(picker.locator(".product")).to_have_count(5)
    await shot(page, "list-desktop", server.backend)

    # A print: the photo first (the gallery's thumbnails), no options or Add yet.
    await picker.locator(f".product[data-item-id='{ids['print']}']").click()
    step = picker.locator("#photo-step")
    await expect(step).to_be_visible()
    await expect(step.locator(".chooser .choose")).to_have_count(6)
    await expect(page.locator("#picker-form")).to_have_count(0)
    await expect(page.locator("#picker-add")).to_have_count(0)
    await shot(page, "photo-step-desktop", server.backend)
    chosen = images[2]
    await step.locator(f".choose[data-image-id='{chosen['id']}']").click()

    # Then the options and Add as from Buy, with the chosen photo in its slot.
    await expect(page.locator("#photo-step")).to_have_count(0)
    await expect(picker.locator(".slot.is-filled img")).to_have_attribute(
        "src", f"/g/{slug}/media/thumb/{chosen['id']}")
    await expect(page.locator("#slot-count")).to_have_text(chosen["filename"])
    await picker.locator("select[data-group='Paper']").select_option("Metallic")
    await page.click("#picker-qty button[aria-label='One more']")
    await shot(page, "options-desktop", server.backend)
    await page.click("#picker-add")
    await expect(page.locator("#picker-added")).to_be_visible()
    await expect(badge).to_have_text("2")

    # Keep shopping stays in the shop: a package asks for all three of its photos.
    await page.click("#keep-shopping")
    await expect(page.locator("#picker-sub")).to_have_text(SHOP_SUB)
    await picker.locator(f".product[data-item-id='{ids['package']}']").click()
    await expect(page.locator("#slot-count")).to_have_text("0 of 3 chosen")
    await page.click("#picker-add")
    await expect(page.locator("#picker-error")).to_have_text(
        "Choose 3 photos for Family package.")
    for image in images[3:6]:
        await picker.locator(f".chooser .choose[data-image-id='{image['id']}']").click()
    await expect(page.locator("#slot-count")).to_have_text("3 of 3 chosen")
    await page.click("#picker-add")
    await expect(page.locator("#picker-added")).to_be_visible()
    await expect(badge).to_have_text("3")

    # The cart: the print shows the photo she picked and the server's price.
    await page.click("#view-cart")
    drawer = page.locator("#cart-drawer")
    lines = drawer.locator("#cart-lines .cart-line")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0).locator(".line-thumb img")).to_have_attribute(
        "src", f"/g/{slug}/media/thumb/{chosen['id']}")
    await expect(lines.nth(0).locator(".line-what")).to_have_text(chosen["filename"])
    await expect(lines.nth(0).locator(".line-options")).to_have_text("Paper: Metallic")
    await expect(lines.nth(0).locator(".line-total")).to_have_text("$60.00")  # (25 + 5) × 2
    await expect(lines.nth(1).locator(".line-what")).to_have_text("3 photos")
    await expect(drawer.locator("[data-total=subtotal]")).to_have_text("$159.00")
    await expect(drawer.locator("[data-total=total]")).to_have_text("$181.12")  # + 13.12 + 9
    await context.close()
    assert problems == []
    assert await rows(db, "SELECT price_item_id, image_id, quantity FROM cart_items "
                          "WHERE photographer_id=:p ORDER BY id", p=pid) == [
        (ids["print"], chosen["id"], 2), (ids["package"], None, 1)]


async def test_a_phone_buys_the_whole_gallery_from_shop_without_a_photo(browser, photographer,
                                                                        server, db):
    event_id, slug, images = await released_gallery(photographer, 4)
    pid = photographer.photographer_id
    ids = await open_store(db, pid, event_id)
    context = await browser.new_context(viewport={"width": 390, "height": 844},
                                        has_touch=True, is_mobile=True)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"{server.base_url}/g/{slug}")
    await page.locator("#photos").scroll_into_view_if_needed()
    await expect(page.locator("#store-open")).to_be_visible()
    await shot(page, "header-phone", server.backend)
    # The empty cart leads into the shop too (after the gate).
    await page.click("#cart-open")
    await expect(page.locator("#cart-empty")).to_be_visible()
    await shot(page, "empty-cart-phone", server.backend)
    await page.click("#cart-shop")
    await expect(page.locator("#cart-drawer")).to_be_hidden()
    await pass_the_gate(page, "Ola Phone", "ola.shop@example.com")
    picker = page.locator("#store-picker")
    await expect(picker.locator(".product")).to_have_count(5)
    await shot(page, "list-phone", server.backend)

    # A print asks for its photo (shown, then left with Back) …
    await picker.locator(f".product[data-item-id='{ids['small']}']").click()
    await expect(picker.locator("#photo-step .choose")).to_have_count(4)
    await shot(page, "photo-step-phone", server.backend)
    await picker.locator("#picker-foot button", has_text="Back").click()

    # … the whole gallery needs none: straight to Add.
    await picker.locator(f".product[data-item-id='{ids['all']}']").click()
    await expect(picker.locator(".photo-picker")).to_have_count(0)
    await expect(picker.locator(".picker-note")).to_contain_text("every photo in this gallery")
    await page.click("#picker-add")
    await expect(page.locator("#picker-added")).to_be_visible()
    await page.click("#view-cart")
    drawer = page.locator("#cart-drawer")
    await expect(drawer.locator(".line-what")).to_have_text("Every photo in this gallery")
    await expect(drawer.locator(".line-thumb-all")).to_have_count(1)
    await expect(drawer.locator("[data-total=total]")).to_have_text("$270.63")
    await context.close()
    assert problems == []
    assert await rows(db, "SELECT price_item_id, image_id FROM cart_items "
                          "WHERE photographer_id=:p", p=pid) == [(ids["all"], None)]


async def test_no_shop_without_a_store(browser, photographer, server):
    _, slug, _ = await released_gallery(photographer, 2)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(f"{server.base_url}/g/{slug}")
    await expect(page.locator(".tile")).to_have_count(2)
    await page.wait_for_load_state("networkidle")
    await expect(page.locator("#store-open")).to_be_hidden()
    await expect(page.locator("#cart-open")).to_be_hidden()
    await context.close()
