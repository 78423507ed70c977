"""Bad input gets a clear refusal and changes nothing: missing or wrong CSRF tokens on every
POST route, wrong gallery passwords and PINs, forged ids, invalid emails, empty or huge
comments, malformed JSON."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace

import httpx
import pytest
from conftest import (
    create_gallery,
    gate_contact_id,
    jpeg_bytes,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    seed_price_list,
    seed_workflow,
    upload,
    verify_link_path,
)
from sqlalchemy import inspect
from starlette.routing import BaseRoute, Mount, Route

from server.app import create_app
from server.config import Settings
from server.models import Contact
from server.workflows import messages

CSRF_MESSAGE = "Your session token is missing or expired."
STATE_COOKIES = ("pr_session", "pr_unlock", "pr_guest", "pr_pin")


def post_routes(routes: list[BaseRoute] | None = None, prefix: str = "") -> set[str]:
    """Path templates of every route in the app's table that accepts POST."""
    if routes is None:
        routes = create_app(Settings(secret_key="route-table-only")).routes
    found: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= post_routes(route.routes or [], prefix + route.path)
        elif isinstance(route, Route):
            methods = route.methods
            if methods is None:  # an HTTPEndpoint class answers what it defines
                methods = {"POST"} if hasattr(route.endpoint, "post") else set()
            if "POST" in methods:
                found.add(prefix + route.path)
    return found


POST_ROUTES = sorted(post_routes())


# One world per test: a photographer's released gallery (with a password and a download
# PIN) and a visitor who unlocked it, passed its email gate and favorited an image, so each
# POST below would succeed (and write something) if its token were right.


@dataclass
class World:
    photographer: object
    visitor: object
    stranger: object  # a browser with no session at all
    event_id: int
    slug: str
    image_id: int
    other_image_id: int
    contact_id: int
    verify_path: str = ""  # a one-time link emailed to the visitor's address
    #: The store: price list, item ids (by seed_price_list's names), "coupon" (id) and
    #: "code", "order" (placed, unpaid), the visitor's cart "line" and cart "version".
    store: dict = field(default_factory=dict)
    #: Gallery Workflows: "type" (the gallery's type), "workflow", "step" (an email a week
    #: after release), "banner" (a banner showing now), "action" (the email's pending
    #: ScheduledAction), "unsubscribe" (the visitor's unsubscribe link).
    flow: dict = field(default_factory=dict)
    set_id: int = 1  # the gallery's one set (Sets bar routes)
    #: The demo account logged in, for its own routes (/panel/demo/…); None elsewhere.
    demo: object = None


GALLERY_PASSWORD = "open sesame"
#: Stand-in store ids for a World built without a server (the route-table check).
NO_STORE = dict.fromkeys(("list", "print", "web", "full", "gallery", "canvas", "package",
                          "coupon", "order", "line", "version"), 1) | {"code": "CODE"}
NO_FLOW = dict.fromkeys(("type", "workflow", "step", "banner", "action"), 1) | {
    "unsubscribe": "/unsubscribe/token"}
DETAILS = {"name": "Jane Client", "line1": "1 Main Street", "city": "Springfield",
           "postal_code": "12345", "country": "US"}


async def workflow_world(photographer, db) -> dict:
    """A gallery type whose active workflow emails the gallery's clients a week after
    release (seeded with SQL): a gallery of the type released next has a pending action."""
    res = await photographer.post_form("/panel/settings/gallery-types", {"name": "Flowed"})
    assert res.status_code == 303, res.text
    type_id = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p",
                           p=photographer.photographer_id)
    workflow_id, (step_id, banner_id) = await seed_workflow(
        db, photographer.photographer_id, type_id, steps=[
            {"offset_seconds": 7 * 86400},
            {"kind": "banner", "audience": "visitors",
             "content": {"headline": "Order soon", "text": "", "position": "top"}}])
    return {"type": type_id, "workflow": workflow_id, "step": step_id, "banner": banner_id}


def unsubscribe_path(db, photographer_id: int, contact_id: int) -> str:
    """The contact's unsubscribe link, signed with the test server's secret."""
    backend = "sqlite" if db.url.get_backend_name() == "sqlite" else "postgres"
    contact = Contact(id=contact_id, photographer_id=photographer_id)
    return f"/unsubscribe/{messages.unsubscribe_token(f'test-secret-{backend}', contact)}"


