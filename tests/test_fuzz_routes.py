"""Generated junk against every route of the app: never a 5xx, and a refusal changes nothing.

The routes come from the app's own route table (`create_app().routes`, Mounts walked,
WebSockets and /static left out), so a new route is fuzzed the day it is added. For each
one hypothesis draws a request: junk or real path parameters, a junk query string and,
for POST, a junk body (JSON with deep nesting, lone surrogates written as `\\ud800`, huge
numbers, wrong types and NUL bytes; forms with non-ASCII CSRF tokens and file parts where
text belongs), and sends it as a logged-in photographer (with a valid CSRF token), as an
anonymous browser and as a gallery visitor who passed the email gate. Every answer must
be below 500; when all three were refused (4xx), the row count of every table must be
what it was before.

PROOFROOM_FUZZ_EXAMPLES sets the examples per route (default 25).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
from conftest import (
    gate_contact_id,
    jpeg_bytes,
    released_gallery,
    rows,
    scalar,
    seed_price_list,
    seed_workflow,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from starlette.convertors import IntegerConvertor
from starlette.routing import BaseRoute, Mount, Route

from server.app import create_app
from server.config import Settings

EXAMPLES = int(os.environ.get("PROOFROOM_FUZZ_EXAMPLES", "25"))
#: Tables a refused request is meant to write: the failed-login log the throttle counts.
WRITTEN_WHEN_REFUSED = {"login_failures", "alembic_version"}


@dataclass(frozen=True)
class Target:
    path: str  # the template, e.g. /g/{slug}/images/{image_id:int}/favorite
    method: str
    params: tuple[tuple[str, bool], ...]  # (name, is an integer)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def targets(routes: list[BaseRoute], prefix: str = "") -> list[Target]:
    found = []
    for route in routes:
        if isinstance(route, Mount):
            if route.path != "/static":
                found += targets(route.routes or [], prefix + route.path)
        elif isinstance(route, Route):
            params = tuple((name, isinstance(conv, IntegerConvertor))
                           for name, conv in route.param_convertors.items())
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                found.append(Target(prefix + route.path, method, params))
    return found


TARGETS = targets(create_app(Settings(secret_key="route-table-only")).routes)


def test_the_route_table_is_walked_whole():
    paths = {t.path for t in TARGETS}
    assert "/g/{slug}/gate" in paths and "/panel/events/{event_id:int}/images" in paths
    assert not any(p.startswith("/static") or p.startswith("/ws/") for p in paths)
    assert len(TARGETS) >= 40


# Strategies ------------------------------------------------------------------------------

NASTY = ["\x00", "\ud800", "\udfff", "é", "☃", "\u202e", "'", '"', "<", "%", "\\", " "]
junk_text = st.text(alphabet=st.characters() | st.sampled_from(NASTY), max_size=40)
huge_numbers = st.sampled_from([2**31, 2**63, 10**20, -1, 0, -(2**63), 10**400])
junk_ints = st.integers(min_value=-(2**70), max_value=2**70) | huge_numbers
json_scalar = (st.none() | st.booleans() | junk_ints | junk_text
               | st.floats(allow_nan=False, allow_infinity=False))
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(junk_text, inner, max_size=4), max_leaves=12)
FIELDS = ["email", "name", "password", "body", "pin", "on", "title", "gallery_type_id",
          "event_date", "expires_on", "download_size", "download_pin", "download_single",
          "status", "image_id", "delete", "next", "current_password", "new_password",
          "confirm_password", "business_name", "clear_password", "files",
          # the store
          "item_id", "choices", "images", "quantity", "code", "stage", "version", "line1",
          "city", "postal_code", "country", "kind", "amount", "price", "options",
          "digital_scope", "content_item", "content_qty", "direction", "state",
          "tracking_note", "internal_note", "currency", "tax_rate", "shipping_flat",
          "min_order", "active",
          # Gallery Workflows
          "workflow_mode", "workflow_id", "preset", "description", "anchor", "unit",
          "at_local", "audience", "at_send_time", "subject", "button1_action",
          "button1_label", "button1_url", "button2_action", "coupon_code", "text", "style",
          "position", "after_n", "end_anchor", "end_amount", "end_unit", "end_direction",
          "headline", "dismissible", "countdown",
          "back", "timezone", "send_time", "quiet_start", "quiet_end", "contact", "gallery"]
field_names = st.sampled_from(FIELDS) | junk_text
QUERY_KEYS = ["event", "image", "page", "q", "sort", "dir", "tab", "format", "scope", "next",
              "unread", "sent", "saved", "state", "kind", "preset", "done", "fragment",
              "contact", "gallery"]
# Handwritten JSON text: what json.dumps never makes. Nesting too deep to parse is half
# of it (each route sees some in 25 examples: (1 - 1/6) ** 25 ≈ 1 % to miss).
DEEP_JSON = st.sampled_from([b"[" * 50_000, b'{"a":' * 5_000, b'{"on": ' + b"[" * 3000])
RAW_JSON = DEEP_JSON | st.sampled_from([
    b'{"body": "\\ud800"}', b'{"name": "\\udfff x"}',
    b'{"email": "a\\u0000@example.com", "name": "N\\u0000"}', b'{"pin": "\\ud83d"}',
    b'{"on": ' + b"9" * 5000 + b"}", b'{"pin": 1e999}', b'{"body": NaN}', b"\xff\xfe",
    b'{"body": "x"', b"null", b"[]", b'"text"', b"{}" * 3,
])


def header_bytes(token: str) -> bytes:
    """A header value as a client could send it: UTF-8 bytes (non-ASCII included), minus
    the control characters HTTP/1.1 cannot carry in a header (the server's parser drops
    such a request before the app sees it)."""
    raw = token.encode("utf-8", "surrogatepass")
    return bytes(b for b in raw if b >= 0x20 and b != 0x7F).strip()


@dataclass
class World:
    photographer: object
    visitor: object  # unlocked nothing (no password), passed the email gate
    stranger: object  # no cookies beyond a CSRF one
    real: dict[str, str]


@pytest.fixture
async def world(photographer, new_client, db) -> World:
    # Gallery Workflows: the gallery's type has an active workflow with an email a week
    # after release, so its release plans a pending action (the routes' real ids).
    res = await photographer.post_form("/panel/settings/gallery-types", {"name": "Fuzzed"})
    assert res.status_code == 303, res.text
    type_id = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p",
                           p=photographer.photographer_id)
    workflow_id, (step_id,) = await seed_workflow(
        db, photographer.photographer_id, type_id, steps=[{"offset_seconds": 7 * 86400}])
    event_id, slug, images = await released_gallery(photographer, n_images=1,
                                                    gallery_type_id=str(type_id))
    action_id = await scalar(db, "SELECT id FROM scheduled_actions WHERE event_id=:e",
                             e=event_id)
    assert action_id is not None
    image_id = images[0]["id"]
    # The store: a price list on the gallery (before any client opens it: the gallery is
    # cached for 2 s) and a coupon of the photographer's.
    prices = await seed_price_list(db, photographer.photographer_id, event_id)
    code = f"FUZZ{uuid.uuid4().hex[:8].upper()}"
    res = await photographer.post_form("/panel/store/coupons", {
        "code": code, "kind": "percent", "amount": "10", "active": "on"})
    assert res.status_code == 303, res.text
    coupon_id = await scalar(db, "SELECT id FROM coupons WHERE photographer_id=:p AND code=:c",
                             p=photographer.photographer_id, c=code)
    visitor = new_client()
    email = f"{uuid.uuid4().hex[:8]}@x.org"
    contact_id = await gate_contact_id(visitor, slug, email=email)
    # The visitor orders a print and a web file (the order and its emailed token), then puts
    # another print in the cart (a line of the cart as it is now).
    line = {"item_id": prices["print"], "image_id": image_id, "choices": {"Paper": "Lustre"}}
    for item in (line, {"item_id": prices["web"], "image_id": image_id}):
        res = await visitor.post_json(f"/g/{slug}/cart/items", item)
        assert res.status_code == 200, res.text
    res = await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Fuzz Client", "email": email, "line1": "1 Test Lane",
        "city": "Springfield", "postal_code": "12345", "country": "US"})
    assert res.status_code == 200, res.text
    res = await visitor.post_json(f"/g/{slug}/checkout", {"version": res.json()["version"]})
    assert res.status_code == 200, res.text
    order_id, order_token = (await rows(
        db, "SELECT id, token FROM orders WHERE photographer_id=:p",
        p=photographer.photographer_id))[0]
    # Paid: its digital file is the order's to download (/g/{slug}/orders/{token}/files…).
    res = await photographer.post_form(f"/panel/store/orders/{order_id}/state",
                                       {"state": "paid"})
    assert res.status_code == 303, res.text
    res = await visitor.post_json(f"/g/{slug}/cart/items", line)
    assert res.status_code == 200, res.text
    (cart_line,) = res.json()["lines"]
    res = await photographer.post_json(f"/panel/events/{event_id}/sets.json", {"name": "Fuzz"})
    assert res.status_code == 200, res.text
    set_id = res.json()["set"]["id"]  # the Sets bar's routes (server/routes/image_sets.py)
    stranger = new_client()
    await stranger.csrf()
    return World(photographer, visitor, stranger, {
        "slug": slug, "event_id": str(event_id), "image_id": str(image_id),
        "contact_id": str(contact_id), "variant": "thumb", "token": order_token,
        "list_id": str(prices["list"]), "item_id": str(prices["print"]),
        "coupon_id": str(coupon_id), "line_id": str(cart_line["id"]),
        "order_id": str(order_id), "workflow_id": str(workflow_id), "step_id": str(step_id),
        "action_id": str(action_id), "kind": "view", "set_id": str(set_id),
        "key": "0123456789abcdef.png",  # a studio logo's key (none uploaded here: a 404)
    })


#: A path parameter drawn as REAL takes the world's own value (the route's gallery, image,
#: contact…), so the rest of the request reaches the handler's parsing, not a 404.
REAL = "<real>"
PARAM_NAMES = sorted({name for t in TARGETS for name, _ in t.params})
int_junk = junk_ints.map(str) | st.sampled_from(["0", "2147483647", "2147483648"])
str_junk = junk_text.filter(lambda s: "/" not in s and s not in ("", ".", ".."))
param_values = st.fixed_dictionaries({
    name: st.one_of(st.just(REAL), st.just(REAL), int_junk, str_junk) for name in PARAM_NAMES})
queries = st.lists(st.tuples(st.sampled_from(QUERY_KEYS) | junk_text,
                             junk_text | junk_ints.map(str)), max_size=4)
bodies = st.one_of(
    st.builds(lambda v: ("json", json.dumps(v).encode()),
              json_value | st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=5)),
    RAW_JSON.map(lambda raw: ("json", raw)),
    st.builds(lambda fields: ("form", fields, []),
              st.lists(st.tuples(field_names, junk_text), max_size=6)),
    st.builds(lambda fields, files: ("multipart", fields, files),
              st.lists(st.tuples(field_names, junk_text), max_size=6),
              st.lists(field_names, min_size=1, max_size=3)),
    st.just(("none",)),
)
tokens = st.one_of(st.just("valid"), st.just("valid"), st.just("none"), junk_text)


def build_url(target: Target, params: dict[str, str], query: list, real: dict[str, str]) -> str:
    path = target.path
    for name, _ in target.params:
        value = real[name] if params[name] == REAL else params[name]
        encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
        path = re.sub(r"\{" + name + r"(:[a-z]+)?\}", lambda _, v=encoded: v, path)
    if query:
        path += "?" + urlencode([(k.encode("utf-8", "surrogatepass"),
                                  v.encode("utf-8", "surrogatepass")) for k, v in query])
    return path


ALL_REAL = dict.fromkeys(PARAM_NAMES, REAL)
SURROGATES = {name: "\ud800" for name in ("email", "name", "body", "pin", "title", "password")}


async def send(client, method: str, url: str, body, token_choice) -> int:
    token = await client.csrf() if token_choice == "valid" else (
        None if token_choice == "none" else token_choice)
    headers = {"Accept": "application/json"} if body and body[0] == "json" else {}
    kwargs: dict = {}
    if body is None or body[0] == "none":
        pass
    elif body[0] == "json":
        headers["Content-Type"] = "application/json"
        kwargs["content"] = body[1]
    else:
        _, fields, files = body
        data = [(k.encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
                 v.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
                for k, v in fields]
        if token is not None:
            data.append(("csrf_token", token.encode("utf-8", "surrogatepass")
                         .decode("utf-8", "replace")))
        if body[0] == "form" or not files:
            kwargs["data"] = dict(data)
        else:
            kwargs["data"] = dict(data)
            kwargs["files"] = [(name.encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
                                ("f.jpg", jpeg_bytes(8, 8), "image/jpeg")) for name in files]
    if token is not None:
        headers["X-CSRF-Token"] = header_bytes(token)
    res = await client.http.request(method, url, headers=headers, **kwargs)
    return res.status_code


async def row_counts(db, tables: list[str]) -> dict[str, int]:
    union = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in tables)
    async with db.connect() as conn:
        return dict((await conn.execute(text(union))).all())


_TABLES: dict[str, list[str]] = {}


async def table_names(db) -> list[str]:
    key = str(db.url)
    if key not in _TABLES:
        async with db.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        _TABLES[key] = sorted(set(names) - WRITTEN_WHEN_REFUSED)
    return _TABLES[key]


@pytest.mark.parametrize("target", TARGETS, ids=str)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(params=param_values, query=queries, body=bodies, token=tokens)
# The known nasties, tried on every route before the generated ones:
@example(params=ALL_REAL, query=[], body=("json", b"[" * 50_000), token="valid")
@example(params=ALL_REAL, query=[], body=("json", json.dumps(SURROGATES).encode()),
         token="valid")
@example(params=ALL_REAL, query=[], body=("form", [("email", "a@b.co")], []), token="é" * 32)
@example(params=ALL_REAL, query=[], body=("multipart", [], FIELDS), token="valid")
@example(params=dict.fromkeys(PARAM_NAMES, "99999999999999999999"), query=[], body=("none",),
         token="valid")
@example(params=dict.fromkeys(PARAM_NAMES, "\x00"), query=[], body=("none",), token="valid")
# A NUL inside a token of a length the handler looks up (PostgreSQL refuses NUL in text).
@example(params=ALL_REAL | {"token": "0000000000\x00"}, query=[], body=("none",),
         token="valid")
@example(params=ALL_REAL, query=[(k, "99999999999999999999") for k in QUERY_KEYS],
         body=("none",), token="valid")
@example(params=ALL_REAL, query=[(k, "\x00") for k in QUERY_KEYS], body=("none",),
         token="valid")
async def test_junk_input_never_reaches_a_500_and_a_refusal_changes_nothing(
        target, world, db, params, query, body, token):
    tables = await table_names(db)
    url = build_url(target, params, query, world.real)
    body = body if target.method == "POST" else None
    before = await row_counts(db, tables)
    codes = {}
    for who in ("photographer", "stranger", "visitor"):
        client = getattr(world, who)
        codes[who] = await send(client, target.method, url, body, token)
    assert all(code < 500 for code in codes.values()), (str(target), url, body, codes)
    if all(400 <= code < 500 for code in codes.values()):
        assert await row_counts(db, tables) == before, (str(target), url, codes)


async def test_a_fuzzed_photographer_is_still_logged_in(world):
    """The control: the world's identities work (else the fuzz only saw login pages)."""
    assert (await world.photographer.get("/panel")).status_code == 200
    page = await world.visitor.get(f"/g/{world.real['slug']}")
    assert page.status_code == 200 and "pr_guest" in world.visitor.http.cookies
    # The store's real ids are real (else the fuzz only saw 404s on the store's routes).
    real = world.real
    lists = f"/panel/store/price-lists/{real['list_id']}"
    step = f"/panel/workflows/{real['workflow_id']}/steps/{real['step_id']}"
    for url in (f"{lists}/items/{real['item_id']}", f"/panel/store/coupons/{real['coupon_id']}",
                f"/panel/store/orders/{real['order_id']}", step, f"{step}/preview",
                f"/panel/events/{real['event_id']}/timeline"):
        assert (await world.photographer.get(url)).status_code == 200, url
    order = f"/g/{real['slug']}/orders/{real['token']}"
    for url in (order, f"{order}/files/{real['image_id']}"):
        assert (await world.visitor.get(url)).status_code == 200, url
    cart = (await world.visitor.get(f"/g/{real['slug']}/store.json")).json()["cart"]
    assert [line["id"] for line in cart["lines"]] == [int(real["line_id"])]
    # The scheduled action is real and still pending (the timeline's cancel reaches it).
    timeline = await world.photographer.get(f"/panel/events/{real['event_id']}/timeline")
    assert f"/panel/scheduled/{real['action_id']}/cancel" in timeline.text
