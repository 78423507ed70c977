"""Issue #12, end to end in Chromium, three browsers at once: the photographer watches the
Activity page while a client fills a cart on her laptop, picks it up on her phone (which
sees nothing until it follows the emailed link), checks out there; the SAVED CART cell
walks through its stages live, without a navigation. The photographer marks the order paid
in the panel and the client downloads the file she bought from her order page — and only
that one."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from conftest import released_gallery, scalar, verify_link_path
from playwright.async_api import expect
from test_browser_store import ARTIFACTS, open_store

pytestmark = pytest.mark.browser

EMAIL = "mara.journey@example.com"
JPEG = b"\xff\xd8\xff"


class Watched:
    """A page whose main-frame navigations and uncaught errors are counted."""

    def __init__(self, page, name: str) -> None:
        self.page, self.name = page, name
        self.navigations: list[str] = []
        self.errors: list[str] = []
        page.on("framenavigated",
                lambda frame: frame == page.main_frame and self.navigations.append(frame.url))
        page.on("pageerror", lambda exc: self.errors.append(f"{name}: {exc}"))


async def new_page(browser, name: str, **context):
    ctx = await browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context})
    return Watched(await ctx.new_page(), name)


async def shot(page, name: str, backend: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"journey-{name}-{backend}.png"),
                          full_page=full_page)


async def said(answer) -> str:
    """What an error page tells the client (its heading), else the start of the body."""
    text = await answer.text()
    found = re.search(r'class="error-message">([^<]*)<', text)
    return found.group(1) if found else text[:200]


async def test_laptop_cart_phone_checkout_live_panel_paid_download(browser, photographer,
                                                                    server, db):
    # A gallery that sells its files: free downloads are off.
    event_id, slug, images = await released_gallery(photographer, 5, download_single="",
                                                    download_bulk="")
    pid = photographer.photographer_id
    ids = await open_store(db, pid, event_id)
    base = server.base_url

    # 1. The photographer's Activity page, logged in with the photographer's cookies.
    panel = await new_page(browser, "panel", viewport={"width": 1400, "height": 900})
    host = urlsplit(base).hostname
    await panel.page.context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                                          for n, v in photographer.http.cookies.items()])
    await panel.page.goto(f"{base}/panel/activity")
    await expect(panel.page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
    await expect(panel.page.locator("#activity-table .empty-row")).to_be_visible()
    assert len(panel.navigations) == 1, panel.navigations

    # 2. The laptop: Buy asks who she is, then a print with options, a file and a package.
    laptop = await new_page(browser, "laptop")
    page = laptop.page
    await page.goto(f"{base}/g/{slug}")
    badge, picker = page.locator("#cart-count"), page.locator("#store-picker")
    await page.locator(".tile").nth(0).hover()
    await page.locator(".tile").nth(0).locator(".buy-btn").click()
    await page.fill("#gate-name", "Mara Journey")
    await page.fill("#gate-email", EMAIL)
    await page.click("#gate-form button[type=submit]")
    await expect(picker).to_be_visible()
    contact_id = await scalar(db, "SELECT id FROM contacts WHERE photographer_id=:p "
                                  "AND email=:e", p=pid, e=EMAIL)
    assert contact_id

    # The row appears live; its SAVED CART cell is empty until something is in the cart.
    row = panel.page.locator(f'#activity-table tr[data-row="{event_id}:{contact_id}"]')
    cell = row.locator('[data-col="cart"]')
    pill = cell.locator(".stage-pill")
    await expect(row).to_contain_text(EMAIL)
    await expect(cell).to_have_text("—")

    await picker.locator(f".product[data-item-id='{ids['print']}']").click()
    await picker.locator("select[data-group='Paper']").select_option("Metallic")
    await page.click("#picker-qty button[aria-label='One more']")
    await page.click("#picker-add")
    await expect(page.locator("#picker-added")).to_be_visible()
    await expect(badge).to_have_text("2")
    await expect(pill).to_have_text("In cart")
    await expect(cell.locator(".cart-figures")).to_have_text("2 items · $60.00")

    await page.click("#keep-shopping")
    await picker.locator(f".product[data-item-id='{ids['package']}']").click()
    for image in images[3:5]:
        await picker.locator(f".chooser .choose[data-image-id='{image['id']}']").click()
    await expect(page.locator("#slot-count")).to_have_text("3 of 3 chosen")
    await page.click("#picker-add")
    await expect(badge).to_have_text("3")
    await page.keyboard.press("Escape")
    await expect(picker).to_be_hidden()

    await page.locator(".tile-open").nth(1).click()
    await page.click("#lb-buy")
    await picker.locator(f".product[data-item-id='{ids['file']}']").click()
    await page.click("#picker-add")
    await expect(badge).to_have_text("4")
    await expect(cell.locator(".cart-figures")).to_have_text("4 items · $194.00")
    await expect(pill).to_have_text("In cart")

    await page.reload()  # the cart is the server's
    await expect(badge).to_have_text("4")
    await page.click("#cart-open")
    await expect(page.locator("#cart-drawer #cart-lines .cart-line")).to_have_count(3)
    await shot(page, "laptop-cart", server.backend)

    # 3. The phone: the same address at the gate proves nothing, so no cart is shown.
    phone = await new_page(browser, "phone", viewport={"width": 390, "height": 844},
                           has_touch=True, is_mobile=True)
    mobile = phone.page
    await mobile.goto(f"{base}/g/{slug}")
    await mobile.locator(".tile").nth(2).locator(".buy-btn").click()
    await mobile.fill("#gate-name", "Mara Journey")
    await mobile.fill("#gate-email", EMAIL)
    await mobile.click("#gate-form button[type=submit]")
    await expect(mobile.locator("#store-picker")).to_be_visible()
    await expect(mobile.locator("#device-note")).to_be_visible()
    await mobile.keyboard.press("Escape")
    await expect(mobile.locator("#cart-count")).to_have_text("0")
    await mobile.click("#cart-open")
    await expect(mobile.locator("#cart-drawer #cart-empty")).to_be_visible()
    await expect(mobile.locator("#cart-drawer .cart-line")).to_have_count(0)
    await shot(mobile, "phone-unverified", server.backend, full_page=False)
    await mobile.keyboard.press("Escape")
    assert await scalar(db, "SELECT stage FROM carts WHERE photographer_id=:p",
                        p=pid) == "cart"  # an unverified browser moved nothing
    await expect(pill).to_have_text("In cart")

    # The emailed link, opened on the phone: one click, and the whole cart is there.
    path = await verify_link_path(photographer, slug, EMAIL)
    await mobile.goto(base + path)
    await mobile.click("text=Continue on this device")
    await expect(mobile).to_have_url(f"{base}/g/{slug}")
    await expect(mobile.locator("#cart-count")).to_have_text("4")
    await mobile.click("#cart-open")
    drawer = mobile.locator("#cart-drawer")
    await expect(drawer.locator("#cart-lines .cart-line")).to_have_count(3)
    await expect(drawer.locator("[data-total=total]")).to_have_text("$219.01")
    await mobile.fill("#coupon-input", "save10")
    await mobile.click("#coupon-apply")
    await expect(mobile.locator("#coupon-code")).to_have_text("SAVE10")
    await expect(drawer.locator("[data-total=total]")).to_have_text("$198.00")
    await shot(mobile, "phone-cart", server.backend, full_page=False)

    # Details → Review → Place order; the panel's cell follows each step, live.
    await mobile.click("#checkout-start")
    await expect(mobile.locator("#cart-title")).to_have_text("Your details")
    await expect(pill).to_have_text("Details")
    await mobile.fill("#details-email", EMAIL)
    await mobile.fill("#details-line1", "7 Quay Lane")
    await mobile.fill("#details-city", "Portland")
    await mobile.fill("#details-postal_code", "97201")
    await mobile.fill("#details-country", "USA")
    await mobile.click("#details-continue")
    await expect(mobile.locator("#cart-title")).to_have_text("Review your order")
    await expect(pill).to_have_text("Review")
    await expect(mobile.locator("#place-order")).to_have_text("Place order · $198.00")
    await mobile.click("#place-order")
    await mobile.wait_for_url(re.compile(r"/g/[^/]+/orders/[\w-]+$"))
    order_url = mobile.url
    await expect(mobile.locator("#order")).to_contain_text("Order #1001")
    await expect(mobile.locator("#order .order-totals dd.grand")).to_have_text("$198.00")
    await expect(pill).to_have_text("Ordered")

    # 4. All of it arrived on the Activity page without a navigation.
    await expect(panel.page.locator("#feed")).to_contain_text("placed order #1001")
    await shot(panel.page, "panel-ordered", server.backend)
    assert panel.navigations == [f"{base}/panel/activity"], panel.navigations
    assert await panel.page.locator("#activity-table tbody tr").count() == 1

    # 5. The photographer opens the order from the list and marks it paid.
    desk = panel.page
    await desk.goto(f"{base}/panel/store/orders")
    await desk.click("a.order-number:has-text('#1001')")
    await expect(desk.locator("h1")).to_contain_text("Order #1001")
    await desk.click(".state-actions button[value=paid]")
    await expect(desk.locator("#order-state")).to_have_text("Paid")
    await expect(desk.locator(".alert-ok")).to_have_text("Order marked paid.")

    # 6. The client's order page: her files, the one she bought downloads as a JPEG.
    await mobile.reload()
    downloads = mobile.locator("#purchased-downloads")
    await expect(downloads.locator("h2")).to_have_text("Your digital files")
    links = downloads.locator("li a")
    bought = {images[1]["filename"], images[4]["filename"]}  # the file, the package's file
    await expect(links).to_have_count(2)
    assert {t.lstrip("⤓ ").strip() for t in await links.all_inner_texts()} == bought
    await shot(mobile, "phone-order-paid", server.backend)
    link = downloads.locator(f"a:has-text('{images[1]['filename']}')")
    href = await link.get_attribute("href")
    answer = await mobile.context.request.get(base + href)
    assert answer.status == 200, (
        f"the order page's link {href} answers {answer.status}: {await said(answer)}")
    assert (await answer.body())[:3] == JPEG
    async with mobile.expect_download() as info:
        await link.click()
    download = await info.value
    assert download.suggested_filename == images[1]["filename"]
    with open(await download.path(), "rb") as file:
        assert file.read(3) == JPEG
    archive = await mobile.context.request.get(
        base + await downloads.locator("a.btn").get_attribute("href"))
    assert archive.status == 200 and (await archive.body())[:2] == b"PK"

    # A file she did not buy is refused, by the order's link and by the gallery's.
    token_url = urlsplit(order_url).path
    not_bought = images[2]["id"]
    refused = await mobile.context.request.get(f"{base}{token_url}/files/{not_bought}")
    assert refused.status == 404
    assert (await refused.body())[:3] != JPEG
    refused = await mobile.context.request.get(
        f"{base}/g/{slug}/images/{not_bought}/download?purchased=1")
    assert refused.status == 403

    for watched in (panel, laptop, phone):
        await watched.page.context.close()
    assert panel.errors + laptop.errors + phone.errors == []