async def make_world(photographer, new_client, db) -> World:
    flow = await workflow_world(photographer, db)
    event_id, slug, images = await released_gallery(photographer, n_images=2,
                                                    download_pin="4321", password=GALLERY_PASSWORD,
                                                    gallery_type_id=str(flow["type"]))
    flow["action"] = await scalar(db, "SELECT id FROM scheduled_actions WHERE event_id=:e "
                                      "AND state='pending'", e=event_id)
    assert flow["action"] is not None
    # The store, before any client opens the gallery (its cache lives 2 seconds).
    store = await seed_price_list(db, photographer.photographer_id, event_id)
    store["code"] = f"CSRF{uuid.uuid4().hex[:6].upper()}"
    res = await photographer.post_form("/panel/store/coupons", {
        "code": store["code"], "kind": "percent", "amount": "10", "active": "on"})
    assert res.status_code == 303, res.text
    store["coupon"] = await scalar(db, "SELECT id FROM coupons WHERE photographer_id=:p",
                                   p=photographer.photographer_id)
    visitor = new_client()
    res = await visitor.post_form(f"/g/{slug}/unlock", {"password": GALLERY_PASSWORD})
    assert res.status_code == 303
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    contact_id = await gate_contact_id(visitor, slug, email=email)
    await pass_gate(visitor, slug, email=email)  # a known address now: a link is emailed
    res = await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/favorite", {"on": True})
    assert res.status_code == 200
    res = await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/comments",
                                  {"body": "A thread to reply to"})
    assert res.status_code == 200
    # An order (placed, unpaid), then a new line in the cart, with the details typed: each
    # cart and checkout POST below goes through with the right token.
    cart, line = f"/g/{slug}/cart", {"item_id": store["print"], "image_id": images[0]["id"],
                                     "choices": {"Paper": "Lustre"}}
    for url, payload in [("items", line), ("details", {**DETAILS, "email": email})]:
        res = await visitor.post_json(f"{cart}/{url}", payload)
        assert res.status_code == 200, res.text
    res = await visitor.post_json(f"/g/{slug}/checkout", {"version": res.json()["version"]})
    assert res.status_code == 200, res.text
    store["order"] = await scalar(db, "SELECT id FROM orders WHERE photographer_id=:p",
                                  p=photographer.photographer_id)
    res = await visitor.post_json(f"{cart}/items", line)
    assert res.status_code == 200, res.text
    res = await visitor.post_json(f"{cart}/details", {**DETAILS, "email": email})
    assert res.status_code == 200, res.text
    store["line"], store["version"] = res.json()["lines"][0]["id"], res.json()["version"]
    # The visitor is one of the gallery's clients (removing them is a POST below).
    res = await photographer.post_form(f"/panel/events/{event_id}/clients",
                                       {"name": "Jane Client", "email": email})
    assert res.status_code == 303, res.text
    flow["unsubscribe"] = unsubscribe_path(db, photographer.photographer_id, contact_id)
    res = await photographer.post_json(f"/panel/events/{event_id}/sets.json",
                                       {"name": "Ceremony"})
    assert res.status_code == 200, res.text
    return World(photographer, visitor, new_client(), event_id, slug, images[0]["id"],
                 images[1]["id"], contact_id, await verify_link_path(visitor, slug, email),
                 store, flow, res.json()["set"]["id"])


# Path template -> (who posts, URL, "form" or "json", payload). Upload posts files.
def csrf_cases(w: World) -> dict[str, tuple]:
    e, i, g = w.event_id, w.image_id, f"/g/{w.slug}"
    p, v = w.photographer, w.visitor
    return {
        "/signup": (w.stranger, "/signup", "form", {
            "email": f"{uuid.uuid4().hex[:10]}@studio.example.com", "name": "Csrf Victim",
            "password": "correct horse battery"}),
        "/login": (w.stranger, "/login", "form", {"email": p.email,
                                                  "password": "correct horse battery"}),
        "/logout": (p, "/logout", "form", {}),
        "/panel/events/new": (p, "/panel/events/new", "form", {
            "title": "Forged Gallery", "download_size": "original"}),
        "/panel/events/{event_id:int}/edit": (p, f"/panel/events/{e}/edit", "form", {
            "title": "Forged Title", "download_size": "original"}),
        "/panel/events/{event_id:int}/delete": (p, f"/panel/events/{e}/delete", "form", {}),
        "/panel/events/{event_id:int}/status": (p, f"/panel/events/{e}/status", "form",
                                                {"status": "draft"}),
        "/panel/demo/simulate": (w.demo or p, "/panel/demo/simulate", "json", {}),
        "/panel/demo/simulate/stop": (w.demo or p, "/panel/demo/simulate/stop", "json", {}),
        "/panel/events/{event_id:int}/cover": (p, f"/panel/events/{e}/cover", "form",
                                               {"image_id": str(w.other_image_id)}),
        "/panel/events/{event_id:int}/photo-order": (
            p, f"/panel/events/{e}/photo-order", "form", {"order": "filename"}),
        "/panel/events/{event_id:int}/photo-order.json": (  # the gallery's two photos
            p, f"/panel/events/{e}/photo-order.json", "json",
            {"ids": [w.other_image_id, w.image_id]}),
        "/panel/events/{event_id:int}/images": (p, f"/panel/events/{e}/images", "upload",
                                                {"IMG_0666.jpg": jpeg_bytes()}),
        "/panel/images/{image_id:int}/delete": (p, f"/panel/images/{i}/delete", "form", {}),
        "/panel/settings/gallery-types": (p, "/panel/settings/gallery-types", "form",
                                          {"name": "Forged Type"}),
        "/panel/comments/read-all": (p, "/panel/comments/read-all", "form", {}),
        "/panel/settings/account": (p, "/panel/settings/account", "form", {
            "name": "Forged Name", "business_name": "Forged Studio"}),
        "/panel/settings/brand": (p, "/panel/settings/brand", "form", {
            "business_name": "Forged Studio", "accent": "#123456", "font": "modern"}),
        "/panel/settings/password": (p, "/panel/settings/password", "form", {
            "current_password": "correct horse battery",
            "new_password": "correct horse battery",
            "confirm_password": "correct horse battery"}),
        "/panel/comments/{contact_id:int}/{image_id:int}/reply": (
            p, f"/panel/comments/{w.contact_id}/{i}/reply", "json", {"body": "Forged reply"}),
        "/panel/activity/{event_id:int}/{contact_id:int}/send-files": (
            p, f"/panel/activity/{e}/{w.contact_id}/send-files", "form", {}),
        "/g/{slug}/unlock": (v, f"{g}/unlock", "form", {"password": GALLERY_PASSWORD}),
        "/g/{slug}/gate": (v, f"{g}/gate", "json", {
            "email": f"{uuid.uuid4().hex[:8]}@example.com", "name": "Forged Guest"}),
        "/g/{slug}/pin": (v, f"{g}/pin", "json", {"pin": "4321"}),
        "/g/{slug}/images/{image_id:int}/favorite": (v, f"{g}/images/{w.other_image_id}/favorite",
                                                     "json", {"on": True}),
        "/g/{slug}/images/{image_id:int}/comments": (v, f"{g}/images/{i}/comments", "json",
                                                     {"body": "Forged comment"}),
        "/g/{slug}/verify/{token}": (v, w.verify_path, "form", {}),
        **store_cases(w),
        **workflow_cases(w),
        **image_set_cases(w),
    }


