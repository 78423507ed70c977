"""The banner step editor in Chromium (panel/workflows_step.html, workflow_builder.js): the
fields that follow the kind, position, layout, style and end; the live preview on a real
gallery page that follows the form before anything is saved (the server's answer to
POST …/steps/banner-preview, posted into the gallery's frame), its contrast warnings and
its phone width; and a saved banner step that keeps its layout, photo, repeat, colours,
coupon button and end date when the editor is opened again."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import released_gallery, rows, scalar, seed_workflow
from playwright.async_api import expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
FRAME = "iframe[data-preview-frame]"


async def editor_page(
    browser, photographer, server, url: str, width: int = 1440, height: int = 900
):
    """A logged-in tab on `url`, and the problems it logs (page errors, console errors)."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    host = urlsplit(server.base_url).hostname
    await context.add_cookies(
        [
            {"name": n, "value": v, "domain": host, "path": "/"}
            for n, v in photographer.http.cookies.items()
        ]
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type == "error"
            else None
        ),
    )
    await page.goto(server.base_url + url)
    return page, problems


async def seed_coupon(db, photographer_id: int, code: str = "SAVE10") -> None:
    from sqlalchemy import insert

    from server.store.models import Coupon

    async with db.begin() as conn:
        await conn.execute(
            insert(Coupon).values(
                photographer_id=photographer_id,
                code=code,
                kind="percent",
                amount=10,
                min_order=0,
                once_per_contact=False,
                active=True,
            )
        )


async def empty_workflow(db, photographer) -> int:
    workflow_id, _ = await seed_workflow(
        db, photographer.photographer_id, steps=(), name="Holiday offers"
    )
    return workflow_id


async def no_sideways_scroll(page) -> None:
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= await page.evaluate("document.documentElement.clientWidth"), wide


async def test_fields_follow_kind_position_layout_style_and_end(browser, photographer, server, db):
    await seed_coupon(db, photographer.photographer_id)
    workflow_id = await empty_workflow(db, photographer)
    page, problems = await editor_page(
        browser, photographer, server, f"/panel/workflows/{workflow_id}/steps/new?kind=banner"
    )
    field = page.locator
    layout, image_n = field("select[name=layout]"), field("input[name=image_n]")
    repeat, color_bg = field("input[name=repeat]"), field("input[name=color_bg]")
    end_amount, end_at = field("input[name=end_amount]"), field("input[name=end_at_local]")

    # A new banner: a top strip in a preset style, no end; the coupon and the preview show.
    await expect(layout).to_be_visible()
    for hidden in (image_n, repeat, color_bg, end_amount, end_at):
        await expect(hidden).to_be_hidden()
    await expect(field("select[name=coupon_code]")).to_be_visible()
    await expect(field("[data-banner-preview]")).to_be_visible()
    await expect(field("#merge-fields")).to_be_hidden()
    # No released gallery yet: the preview says how to get one.
    await expect(field("[data-banner-preview]")).to_contain_text(
        "Publish a gallery to preview banners on it"
    )
    await expect(field("[data-banner-preview] a[href='/panel/events']")).to_be_visible()

    # Between the photos: how often, and repeating; at the bottom: always a slim strip.
    await field("select[name=position]").select_option("between")
    await expect(repeat).to_be_visible()
    await expect(field("label", has_text="Repeat every 12")).to_be_visible()
    await field("input[name=after_n]").fill("8")
    await expect(field("label", has_text="Repeat every 8")).to_be_visible()
    await layout.select_option("full")
    await expect(image_n).to_be_visible()
    await expect(field("text=0 = the gallery's cover photo")).to_be_visible()
    await field("select[name=position]").select_option("bottom")
    await expect(layout).to_be_hidden()
    await expect(image_n).to_be_hidden()
    await expect(repeat).to_be_hidden()
    await expect(field("text=A bottom strip is always a slim strip")).to_be_visible()
    await field("select[name=position]").select_option("top")
    await expect(image_n).to_be_visible()

    # Custom colours: three pickers with their contrast area.
    await field("select[name=style]").select_option("custom")
    for key in ("bg", "ink", "accent"):
        await expect(field(f"input[type=color][name=color_{key}]")).to_be_visible()
    await field("select[name=style]").select_option("urgent")
    await expect(color_bg).to_be_hidden()

    # The end: an anchor with an offset, or a date and time instead of the offset.
    await field("select[name=end_anchor]").select_option("expiry")
    await expect(end_amount).to_be_visible()
    await expect(end_at).to_be_hidden()
    await field("select[name=end_anchor]").select_option("date")
    await expect(end_at).to_be_visible()
    for name in ("end_amount", "end_unit", "end_direction"):
        await expect(field(f"[name={name}]")).to_be_hidden()

    # The coupon button has no link, and asks for the coupon until one is picked.
    await field("select[name=button1_action]").select_option("shop_coupon")
    row = field("[data-button-row]").first
    await expect(row.locator("input[name=button1_url]")).to_be_hidden()
    await expect(row.locator("[data-needs-coupon]")).to_be_visible()
    await field("select[name=coupon_code]").select_option("SAVE10")
    await expect(row.locator("[data-needs-coupon]")).to_be_hidden()
    await field("select[name=button1_action]").select_option("url")
    await expect(row.locator("input[name=button1_url]")).to_be_visible()

    # An announcement has no position; an email has no gallery fields and no preview.
    await field("select[name=kind]").select_option("announcement")
    await expect(field("select[name=position]")).to_be_hidden()
    await expect(field("select[name=style]")).to_be_visible()
    await field("select[name=kind]").select_option("email")
    await expect(field("input[name=headline]")).to_be_hidden()
    await expect(field("[data-banner-preview]")).to_be_hidden()
    await expect(field("#merge-fields")).to_be_visible()
    await expect(field("select[name=coupon_code]")).to_be_visible()
    await expect(field("input[name=subject]")).to_be_visible()
    assert problems == []
    await page.context.close()


