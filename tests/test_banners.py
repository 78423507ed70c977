"""Banners and announcements in the client gallery: what a gallery page shows now comes
from the database, a banner's start and end are scheduled rows whose jobs tell open
gallery sockets to fetch again, and audiences that depend on the visitor (an open cart)
follow the visitor's own actions. Both backends, with the real worker and Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import (
    open_gallery_socket,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    seed_price_list,
    seed_workflow,
)
from sqlalchemy import text


async def follow(db, event_id: int, workflow_id: int) -> None:
    async with db.begin() as conn:
        await conn.execute(text("UPDATE events SET workflow_id = :w WHERE id = :e"),
                           {"w": workflow_id, "e": event_id})


async def replan(photographer, event_id: int) -> None:
    res = await photographer.post_form(f"/panel/events/{event_id}/status",
                                       {"status": "released"})
    assert res.status_code == 303


async def shown(visitor, slug: str) -> list[dict]:
    res = await visitor.get(f"/g/{slug}/banners.json")
    assert res.status_code == 200, res.text
    body = res.json()
    datetime.fromisoformat(body["now"])  # the page's countdowns run from the server's time
    return body["banners"]


async def next_banners_push(ws, timeout: float = 30) -> dict:
    async with asyncio.timeout(timeout):
        while (message := json.loads(await ws.recv())).get("type") != "banners":
            pass
    return message


def banner(**fields) -> dict:
    return {"kind": "banner", "audience": "visitors", **fields}


async def test_a_banner_starts_and_ends_on_time_and_open_pages_are_told(
        photographer, new_client, db):
    event_id, slug, _ = await released_gallery(photographer, 1)
    now = datetime.now(UTC)
    workflow_id, (step_id,) = await seed_workflow(db, photographer.photographer_id, steps=[
        banner(anchor="date", at=now + timedelta(seconds=4), end_anchor="date",
               end_at=now + timedelta(seconds=9),
               content={"headline": "Last chance", "text": "Only {days_left} days left",
                        "style": "urgent", "position": "top"})])
    await follow(db, event_id, workflow_id)
    await replan(photographer, event_id)
    edges = await rows(db, "SELECT key, state FROM scheduled_actions WHERE step_id = :s "
                           "ORDER BY key DESC", s=step_id)
    assert [(k.rsplit(":", 1)[1], state) for k, state in edges] == [
        ("start", "pending"), ("end", "pending")]

    visitor, anonymous = new_client(), new_client()
    await pass_gate(visitor, slug, email="bea@example.com", name="Bea")
    await anonymous.get(f"/g/{slug}")  # before the email gate: no name given
    assert await shown(visitor, slug) == []
    ws = await open_gallery_socket(visitor, slug)
    before_the_gate = await open_gallery_socket(anonymous, slug)
    try:
        await next_banners_push(ws)  # its start
        # The same for everyone: the message carries the list, no page has to fetch it.
        started = await next_banners_push(before_the_gate, timeout=5)
        assert [b["id"] for b in started["banners"]] == [step_id]
        datetime.fromisoformat(started["now"])
        (item,) = await shown(visitor, slug)
        assert (item["id"], item["headline"], item["style"], item["position"]) == (
            step_id, "Last chance", "urgent", "top")
        assert item["text"].startswith("Only ") and "{" not in item["text"]
        assert [b["id"] for b in await shown(anonymous, slug)] == [step_id]
        await next_banners_push(ws)  # its end
        assert (await next_banners_push(before_the_gate, timeout=5))["banners"] == []
        assert await shown(visitor, slug) == [] and await shown(anonymous, slug) == []
    finally:
        await ws.close()
        await before_the_gate.close()
    states = await rows(db, "SELECT state, reason FROM scheduled_actions WHERE step_id = :s "
                            "ORDER BY key DESC", s=step_id)
    assert states == [("sent", "Shown in the gallery."), ("sent", "Taken down.")]


async def test_a_cart_banner_follows_the_visitors_own_cart(photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    prices = await seed_price_list(db, photographer.photographer_id, event_id)
    workflow_id, _ = await seed_workflow(db, photographer.photographer_id, steps=[
        banner(anchor="cart_change", audience="open_cart",
               content={"headline": "Your cart is waiting", "text": "", "style": "notice",
                        "position": "top"})])
    await follow(db, event_id, workflow_id)
    visitor, stranger = new_client(), new_client()
    await pass_gate(visitor, slug, email="cara@example.com", name="Cara")
    await pass_gate(stranger, slug, email="dan@example.com", name="Dan")
    assert await shown(visitor, slug) == []
    # Her page open elsewhere (another tab, her phone) is told; another visitor's is not.
    hers, his = (await open_gallery_socket(visitor, slug),
                 await open_gallery_socket(stranger, slug))
    res = await visitor.post_json(f"/g/{slug}/cart/items", {
        "item_id": prices["print"], "image_id": images[0]["id"],
        "choices": {"Paper": "Metallic"}, "quantity": 1})
    assert res.status_code == 200, res.text
    try:
        # Hers depends on her cart: her pages are told to fetch it, not given a list.
        assert await next_banners_push(hers, timeout=10) == {"type": "banners"}
        with pytest.raises(TimeoutError):
            await next_banners_push(his, timeout=1.5)
    finally:
        await hers.close()
        await his.close()
    assert [b["headline"] for b in await shown(visitor, slug)] == ["Your cart is waiting"]
    assert await shown(stranger, slug) == []  # nobody else's cart
    res = await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Cara", "email": "cara@example.com", "line1": "1 Main St",
        "city": "Springfield", "postal_code": "12345", "country": "US"})
    await visitor.post_json(f"/g/{slug}/checkout", {"version": res.json()["version"]})
    assert await scalar(db, "SELECT count(*) FROM orders WHERE event_id = :e", e=event_id) == 1
    assert await shown(visitor, slug) == []


async def test_views_clicks_and_orders_after_a_click_are_counted_per_banner(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 1)
    prices = await seed_price_list(db, photographer.photographer_id, event_id)
    workflow_id, (step_id, email_id) = await seed_workflow(
        db, photographer.photographer_id, steps=[
            banner(content={"headline": "Order by Friday", "text": "", "position": "top"}),
            {"offset_seconds": 7 * 86400}])
    await follow(db, event_id, workflow_id)
    visitor, other = new_client(), new_client()
    await pass_gate(visitor, slug, email="dee@example.com", name="Dee")
    await pass_gate(other, slug, email="eli@example.com", name="Eli")
    for client, kinds in ((visitor, ("view", "view", "click")), (other, ("view", "dismiss"))):
        for kind in kinds:
            res = await client.post_json(f"/g/{slug}/banners/{step_id}/{kind}", {})
            assert res.status_code == 200, res.text
    # Not a banner of this gallery (an email step; a made-up action): refused, nothing kept.
    assert (await visitor.post_json(f"/g/{slug}/banners/{email_id}/view", {})
            ).status_code == 404
    assert (await visitor.post_json(f"/g/{slug}/banners/{step_id}/like", {})
            ).status_code == 404
    assert await scalar(db, "SELECT count(*) FROM banner_events WHERE event_id = :e",
                        e=event_id) == 4  # the second view is the first one's
    res = await visitor.post_json(f"/g/{slug}/cart/items", {
        "item_id": prices["print"], "image_id": images[0]["id"],
        "choices": {"Paper": "Metallic"}, "quantity": 1})
    res = await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Dee", "email": "dee@example.com", "line1": "1 Main St",
        "city": "Springfield", "postal_code": "12345", "country": "US"})
    await visitor.post_json(f"/g/{slug}/checkout", {"version": res.json()["version"]})
    page = (await photographer.get(f"/panel/workflows/{workflow_id}")).text
    stats = page.split(f'data-banner-stats="{step_id}">', 1)[1].split("</p>", 1)[0]
    assert "<strong>2</strong> saw it · <strong>1</strong> clicked · <strong>1</strong> " \
           "ordered after a click · 1 dismissed" in stats


async def coupon(photographer, code: str) -> None:
    res = await photographer.post_form("/panel/store/coupons", {
        "code": code, "kind": "percent", "amount": "10", "active": "on"})
    assert res.status_code == 303, res.text


async def test_layout_photo_colours_repeat_and_a_coupon_button_reach_the_page(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 3)
    workflow_id, (full_id, card_id) = await seed_workflow(
        db, photographer.photographer_id, steps=[
            banner(content={"headline": "Holiday prints", "text": "Use {coupon_code}",
                            "position": "top", "layout": "full", "image_n": 2,
                            "style": "custom", "coupon_code": "HOLIDAY",
                            "colors": {"bg": "#1f2a44", "ink": "#ffffff",
                                       "accent": "#f2c14e"},
                            "buttons": [{"action": "shop_coupon", "label": "", "url": ""}]}),
            banner(content={"headline": "Favorites?", "text": "", "position": "between",
                            "layout": "card", "after_n": 4, "repeat": True,
                            "buttons": [{"action": "store", "label": "Shop", "url": ""}]})])
    await follow(db, event_id, workflow_id)
    visitor = new_client()
    await visitor.get(f"/g/{slug}")
    full, card = await shown(visitor, slug)
    assert (full["layout"], full["text"]) == ("full", "Use HOLIDAY")
    assert full["image"]["src"].endswith(f"/g/{slug}/media/preview/{images[1]['id']}")
    # The button's text colour is picked for the button: dark on the light gold.
    assert full["colors"] == {"bg": "#1f2a44", "ink": "#ffffff", "accent": "#f2c14e",
                              "accent_ink": "#111111"}
    assert full["button"]["url"].endswith(f"/g/{slug}?view=shop&coupon=HOLIDAY")
    assert full["button"]["label"] == "Open the store with the coupon applied"
    assert (card["layout"], card["after_n"], card["repeat"], card["colors"]) == (
        "card", 4, True, None)
    assert card["button"]["url"].endswith(f"/g/{slug}?view=shop")  # what gallery.js reads
    assert (await visitor.get(full["image"]["src"])).status_code == 200


def step_form(**fields) -> dict:
    return {"kind": "banner", "anchor": "release", "amount": "0", "unit": "days",
            "direction": "after", "style": "notice", "position": "top", "layout": "strip",
            "text": "Order by {expiry_date}", **fields}


async def test_the_editor_saves_the_new_fields_and_refuses_what_cannot_work(
        photographer, db):
    workflow_id, _ = await seed_workflow(db, photographer.photographer_id, steps=[])
    await coupon(photographer, "XMAS10")
    new = f"/panel/workflows/{workflow_id}/steps/new"
    count = "SELECT count(*) FROM workflow_steps WHERE workflow_id = :w"
    refused = {
        "Pick the coupon the button applies.": step_form(button1_action="shop_coupon"),
        "Background colour: give it as #rrggbb.": step_form(
            style="custom", color_bg="red", color_ink="#ffffff", color_accent="#000000"),
        "The banner must end after it starts.": step_form(
            anchor="date", at_local="2030-12-24T09:00", end_anchor="date",
            end_at_local="2030-12-20T09:00"),
    }
    for message, form in refused.items():
        res = await photographer.post_form(new, form)
        assert res.status_code == 400 and message in res.text, (message, res.text[:300])
    assert await scalar(db, count, w=workflow_id) == 0

    res = await photographer.post_form(new, step_form(
        style="custom", color_bg="#FDF6E3", color_ink="#3b2f1e", color_accent="#8a1c12",
        layout="full", image_n="3", coupon_code="xmas10", button1_action="shop_coupon",
        anchor="date", at_local="2030-12-01T09:00", end_anchor="date",
        end_at_local="2030-12-24T18:00"))
    assert res.status_code == 303, res.text
    step_id = await scalar(db, "SELECT id FROM workflow_steps WHERE workflow_id = :w",
                           w=workflow_id)
    page = (await photographer.get(f"/panel/workflows/{workflow_id}/steps/{step_id}")).text
    for shown_value in ('value="#fdf6e3"', 'value="#3b2f1e"', 'value="#8a1c12"',
                        'value="2030-12-24T18:00"', 'value="3"'):
        assert shown_value in page, shown_value
    flow = (await photographer.get(f"/panel/workflows/{workflow_id}")).text
    assert "From Dec 1, 2030 at 09:00 until Dec 24, 2030 at 18:00" in flow


async def test_the_editor_preview_renders_the_unsaved_banner_with_contrast_warnings(
        photographer, db):
    event_id, slug, images = await released_gallery(photographer, 2, title="Autumn Fair")
    workflow_id, _ = await seed_workflow(db, photographer.photographer_id, steps=[])
    url = f"/panel/workflows/{workflow_id}/steps/banner-preview"
    steps = "SELECT count(*) FROM workflow_steps WHERE workflow_id = :w"

    res = await photographer.post_form(url, {**step_form(
        headline="Hello {first_name}", text="{gallery_title} closes soon", layout="full",
        style="custom", color_bg="#888888", color_ink="#777777", color_accent="#8a8a8a"),
        "event_id": str(event_id)})
    assert res.status_code == 200, res.text
    body = res.json()
    (item,) = body["banners"]
    assert (item["headline"], item["text"]) == ("Hello Alex", "Autumn Fair closes soon")
    assert item["image"]["src"].endswith(f"/media/preview/{images[0]['id']}")  # the cover
    text_warning, button_warning = body["warnings"]  # its label is dark: readable
    assert "1.3:1, below the 4.5:1" in text_warning and "1.0:1" in button_warning

    res = await photographer.post_form(url, {**step_form(
        style="custom", color_bg="#ffffff", color_ink="#1d1d1f", color_accent="#2f5d50"),
        "event_id": str(event_id)})
    assert res.json()["warnings"] == []
    res = await photographer.post_form(url, {**step_form(text=""), "event_id": str(event_id)})
    assert res.status_code == 200 and res.json()["field"] == "text"  # what to fix
    assert "banners" not in res.json()
    assert await scalar(db, steps, w=workflow_id) == 0  # a preview stores nothing

    frame = await photographer.get(f"/panel/events/{event_id}/banner-preview")
    assert frame.status_code == 200 and '"preview": true' in frame.text.replace("'", '"')
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    gallery = await photographer.get(f"/g/{slug}")  # the gallery itself: never framed
    assert "frame-ancestors 'none'" in gallery.headers["content-security-policy"]


def test_contrast_is_measured_as_wcag_defines_it():
    from server.workflows import colors

    assert round(colors.contrast("#ffffff", "#000000"), 2) == 21.0
    assert round(colors.contrast("#767676", "#ffffff"), 2) == 4.54  # the AA grey
    assert colors.contrast("#777777", "#ffffff") < 4.5
    assert colors.ink_on("#f2c14e") == "#111111" and colors.ink_on("#1f2a44") == "#ffffff"
    assert colors.warnings({"bg": "#ffffff", "ink": "#767676", "accent": "#2f5d50"}) == []