def image_set_cases(w: World) -> dict[str, tuple]:
    """The gallery page's Sets bar (server/routes/image_sets.py)."""
    p, e, s = w.photographer, w.event_id, w.set_id
    return {
        "/panel/events/{event_id:int}/sets.json": (
            p, f"/panel/events/{e}/sets.json", "json", {"name": "Forged Set"}),
        "/panel/events/{event_id:int}/sets/order.json": (
            p, f"/panel/events/{e}/sets/order.json", "json", {"ids": [s]}),
        "/panel/events/{event_id:int}/sets/move.json": (
            p, f"/panel/events/{e}/sets/move.json", "json", {"ids": [w.image_id], "set_id": s}),
        "/panel/sets/{set_id:int}/rename.json": (
            p, f"/panel/sets/{s}/rename.json", "json", {"name": "Forged Name"}),
        "/panel/sets/{set_id:int}/delete.json": (p, f"/panel/sets/{s}/delete.json", "json", {}),
    }


def store_cases(w: World) -> dict[str, tuple]:
    """The store's POST routes (server/routes/store_*.py)."""
    st = NO_STORE | w.store
    p, v, g = w.photographer, w.visitor, f"/g/{w.slug}"
    pl = f"/panel/store/price-lists/{st['list']}"
    item = {"name": "Forged Print", "price": "12.00", "description": "", "options": ""}
    coupon = {"code": "FORGED10", "kind": "percent", "amount": "10", "active": "on"}
    return {
        "/panel/store/price-lists": (p, "/panel/store/price-lists", "form",
                                     {"name": "Forged List"}),
        "/panel/store/price-lists/{list_id:int}": (p, pl, "form", {"name": "Forged Name"}),
        "/panel/store/price-lists/{list_id:int}/duplicate": (p, f"{pl}/duplicate", "form", {}),
        "/panel/store/price-lists/{list_id:int}/delete": (p, f"{pl}/delete", "form", {}),
        "/panel/store/price-lists/{list_id:int}/items/new": (
            p, f"{pl}/items/new", "form", {**item, "kind": "print"}),
        "/panel/store/price-lists/{list_id:int}/items/{item_id:int}": (
            p, f"{pl}/items/{st['canvas']}", "form", item),
        "/panel/store/price-lists/{list_id:int}/items/{item_id:int}/delete": (
            p, f"{pl}/items/{st['canvas']}/delete", "form", {}),
        "/panel/store/price-lists/{list_id:int}/items/{item_id:int}/move": (
            p, f"{pl}/items/{st['canvas']}/move", "form", {"direction": "up"}),
        "/panel/store/coupons": (p, "/panel/store/coupons", "form", coupon),
        "/panel/store/coupons/{coupon_id:int}": (
            p, f"/panel/store/coupons/{st['coupon']}", "form", {**coupon, "amount": "15"}),
        "/panel/store/coupons/{coupon_id:int}/active": (
            p, f"/panel/store/coupons/{st['coupon']}/active", "form", {}),
        "/panel/store/coupons/{coupon_id:int}/delete": (
            p, f"/panel/store/coupons/{st['coupon']}/delete", "form", {}),
        "/panel/store/settings": (p, "/panel/store/settings", "form", {
            "currency": "EUR", "tax_rate": "20", "shipping_flat": "5.00"}),
        "/panel/store/orders/{order_id:int}/state": (
            p, f"/panel/store/orders/{st['order']}/state", "form", {"state": "paid"}),
        "/panel/store/orders/{order_id:int}/note": (
            p, f"/panel/store/orders/{st['order']}/note", "form",
            {"internal_note": "Forged note"}),
        "/g/{slug}/cart/items": (v, f"{g}/cart/items", "json", {
            "item_id": st["web"], "image_id": w.other_image_id}),
        "/g/{slug}/cart/items/{line_id:int}": (v, f"{g}/cart/items/{st['line']}", "json",
                                               {"quantity": 3}),
        "/g/{slug}/cart/items/{line_id:int}/delete": (
            v, f"{g}/cart/items/{st['line']}/delete", "json", {}),
        "/g/{slug}/cart/coupon": (v, f"{g}/cart/coupon", "json", {"code": st["code"]}),
        "/g/{slug}/cart/stage": (v, f"{g}/cart/stage", "json", {"stage": "cart"}),
        "/g/{slug}/cart/details": (v, f"{g}/cart/details", "json", {
            **DETAILS, "name": "Forged Name", "email": "forged@example.com"}),
        "/g/{slug}/checkout": (v, f"{g}/checkout", "json", {"version": st["version"]}),
    }


