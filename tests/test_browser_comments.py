"""Photographer and client talk about a photo, live, in two browsers: a comment and two
replies each appear on the other side without a reload."""

from __future__ import annotations

import re

import pytest
from conftest import released_gallery, rows
from playwright.async_api import expect
from test_browser_live import panel_page

pytestmark = pytest.mark.browser


async def test_a_comment_and_two_replies_cross_between_gallery_and_panel(
        browser, photographer, server, db):
    _, slug, images = await released_gallery(photographer, 3)
    panel = await panel_page(browser, photographer, server.base_url)
    await panel.goto(server.base_url + "/panel/comments")

    client_ctx = await browser.new_context(viewport={"width": 1280, "height": 850})
    gallery = await client_ctx.new_page()
    await gallery.goto(f"{server.base_url}/g/{slug}")
    await gallery.locator(".tile-open").nth(1).click()
    await gallery.click("#lb-comments-toggle")
    await gallery.fill("#comment-body", "Can you soften the shadows <b>here</b>?")
    await gallery.keyboard.press("Enter")
    await gallery.fill("#gate-name", "Robin Chat")
    await gallery.fill("#gate-email", "robin.chat@example.com")
    await gallery.click("#gate-form button[type=submit]")
    thread = gallery.locator("#thread")
    await expect(thread).to_contain_text("Can you soften the shadows <b>here</b>?")

    # The panel's list shows the new conversation, unread, without a reload.
    conversation = panel.locator("#conversations .conv").first
    await expect(conversation).to_contain_text("Robin Chat")
    await expect(conversation).to_contain_text(images[1]["filename"])
    await expect(conversation).to_have_class(re.compile(r"\bunread\b"))
    await conversation.locator("a").click()
    messages = panel.locator("#messages")
    await expect(messages).to_contain_text("Can you soften the shadows <b>here</b>?")
    await panel.evaluate("window.__sameDocument = true")

    await panel.fill("#reply-body", "Of course! I'll send a new version tonight.")
    await panel.keyboard.press("Enter")
    await expect(thread.locator(".bubble-photographer")).to_have_text(
        re.compile("I'll send a new version tonight"))

    await gallery.fill("#comment-body", "Thank you!\nAnd maybe a black & white one?")
    await gallery.keyboard.press("Enter")
    await expect(messages).to_contain_text("maybe a black & white one?")

    await panel.fill("#reply-body", "Both coming up.")
    await panel.keyboard.press("Enter")
    await expect(thread.locator(".bubble-photographer")).to_have_count(2)
    await expect(thread).to_contain_text("Both coming up.")
    assert await panel.evaluate("window.__sameDocument") is True

    stored = await rows(db, "SELECT author, body FROM comments WHERE photographer_id=:p "
                            "ORDER BY id", p=photographer.photographer_id)
    assert [a for a, _ in stored] == ["client", "photographer", "client", "photographer"]
    assert stored[2][1] == "Thank you!\nAnd maybe a black & white one?"
    await panel.screenshot(path="tests/artifacts/comments-panel.png")
    await gallery.screenshot(path="tests/artifacts/comments-gallery.png")
    await client_ctx.close()
    await panel.context.close()
