"""A photographer's whole Gallery Workflows journey in Chromium: build a workflow from the
Wedding template, change a step, preview it, send a test to themselves, add the couple
to a gallery, release it, and watch the gallery's timeline and the mail log fill while
those pages stay open (no reload, no script error)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from conftest import create_gallery, jpeg_bytes, scalar, upload, wait_processed

pytestmark = pytest.mark.browser

SUBJECT = "Your wedding photos are here, {first_name}!"


async def logged_in_page(context, photographer, base_url: str):
    host = urlsplit(base_url).hostname
    await context.add_cookies([{"name": n, "value": v, "domain": host, "path": "/"}
                               for n, v in photographer.http.cookies.items()])
    page = await context.new_page()
    return page


def watch(page, problems: list[str]) -> None:
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: {exc}"))
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}")
            if m.type == "error" else None)


async def navigations(page) -> int:
    """Documents this tab loaded since it opened (a reload would make it 2)."""
    return await page.evaluate("performance.getEntriesByType('navigation').length")


async def test_from_the_wedding_template_to_a_released_gallery_live(
        browser, photographer, server, db):
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await logged_in_page(context, photographer, server.base_url)
    problems: list[str] = []
    watch(page, problems)
    base = server.base_url

    # 1. From the template, active for the Wedding type.
    await page.goto(f"{base}/panel/workflows")
    await page.click("[data-preset=wedding]")
    await page.check("input[name=active]")
    await page.click("text=Create workflow")
    live_card = page.locator(".wf-step", has_text="Gallery is live")
    await expect(live_card).to_have_count(1)

    # 2. Change a step: the announcement's subject.
    await live_card.locator("text=Edit").click()
    await page.fill("input[name=subject]", SUBJECT)
    await page.click("text=Save step")
    await expect(page.locator(".wf-step", has_text="Your wedding photos are here")
                 ).to_have_count(1)

    # 3. Preview it, 4. send a test to myself.
    await page.locator(".wf-step", has_text="Gallery is live").locator("text=Preview").click()
    frame = page.frame_locator("iframe.wf-mail-frame")
    await expect(frame.locator("body")).to_contain_text("Your wedding photos are here, Alex!")
    await page.click("#send-test")
    await expect(page.locator(".alert-ok")).to_contain_text("Test email sent to you")

    # 5. A Wedding gallery with photos and the couple as its clients (added in the page).
    wedding = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id = :p "
                               "AND name = 'Wedding'", p=photographer.photographer_id)
    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    event_id = await create_gallery(photographer, title="Emma & Daniel",
                                    gallery_type_id=str(wedding), expires_on=expires)
    res = await upload(photographer, event_id, [(f"IMG_{i}.jpg", jpeg_bytes()) for i in range(2)])
    assert res.status_code == 200
    await wait_processed(photographer, event_id)
    await page.goto(f"{base}/panel/events/{event_id}")
    await page.fill("#client-add input[name=name]", "Emma Smith")
    await page.fill("#client-add input[name=email]", "emma@example.com")
    await page.click("#client-add button")
    await expect(page.locator("#clients-list li")).to_have_count(1)

    # 6. The timeline and the mail log stay open while the gallery is released.
    timeline = await context.new_page()
    watch(timeline, problems)
    await timeline.goto(f"{base}/panel/events/{event_id}/timeline")
    mail_log = await context.new_page()
    watch(mail_log, problems)
    await mail_log.goto(f"{base}/panel/mail")
    await expect(mail_log.locator("#mail-table tbody tr")).to_have_count(1)  # the test

    await page.click("text=Release gallery")
    sent = timeline.locator("#timeline-region .tl-sent", has_text="Sent to Emma Smith")
    await expect(sent).to_have_count(1, timeout=30000)
    pending = timeline.locator("#timeline-region .tl-pending")
    await expect(pending.filter(has_text="Expiry reminder")).to_have_count(3)  # 7, 4, 1 days
    await expect(pending.filter(has_text="Last chance banner")).to_have_count(2)  # on, off
    await expect(pending.filter(has_text="Comes down from the gallery")).to_have_count(1)
    row = mail_log.locator("#mail-table tbody tr", has_text="Your wedding photos are here, Emma!")
    await expect(row).to_have_count(1, timeout=30000)
    await expect(row.locator(".badge")).to_have_text("stored", timeout=15000)
    assert await navigations(timeline) == 1 and await navigations(mail_log) == 1

    # The email itself: in the mail log, to the client, with her unsubscribe link.
    body = await scalar(db, "SELECT body_text FROM outbound_emails WHERE event_id = :e "
                            "AND kind = 'workflow'", e=event_id)
    assert "/unsubscribe/" in body and "/g/" in body
    assert problems == []
    await context.close()