def workflow_cases(w: World) -> dict[str, tuple]:
    """Gallery Workflows' POST routes (server/routes/workflows_*.py)."""
    f = NO_FLOW | w.flow
    p, e = w.photographer, w.event_id
    flow = f"/panel/workflows/{f['workflow']}"
    step = f"{flow}/steps/{f['step']}"
    form = {"name": "Forged Flow", "gallery_type_id": str(f["type"])}
    step_form = {"kind": "email", "anchor": "release", "amount": "3", "unit": "days",
                 "direction": "after", "audience": "clients", "subject": "Forged subject"}
    return {
        "/panel/workflows/new": (p, "/panel/workflows/new", "form", form),
        "/panel/workflows/sending-rules": (p, "/panel/workflows/sending-rules", "form", {
            "timezone": "Europe/Paris", "send_time": "10:30"}),
        "/panel/workflows/{workflow_id:int}": (p, flow, "form", form),
        "/panel/workflows/{workflow_id:int}/active": (p, f"{flow}/active", "form", {}),
        "/panel/workflows/{workflow_id:int}/duplicate": (p, f"{flow}/duplicate", "form", {}),
        "/panel/workflows/{workflow_id:int}/delete": (p, f"{flow}/delete", "form", {}),
        "/panel/workflows/{workflow_id:int}/steps/new": (p, f"{flow}/steps/new", "form",
                                                         step_form),
        "/panel/workflows/{workflow_id:int}/steps/{step_id:int}": (p, step, "form",
                                                                   step_form),
        "/panel/workflows/{workflow_id:int}/steps/{step_id:int}/delete": (
            p, f"{step}/delete", "form", {}),
        "/panel/workflows/{workflow_id:int}/steps/{step_id:int}/move": (
            p, f"{step}/move", "form", {"direction": "down"}),
        "/panel/workflows/{workflow_id:int}/steps/{step_id:int}/test": (
            p, f"{step}/test", "form", {}),
        "/panel/workflows/{workflow_id:int}/steps/banner-preview": (
            p, f"{flow}/steps/banner-preview", "form", {
                "kind": "banner", "anchor": "release", "text": "Forged banner",
                "event_id": str(e)}),
        "/panel/events/{event_id:int}/clients": (p, f"/panel/events/{e}/clients", "form", {
            "name": "Forged Client", "email": "forged-client@example.com"}),
        "/panel/events/{event_id:int}/clients/{contact_id:int}/remove": (
            p, f"/panel/events/{e}/clients/{w.contact_id}/remove", "form", {}),
        "/panel/scheduled/{action_id:int}/cancel": (
            p, f"/panel/scheduled/{f['action']}/cancel", "form", {}),
        "/panel/scheduled/{action_id:int}/send-now": (
            p, f"/panel/scheduled/{f['action']}/send-now", "form", {}),
        "/unsubscribe/{token}": (w.visitor, f["unsubscribe"], "form", {}),
        "/g/{slug}/banners/{step_id:int}/{kind}": (
            w.visitor, f"/g/{w.slug}/banners/{f['banner']}/view", "json", {}),
    }


async def send(client, url: str, kind: str, payload: dict, token: str | None,
               with_cookie: bool = True) -> httpx.Response:
    """Post like the page would, but with the given token (None: no token at all).
    Without `with_cookie`, the browser's cookies are sent except the CSRF cookie."""
    cookies = dict(client.http.cookies.items())
    if not with_cookie:
        cookies.pop("pr_csrf", None)
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    async with httpx.AsyncClient(base_url=str(client.http.base_url)) as http:
        if kind == "json":
            headers["Accept"] = "application/json"
            if token is not None:
                headers["X-CSRF-Token"] = token
            return await http.post(url, json=payload, headers=headers)
        data = dict(payload) if kind == "form" else {}
        if token is not None:
            data["csrf_token"] = token
        files = None
        if kind == "upload":
            files = [("files", (name, body, "image/jpeg")) for name, body in payload.items()]
            headers["Accept"] = "application/json"
        return await http.post(url, data=data, files=files, headers=headers)


async def database_state(db, photographer_id: int) -> dict[str, list]:
    """All rows that a request of this test could have written: the photographer's own rows
    in every table that has `photographer_id`, and the shared tables whole. Emails queued
    by the set-up (the gate's verification link) are let go out first: the worker marking
    one sent is not a change made by the request under test."""
    for _ in range(200):
        if not await rows(db, "SELECT id FROM outbound_emails WHERE photographer_id=:p AND "
                              "state IN ('queued', 'sending')", p=photographer_id):
            break
        await asyncio.sleep(0.05)
    async with db.connect() as conn:
        tables = await conn.run_sync(lambda c: {
            name: {col["name"] for col in inspect(c).get_columns(name)}
            for name in inspect(c).get_table_names()
        })
    state = {}
    for name, columns in sorted(tables.items()):
        if name == "photographers":
            state[name] = await rows(db, "SELECT * FROM photographers ORDER BY id")
        elif "photographer_id" in columns:
            state[name] = await rows(db, f"SELECT * FROM {name} WHERE photographer_id=:p "
                                         "ORDER BY 1", p=photographer_id)
        else:
            state[name] = await rows(db, f"SELECT * FROM {name} ORDER BY 1")
    return state


def test_every_post_route_of_the_app_has_a_csrf_case():
    # A new POST route shows up in POST_ROUTES, and the test below fails for it until it
    # gets a case here: nobody adds a form or JSON action without this check.
    someone = SimpleNamespace(email="someone@example.com")
    cases = set(csrf_cases(World(someone, someone, someone, 1, "slug", 1, 2, 3)))
    assert set(POST_ROUTES) <= cases, sorted(set(POST_ROUTES) - cases)
    assert len(POST_ROUTES) >= 18


@pytest.mark.parametrize("route", POST_ROUTES)
async def test_a_post_without_the_right_csrf_token_is_403_and_changes_nothing(
        route, photographer, new_client, db, server):
    world = await make_world(photographer, new_client, db)
    if route.startswith("/panel/demo/"):  # the demo account's own routes: as the demo
        from test_demo_activity import demo_login, seed_demo

        await seed_demo(server)
        world.demo = await demo_login(server, new_client)
    cases = csrf_cases(world)
    assert route in cases, f"no CSRF case for the new POST route {route}: add one"
    client, url, kind, payload = cases[route]
    before = await database_state(db, photographer.photographer_id)
    await client.csrf()  # the browser holds a CSRF cookie, as after any page view

    attempts = {
        "no token": await send(client, url, kind, payload, None),
        "wrong token": await send(client, url, kind, payload, "x" * 32),
    }
    if client in (world.photographer, world.demo) and (url.startswith("/panel")
                                                       or url == "/logout"):
        # Logged in, the token is the session's own: a cookie+field pair planted from
        # another browser (here the browser's own anonymous cookie value) does not match.
        attempts["a planted cookie+field pair"] = await send(
            client, url, kind, payload, client.http.cookies["pr_csrf"])
    else:
        attempts["token without its cookie"] = await send(
            client, url, kind, payload, await client.csrf(url), with_cookie=False)
    for what, res in attempts.items():
        assert res.status_code == 403, (what, res.status_code, res.text[:300])
        assert CSRF_MESSAGE in res.text, what
        assert not set(res.cookies) & set(STATE_COOKIES), what
    assert await database_state(db, photographer.photographer_id) == before

    # The control: with the right token the very same request goes through.
    res = await send(client, url, kind, payload, await client.csrf(url))
    assert res.status_code in (200, 303), (res.status_code, res.text[:300])
    if world.demo is not None:  # the control started a simulation: the demo quiet again
        assert (await world.demo.post_json("/panel/demo/simulate/stop")).status_code == 200