async def test_typing_updates_the_banner_in_the_preview_without_saving(
    browser, photographer, server, db
):
    event_id, _, _ = await released_gallery(photographer, 4, title="Winter wedding")
    workflow_id = await empty_workflow(db, photographer)
    page, problems = await editor_page(
        browser, photographer, server, f"/panel/workflows/{workflow_id}/steps/new?kind=banner"
    )
    frame = page.locator(FRAME)
    await expect(frame).to_have_attribute("src", f"/panel/events/{event_id}/banner-preview")
    inside = page.frame_locator(FRAME)

    await page.fill("input[name=headline]", "Order by Friday")
    await page.fill("textarea[name=text]", "Prints arrive before Christmas.")
    await expect(inside.locator(".gb-headline")).to_have_text("Order by Friday", timeout=10000)
    # A merge field from the chips under the text goes in at the cursor, and is previewed.
    await page.fill("input[name=headline]", "Order by Friday, ")
    await page.click("[data-merge-chip='{first_name}']")
    await expect(page.locator("input[name=headline]")).to_have_value(
        "Order by Friday, {first_name}"
    )
    # The sample visitor's first name, filled in by the server.
    await expect(inside.locator(".gb-headline")).to_have_text(re.compile(r"Order by Friday, \w+"))
    # A second chip with no keystroke between (no change event): previewed all the same.
    await page.click("[data-merge-chip='{gallery_title}']")
    await expect(inside.locator(".gb-headline")).to_contain_text("Winter wedding")
    await page.fill("input[name=headline]", "Order by Friday, {first_name}")
    assert (
        await rows(db, "SELECT id FROM workflow_steps WHERE workflow_id = :w", w=workflow_id) == []
    )

    # The server refuses the form: it says why, and the last good banner stays.
    await page.select_option("select[name=position]", "between")
    await page.fill("input[name=after_n]", "0")
    await expect(page.locator("[data-preview-error]")).to_contain_text("Fix:")
    await expect(inside.locator(".gb-headline")).to_contain_text("Order by Friday,")
    await page.fill("input[name=after_n]", "2")
    await expect(page.locator("[data-preview-error]")).to_be_hidden()
    await page.select_option("select[name=position]", "top")
    await expect(inside.locator("#banner-top .gb-headline")).to_contain_text("Order by Friday,")

    # Desktop renders the page 1280 px wide, scaled to the pane; Phone at 390 px.
    width = "el => el.offsetWidth"
    assert await frame.evaluate(width) == 1280
    pane = await page.locator("[data-preview-stage]").bounding_box()
    box = await frame.bounding_box()
    assert box["width"] <= pane["width"] + 1
    ARTIFACTS.mkdir(exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(
        path=str(ARTIFACTS / f"banner-editor-1440-{server.backend}.png"), full_page=True
    )
    await page.click("[data-preview-device=phone]")
    await expect(page.locator("[data-preview-device=phone]")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert await frame.evaluate(width) == 390
    await expect(inside.locator(".gb-headline")).to_contain_text("Order by Friday,")
    await page.screenshot(path=str(ARTIFACTS / f"banner-editor-1440-phone-{server.backend}.png"))

    # On a wide screen the preview stays in view while the form scrolls.
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    pane = await page.locator("[data-banner-preview]").bounding_box()
    assert 0 <= pane["y"] <= 200, pane

    # A phone-width editor: the preview stacks under the form, nothing scrolls sideways.
    await page.set_viewport_size({"width": 390, "height": 844})
    await no_sideways_scroll(page)
    box = await frame.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    await page.screenshot(
        path=str(ARTIFACTS / f"banner-editor-390-{server.backend}.png"), full_page=True
    )
    assert problems == []
    await page.context.close()


async def test_poor_custom_contrast_is_warned_from_the_preview_answer(
    browser, photographer, server, db
):
    await released_gallery(photographer, 2)
    workflow_id = await empty_workflow(db, photographer)
    page, problems = await editor_page(
        browser, photographer, server, f"/panel/workflows/{workflow_id}/steps/new?kind=banner"
    )
    await page.fill("input[name=headline]", "Last week to order")
    await page.fill("textarea[name=text]", "The gallery closes soon.")
    await page.select_option("select[name=style]", "custom")
    warnings = page.locator("[data-color-warnings]")
    await expect(warnings).to_have_attribute("role", "status")
    await page.fill("input[name=color_bg]", "#888888")
    await page.fill("input[name=color_ink]", "#777777")
    await expect(warnings.locator("li").first).to_contain_text("WCAG AA", timeout=10000)

    # Readable colours: the warning goes with the next answer.
    await page.fill("input[name=color_bg]", "#111111")
    await page.fill("input[name=color_ink]", "#ffffff")
    await page.fill("input[name=color_accent]", "#f2c14e")
    await expect(warnings.locator("li")).to_have_count(0)
    await expect(warnings).to_contain_text("meet WCAG AA")

    # Saved as hard to read (a warning, not an error): the editor says so when it opens.
    await page.fill("input[name=color_ink]", "#777777")
    await page.fill("input[name=color_bg]", "#888888")
    await page.fill("input[name=name]", "Grey on grey")
    await page.click("text=Add step")
    await expect(page.locator(".wf-step", has_text="Grey on grey")).to_have_count(1)
    step_id = await scalar(
        db, "SELECT id FROM workflow_steps WHERE workflow_id = :w", w=workflow_id
    )
    html = (await photographer.get(f"/panel/workflows/{workflow_id}/steps/{step_id}")).text
    box = html.split("data-color-warnings", 1)[1].split("</div>", 1)[0]
    assert "<li>" in box and "WCAG AA" in box, box
    assert problems == []
    await page.context.close()


async def test_only_the_newest_answer_shows_and_a_new_gallery_gets_it(
    browser, photographer, server, db
):
    first, _, _ = await released_gallery(photographer, 2, title="Spring portraits")
    second, _, _ = await released_gallery(photographer, 2, title="Summer wedding")
    workflow_id = await empty_workflow(db, photographer)
    page, problems = await editor_page(
        browser, photographer, server, f"/panel/workflows/{workflow_id}/steps/new?kind=banner"
    )
    inside = page.frame_locator(FRAME)
    await page.fill("textarea[name=text]", "Prints for the holidays.")

    # The answer to "Slow" is held back until after the answer to "Fast": it must not win.
    async def hold_slow(route) -> None:
        if "headline=Slow" in (route.request.post_data or ""):
            await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/steps/banner-preview", hold_slow)
    await page.fill("input[name=headline]", "Slow")
    await page.wait_for_timeout(400)  # past the debounce: "Slow" is asked for
    await page.fill("input[name=headline]", "Fast")
    await expect(inside.locator(".gb-headline")).to_have_text("Fast", timeout=10000)
    await page.wait_for_timeout(2000)  # "Slow" has been answered by now
    await expect(inside.locator(".gb-headline")).to_have_text("Fast")
    await page.unroute("**/steps/banner-preview")

    # Another gallery, slow to load: the answer comes first, and is sent again on load.
    async def slow_page(route) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/panel/events/*/banner-preview", slow_page)
    gallery = page.locator("[data-preview-gallery]")
    await expect(gallery.locator("option")).to_have_count(2)
    other, title = (
        (second, "Summer wedding")
        if await gallery.input_value() == str(first)
        else (first, "Spring portraits")
    )
    await gallery.select_option(str(other))
    await expect(page.locator(FRAME)).to_have_attribute(
        "src", f"/panel/events/{other}/banner-preview"
    )
    # The old page stays in the frame until the new one arrives: wait for the new one.
    await expect(inside.locator("body")).to_contain_text(title, timeout=10000)
    await expect(inside.locator(".gb-headline")).to_have_text("Fast")

    # An email's editor loads no gallery; turned into a banner, it previews it.
    await page.goto(f"{server.base_url}/panel/workflows/{workflow_id}/steps/new?kind=email")
    await expect(page.locator(FRAME)).not_to_have_attribute("src", re.compile("."))
    await page.select_option("select[name=kind]", "banner")
    await page.fill("input[name=headline]", "Was an email")
    await page.fill("textarea[name=text]", "Now a banner.")
    await expect(inside.locator(".gb-headline")).to_have_text("Was an email", timeout=10000)
    assert problems == []
    await page.context.close()


async def test_a_saved_banner_keeps_its_new_fields(browser, photographer, server, db):
    await seed_coupon(db, photographer.photographer_id)
    workflow_id = await empty_workflow(db, photographer)
    page, problems = await editor_page(
        browser, photographer, server, f"/panel/workflows/{workflow_id}/steps/new?kind=banner"
    )
    await page.fill("input[name=name]", "Holiday band")
    await page.fill("input[name=headline]", "Holiday prints")
    await page.fill("textarea[name=text]", "10% off with {coupon_code}.")
    await page.select_option("select[name=position]", "between")
    await page.fill("input[name=after_n]", "6")
    await page.check("input[name=repeat]")
    await page.select_option("select[name=layout]", "full")
    await page.fill("input[name=image_n]", "2")
    await page.select_option("select[name=style]", "custom")
    await page.fill("input[name=color_bg]", "#0b3d2e")
    await page.fill("input[name=color_ink]", "#fdf6e3")
    await page.fill("input[name=color_accent]", "#e8b04b")
    await page.select_option("select[name=coupon_code]", "SAVE10")
    await page.select_option("select[name=button1_action]", "shop_coupon")
    await page.fill("input[name=button1_label]", "Shop with 10% off")
    await page.select_option("select[name=end_anchor]", "date")
    await page.fill("input[name=end_at_local]", "2031-12-24T18:30")
    await page.click("text=Add step")
    await expect(page.locator(".wf-step", has_text="Holiday band")).to_have_count(1)

    step_id = await scalar(
        db, "SELECT id FROM workflow_steps WHERE workflow_id = :w", w=workflow_id
    )
    await page.goto(f"{server.base_url}/panel/workflows/{workflow_id}/steps/{step_id}")
    kept = {
        "select[name=position]": "between",
        "input[name=after_n]": "6",
        "select[name=layout]": "full",
        "input[name=image_n]": "2",
        "select[name=style]": "custom",
        "input[name=color_bg]": "#0b3d2e",
        "input[name=color_ink]": "#fdf6e3",
        "input[name=color_accent]": "#e8b04b",
        "select[name=coupon_code]": "SAVE10",
        "select[name=button1_action]": "shop_coupon",
        "input[name=button1_label]": "Shop with 10% off",
        "select[name=end_anchor]": "date",
        "input[name=end_at_local]": "2031-12-24T18:30",
    }
    for selector, value in kept.items():
        await expect(page.locator(selector)).to_have_value(value)
    await expect(page.locator("input[name=repeat]")).to_be_checked()
    for shown in (
        "input[name=image_n]",
        "input[name=end_at_local]",
        "input[name=color_bg]",
        "input[name=repeat]",
    ):
        await expect(page.locator(shown)).to_be_visible()
    await expect(page.locator("input[name=end_amount]")).to_be_hidden()
    # Saving again unchanged keeps them too (the form posts back what it shows).
    await page.click("text=Save step")
    await expect(page.locator(".wf-step", has_text="Holiday band")).to_have_count(1)
    end_at = await scalar(db, "SELECT end_at FROM workflow_steps WHERE id = :s", s=step_id)
    assert end_at is not None
    assert problems == []
    await page.context.close()
