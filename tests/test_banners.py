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


async def next_banners_push(ws, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while json.loads(await ws.recv()).get("type") != "banners":
            pass


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

    visitor = new_client()
    await pass_gate(visitor, slug, email="bea@example.com", name="Bea")
    assert await shown(visitor, slug) == []
    ws = await open_gallery_socket(visitor, slug)
    try:
        await next_banners_push(ws)  # its start
        (item,) = await shown(visitor, slug)
        assert (item["id"], item["headline"], item["style"], item["position"]) == (
            step_id, "Last chance", "urgent", "top")
        assert item["text"].startswith("Only ") and "{" not in item["text"]
        await next_banners_push(ws)  # its end
        assert await shown(visitor, slug) == []
    finally:
        await ws.close()
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
        await next_banners_push(hers, timeout=10)
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