# Gallery password ------------------------------------------------------------------------


async def test_a_wrong_gallery_password_is_a_clear_400_and_the_gallery_stays_locked(
        photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, n_images=1,
                                                    password="open sesame")
    visitor = new_client()
    assert "This gallery is private." in (await visitor.get(f"/g/{slug}")).text

    for wrong in ("open sesam", "", "x" * 500):
        res = await visitor.post_form(f"/g/{slug}/unlock", {"password": wrong})
        assert res.status_code == 400
        assert "That password is not right." in res.text
        assert "pr_unlock" not in res.cookies

    page = await visitor.get(f"/g/{slug}")
    assert "This gallery is private." in page.text and images[0]["filename"] not in page.text
    res = await visitor.get(f"/g/{slug}/media/thumb/{images[0]['id']}")
    assert res.status_code == 403
    res = await visitor.post_json(f"/g/{slug}/gate", {"email": "jane@example.com",
                                                      "name": "Jane"})
    assert res.status_code == 403
    assert await rows(db, "SELECT id FROM contacts WHERE photographer_id=:p",
                      p=photographer.photographer_id) == []

    # The right password opens it.
    res = await visitor.post_form(f"/g/{slug}/unlock", {"password": "open sesame"})
    assert res.status_code == 303
    assert images[0]["filename"] in (await visitor.get(f"/g/{slug}")).text


# Forged and unknown ids ------------------------------------------------------------------

TOO_BIG = "99999999999999999999"  # more than any id column holds


async def test_unknown_or_forged_ids_in_panel_urls_are_404(photographer, new_client, db):
    event_id, _, images = await released_gallery(photographer, n_images=1)
    _, _, other_images = await released_gallery(photographer, n_images=1)
    before = await database_state(db, photographer.photographer_id)

    for missing in ("0", "2147483647", "2147483648", TOO_BIG):
        for url in (f"/panel/events/{missing}", f"/panel/events/{missing}/edit",
                    f"/panel/events/{missing}/images.json", f"/panel/media/thumb/{missing}",
                    f"/panel/contacts/{missing}"):
            res = await photographer.get(url)
            assert res.status_code == 404, url
        for url in (f"/panel/events/{missing}/edit", f"/panel/events/{missing}/delete",
                    f"/panel/events/{missing}/status", f"/panel/images/{missing}/delete"):
            res = await photographer.post_form(url, {"title": "x", "status": "draft",
                                                     "download_size": "original"})
            assert res.status_code == 404, url
        res = await upload(photographer, missing, [("IMG_0001.jpg", jpeg_bytes())])
        assert res.status_code == 404, missing
        res = await photographer.post_form(f"/panel/events/{event_id}/cover",
                                           {"image_id": missing})
        assert res.status_code in (400, 404), missing  # not a row id at all: 400
    assert (await photographer.get("/panel/events/not-a-number")).status_code == 404
    res = await photographer.get(f"/panel/media/secret/{images[0]['id']}")  # no such variant
    assert res.status_code == 404
    res = await photographer.post_form(f"/panel/events/{event_id}/cover", {"image_id": "abc"})
    assert res.status_code == 400 and "Pick an image for the cover." in res.text
    # A real image of another gallery (even the same photographer's) is not this gallery's.
    res = await photographer.post_form(f"/panel/events/{event_id}/cover",
                                       {"image_id": str(other_images[0]["id"])})
    assert res.status_code == 404

    assert await database_state(db, photographer.photographer_id) == before


async def test_unknown_or_forged_ids_in_gallery_urls_are_404(photographer, new_client):
    _, slug, images = await released_gallery(photographer, n_images=1)
    _, _, other_images = await released_gallery(photographer, n_images=1)
    foreign = other_images[0]["id"]  # real, but of another gallery
    visitor = new_client()
    await pass_gate(visitor, slug)

    assert (await visitor.get("/g/no-such-gallery-123")).status_code == 404
    for image_id in (foreign, 2147483647):
        for url in (f"/g/{slug}/media/thumb/{image_id}", f"/g/{slug}/media/preview/{image_id}",
                    f"/g/{slug}/images/{image_id}/download",
                    f"/g/{slug}/images/{image_id}/comments"):
            res = await visitor.get(url)
            assert res.status_code == 404, url
        res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": True})
        assert res.status_code == 404
        res = await visitor.post_json(f"/g/{slug}/images/{image_id}/comments", {"body": "hi"})
        assert res.status_code == 404
    res = await visitor.get(f"/g/{slug}/media/original/{images[0]['id']}")
    assert res.status_code == 404  # the gallery serves thumbnails and previews only


async def test_an_id_too_big_for_the_database_is_404_in_gallery_urls(photographer, new_client):
    _, slug, _ = await released_gallery(photographer, n_images=1)
    visitor = new_client()
    await pass_gate(visitor, slug)
    for url in (f"/g/{slug}/media/thumb/{TOO_BIG}", f"/g/{slug}/images/{TOO_BIG}/download",
                f"/g/{slug}/images/{TOO_BIG}/comments"):
        res = await visitor.get(url)
        assert res.status_code == 404, url

# The email gate --------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["", "   ", "not-an-email", "jane@", "@example.com",
                                   "a" * 288 + "@example.com"])
async def test_an_invalid_email_at_the_gate_is_a_400_with_a_message(
        email, photographer, new_client, db):
    _, slug, _ = await released_gallery(photographer, n_images=1)
    visitor = new_client()
    await visitor.get(f"/g/{slug}")
    res = await visitor.post_json(f"/g/{slug}/gate", {"email": email, "name": "Jane Client"})
    assert res.status_code == 400
    body = res.json()
    assert body["field"] == "email" and "mail" in body["error"]
    assert "pr_guest" not in res.cookies
    assert await rows(db, "SELECT id FROM contacts WHERE photographer_id=:p",
                      p=photographer.photographer_id) == []


async def test_a_name_is_required_at_the_gate(photographer, new_client, db):
    _, slug, _ = await released_gallery(photographer, n_images=1)
    visitor = new_client()
    res = await visitor.post_json(f"/g/{slug}/gate", {"email": "jane@example.com", "name": ""})
    assert res.status_code == 400 and res.json()["error"] == "Name is required."
    assert await rows(db, "SELECT id FROM contacts WHERE photographer_id=:p",
                      p=photographer.photographer_id) == []


# Comments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "status", "message"), [
    ("", 400, "Comment is required."),
    ("   \n\t ", 400, "Comment is required."),
    ("x" * 2001, 400, "Comment is too long (at most 2000 characters)."),
    ("x" * 100_000, 413, "The request is too large (at most 64 KB)."),  # refused unread
], ids=["empty", "blank", "2001", "100k"])
async def test_an_empty_or_huge_comment_is_a_clear_400(body, status, message, photographer,
                                                       new_client, db):
    _, slug, images = await released_gallery(photographer, n_images=1)
    visitor = new_client()
    await pass_gate(visitor, slug)
    res = await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/comments",
                                  {"body": body})
    assert res.status_code == status
    assert message in res.json()["error"]
    assert await rows(db, "SELECT id FROM comments WHERE photographer_id=:p",
                      p=photographer.photographer_id) == []


# Download PIN ----------------------------------------------------------------------------


async def test_a_wrong_download_pin_is_a_400_and_downloads_stay_closed(photographer,
                                                                       new_client, db):
    _, slug, images = await released_gallery(photographer, n_images=1, download_pin="4321")
    visitor = new_client()
    await pass_gate(visitor, slug)
    download = f"/g/{slug}/images/{images[0]['id']}/download"

    for wrong in ("1234", "", "43210", "abcd", "4321" * 1000):
        res = await visitor.post_json(f"/g/{slug}/pin", {"pin": wrong})
        assert res.status_code == 400, wrong
        assert res.json()["error"] == "That PIN is not right."
        assert "pr_pin" not in res.cookies
    res = await visitor.get(download)
    assert res.status_code == 403 and "download PIN" in res.text
    assert await rows(db, "SELECT id FROM downloads WHERE photographer_id=:p",
                      p=photographer.photographer_id) == []

    assert (await visitor.post_json(f"/g/{slug}/pin", {"pin": "4321"})).status_code == 200
    assert (await visitor.get(download)).status_code == 200


# Malformed JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"email": ', "Malformed JSON."),
    (b"not json at all", "Malformed JSON."),
    (b"\xff\xfe\x00garbage", "Malformed JSON."),
    (b'["jane@example.com"]', "Expected a JSON object."),
    (b'"jane@example.com"', "Expected a JSON object."),
    (b"[" * 50_000, "Malformed JSON."),  # too deep for the parser: a RecursionError
    (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "Malformed JSON."),
    (b'{"pin": ' + b"9" * 5000 + b"}", "Malformed JSON."),  # more digits than int() takes
], ids=["cut", "text", "binary", "list", "string", "deep-list", "deep-object", "huge-int"])
async def test_malformed_json_is_a_400(raw, message, photographer, new_client, db):
    _, slug, images = await released_gallery(photographer, n_images=1, download_pin="4321")
    visitor = new_client()
    await pass_gate(visitor, slug)
    before = await database_state(db, photographer.photographer_id)
    token = await visitor.csrf()
    for url in (f"/g/{slug}/gate", f"/g/{slug}/pin",
                f"/g/{slug}/images/{images[0]['id']}/favorite",
                f"/g/{slug}/images/{images[0]['id']}/comments"):
        res = await visitor.http.post(url, content=raw, headers={
            "Content-Type": "application/json", "X-CSRF-Token": token})
        assert res.status_code == 400, url
        assert res.json()["error"] == message, url
    assert await database_state(db, photographer.photographer_id) == before


# Bad input that used to reach a 500 (issue #9) ----------------------------------------


async def test_an_id_too_big_for_the_database_in_a_query_string_is_a_400(photographer, db):
    event_id, _, _ = await released_gallery(photographer, n_images=1)
    before = await database_state(db, photographer.photographer_id)
    for url in (f"/panel/activity?event={TOO_BIG}", f"/panel/comments?image={TOO_BIG}",
                "/panel/activity?event=2147483648", "/panel/comments?image=0",
                "/panel/activity?event=-1", "/panel/comments?image=1e3"):
        res = await photographer.get(url)
        assert res.status_code == 400, url
        assert "Pick " in res.text, url
    res = await photographer.post_form("/panel/events/new", {
        "title": "Overflow", "gallery_type_id": TOO_BIG, "download_size": "original"})
    assert res.status_code == 400 and "Pick a gallery type from the list." in res.text
    res = await photographer.post_form("/panel/settings/gallery-types", {"delete": TOO_BIG})
    assert res.status_code == 400
    assert await database_state(db, photographer.photographer_id) == before
    # The filters themselves still work.
    assert (await photographer.get(f"/panel/activity?event={event_id}")).status_code == 200


@pytest.mark.parametrize("field", ["gate-name", "gate-email", "comment", "reply"])
async def test_a_lone_surrogate_is_a_400_and_nothing_is_written(field, photographer,
                                                                new_client, db):
    _, slug, images = await released_gallery(photographer, n_images=1)
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug)
    before = await database_state(db, photographer.photographer_id)
    # JSON text as a client may send it: the escape `\ud800` alone is a lone surrogate.
    client, url, body = {
        "gate-name": (visitor, f"/g/{slug}/gate",
                      r'{"email": "new@example.com", "name": "Jane \ud800"}'),
        "gate-email": (visitor, f"/g/{slug}/gate",
                       r'{"email": "ja\udc00ne@example.com", "name": "Jane"}'),
        "comment": (visitor, f"/g/{slug}/images/{images[0]['id']}/comments",
                    r'{"body": "lovely \ud83d"}'),
        "reply": (photographer, f"/panel/comments/{contact_id}/{images[0]['id']}/reply",
                  r'{"body": "thanks \udfff!"}'),
    }[field]
    res = await client.http.post(url, content=body.encode(), headers={
        "Content-Type": "application/json", "X-CSRF-Token": await client.csrf()})
    assert res.status_code == 400, res.text
    assert "invalid characters" in res.json()["error"]
    assert await database_state(db, photographer.photographer_id) == before


@pytest.mark.parametrize("pin", ["४३२१", "é", "4321\u0000", 4321, ["4321"], True],
                         ids=["devanagari", "accent", "nul", "number", "list", "bool"])
async def test_a_non_ascii_or_non_text_pin_is_a_400(pin, photographer, new_client):
    _, slug, images = await released_gallery(photographer, n_images=1, download_pin="4321")
    visitor = new_client()
    await pass_gate(visitor, slug)
    res = await visitor.post_json(f"/g/{slug}/pin", {"pin": pin})
    assert res.status_code == 400, res.text
    assert "pr_pin" not in res.cookies
    assert (await visitor.get(f"/g/{slug}/images/{images[0]['id']}/download")).status_code == 403


async def test_a_non_ascii_csrf_token_is_a_403_on_every_post_route(photographer, new_client, db):
    world = await make_world(photographer, new_client, db)
    cases = csrf_cases(world)
    before = await database_state(db, photographer.photographer_id)
    for route in POST_ROUTES:
        if route not in cases:
            continue  # a route without a case is reported by the test above
        client, url, kind, payload = cases[route]
        await client.csrf()
        for token in ("é" * 32, "\u2603" + "x" * 31, "x" * 31 + "ÿ"):
            cookies = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
            headers = {"Cookie": cookies, "Accept": "application/json"}
            async with httpx.AsyncClient(base_url=str(client.http.base_url)) as http:
                if kind == "json":  # a header carries bytes: send the UTF-8 as they are
                    headers["X-CSRF-Token"] = token.encode()
                    res = await http.post(url, json=payload, headers=headers)
                else:
                    form = {**(payload if kind == "form" else {}), "csrf_token": token}
                    res = await http.post(url, data=form, headers=headers)
            assert res.status_code == 403, (route, token, res.status_code, res.text[:200])
    assert await database_state(db, photographer.photographer_id) == before


async def test_a_file_where_text_is_expected_is_a_400(photographer, new_client, db):
    stranger = new_client()
    token = await stranger.csrf()
    email = f"{uuid.uuid4().hex[:10]}@studio.example.com"
    res = await stranger.http.post("/signup", data={
        "csrf_token": token, "name": "File Person", "password": "correct horse battery"},
        files={"email": ("email.txt", email.encode(), "text/plain")})
    assert res.status_code == 400, res.text
    assert "Expected text, not a file, in: email." in res.text
    assert await rows(db, "SELECT id FROM photographers WHERE email=:e", e=email) == []
    # The CSRF token itself as a file is no token at all.
    res = await stranger.http.post("/login", data={"email": email, "password": "x" * 10},
                                   files={"csrf_token": ("t", token.encode(), "text/plain")})
    assert res.status_code == 403
    # And a panel form: the gallery title sent as a file.
    before = await database_state(db, photographer.photographer_id)
    res = await photographer.post_form("/panel/events/new", {"download_size": "original"},
                                       files={"title": ("t.txt", b"Sneaky", "text/plain")})
    assert res.status_code == 400
    assert await database_state(db, photographer.photographer_id) == before


async def test_a_nul_byte_in_a_path_or_query_is_a_4xx(photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, n_images=1)
    visitor = new_client()
    contact_id = await gate_contact_id(visitor, slug)
    before = await database_state(db, photographer.photographer_id)
    image = images[0]["id"]
    for client, url in [
        (visitor, "/g/%00"), (visitor, f"/g/{slug}%00"),
        (visitor, f"/g/{slug}/download.zip?scope=all%00"),
        (visitor, f"/g/{slug}/media/thumb%00/{image}"),
        (visitor, "/login?next=/panel%00"), (visitor, "/d/abc%00def"),
        (photographer, "/panel/activity?q=%00"), (photographer, f"/panel/media/thumb%00/{image}"),
    ]:
        res = await client.get(url)
        assert 400 <= res.status_code < 500, (url, res.status_code)
    # View preferences fall back to the default view.
    for url in ("/panel/activity?sort=%00", f"/panel/activity/{event_id}/{contact_id}?tab=%00"):
        assert (await photographer.get(url)).status_code == 200, url
    for url in (f"/g/{slug}%00/gate", f"/g/{slug}%00/pin"):
        res = await visitor.post_json(url, {"email": "a@example.com", "name": "A"})
        assert 400 <= res.status_code < 500, (url, res.status_code)
    res = await visitor.post_json(f"/g/{slug}/gate", {"email": "a@example.com",
                                                      "name": "A\u0000B"})
    assert res.status_code == 400 and "invalid characters" in res.json()["error"]
    assert await database_state(db, photographer.photographer_id) == before


async def test_parallel_gate_posts_with_one_new_email_make_one_contact(
        photographer, new_client, db):
    _, slug, _ = await released_gallery(photographer, n_images=1)
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    visitors = [new_client() for _ in range(10)]
    for visitor in visitors:
        await visitor.csrf()
    answers = await asyncio.gather(*(
        v.post_json(f"/g/{slug}/gate", {"email": email, "name": "Jane Racer"})
        for v in visitors))
    assert [r.status_code for r in answers] == [200] * 10, [r.text[:200] for r in answers]
    pid = photographer.photographer_id
    assert len(await rows(db, "SELECT id FROM contacts WHERE photographer_id=:p", p=pid)) == 1
    assert len(await rows(db, "SELECT id FROM visits WHERE photographer_id=:p", p=pid)) == 1


async def test_parallel_sign_ups_and_gallery_types_never_fail_with_a_500(
        photographer, new_client, db):
    email = f"{uuid.uuid4().hex[:10]}@studio.example.com"
    strangers = [new_client() for _ in range(6)]
    for stranger in strangers:
        await stranger.csrf()
    answers = await asyncio.gather(*(s.post_form("/signup", {
        "email": email, "name": "Twin", "password": "correct horse battery"})
        for s in strangers))
    codes = sorted(r.status_code for r in answers)
    assert codes == [303] + [400] * 5, codes
    assert len(await rows(db, "SELECT id FROM photographers WHERE email=:e", e=email)) == 1

    answers = await asyncio.gather(*(photographer.post_form(
        "/panel/settings/gallery-types", {"name": "Elopement"}) for _ in range(6)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [303] + [400] * 5, codes
    assert await rows(db, "SELECT name FROM gallery_types WHERE photographer_id=:p AND "
                          "name='Elopement'", p=photographer.photographer_id) == [("Elopement",)]


# Oversized bodies are refused before they are read ------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """The answer, or b"" when the connection was reset before it could be read: a server
    that closes while the client is still sending makes the kernel answer with a reset,
    which may discard its answer unread (more likely on a loaded machine)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
        return head + await reader.readexactly(int(length.group(1)) if length else 0)
    except (ConnectionError, asyncio.IncompleteReadError):
        return b""


async def _raw_post(server, path: str, headers: dict[str, str], chunks, *,
                    chunked: bool = False, timeout: float = 10) -> tuple[int, int, bytes]:
    """POST over a bare socket, sending `chunks` while watching for an early answer.
    Returns (status, body bytes sent before the answer came, the answer)."""
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items())
    if chunked:
        head += "Transfer-Encoding: chunked\r\n"
    writer.write((head + "\r\n").encode("latin-1"))
    answer = asyncio.ensure_future(_read_response(reader))
    sent = 0
    try:
        for chunk in chunks:
            if answer.done():
                break
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked
                         else chunk)
            try:
                await asyncio.wait_for(writer.drain(), 2)
            except (TimeoutError, ConnectionError):
                break  # the server stopped reading: its answer is what counts
            sent += len(chunk)
            await asyncio.sleep(0)
        data = await asyncio.wait_for(answer, timeout)
    finally:
        answer.cancel()
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, sent, data


@pytest.mark.parametrize("route", ["login", "unlock", "upload"])
async def test_a_declared_oversized_body_is_a_413_at_once(route, server, photographer):
    _, slug, _ = await released_gallery(photographer, n_images=1, password="open sesame")
    event_id = await create_gallery(photographer)
    path = {"login": "/login", "unlock": f"/g/{slug}/unlock",
            "upload": f"/panel/events/{event_id}/images"}[route]
    cookies = "; ".join(f"{k}={v}" for k, v in photographer.http.cookies.items())
    status, _, data = await _raw_post(server, path, {
        "Content-Type": "multipart/form-data; boundary=xyz" if route == "upload"
        else "application/x-www-form-urlencoded",
        "Content-Length": str(500 * 1024 * 1024), "Cookie": cookies},
        (b"x" * 1024 for _ in range(4)))
    # Answered after 4 KB of a declared 500 MB: refused on the header, never read.
    assert status == 413, data[:300]
    assert b"The request is too large (at most " in data


async def test_a_chunked_body_is_cut_off_with_a_413_once_past_the_limit(server):
    # 64 MB offered in 64 KB chunks, no Content-Length: the server must stop it early.
    chunks = (b"email=" + b"a" * (64 * 1024 - 6) for _ in range(1024))
    status, sent, data = await _raw_post(server, "/login", {
        "Content-Type": "application/x-www-form-urlencoded"}, chunks, chunked=True)
    if data:  # else the connection was reset under the 413 (see _read_response)
        assert status == 413, data[:300]
        assert b"The request is too large (at most 64 KB)." in data
    assert sent < 32 * 1024 * 1024  # kernel buffers hold a few MB; it never read it all


async def test_an_upload_within_the_limit_still_goes_through(photographer):
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [("IMG_0001.jpg", jpeg_bytes())])
    assert res.status_code == 200, res.text


async def test_a_client_that_hangs_up_mid_body_is_no_server_error(server):
    """A browser closed (or a kept-alive connection dropped) while its body was being read:
    nothing to answer and nothing to log as our error."""
    log = server.var_dir / "server.log"
    errors_before = log.read_text().count("Exception in ASGI application")
    host, port = server.base_url.removeprefix("http://").split(":")
    for path in ("/login", "/g/no-such-gallery/gate"):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5000\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n\r\nemail=a").encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    await asyncio.sleep(1)  # the server notices the hang-up
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/login")).status_code == 200
    assert log.read_text().count("Exception in ASGI application") == errors_before
