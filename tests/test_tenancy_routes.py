"""Tenancy, generated from the route table (security issue #9).

Photographer A builds a real history through the HTTP API (a gallery type, a released
gallery with images, a client who passed the gate, favorited, commented and downloaded, a
reply from the Comments inbox, a "send files" email with its /d/<token> link). Then
photographer B requests EVERY route of the app's route table that takes a login, with
every method it allows, with A's ids in every path parameter (and every mix of A's and
B's own ids), and with A's ids in every query parameter and form/JSON field that names an
object. Expected: 404 for anything that names A's object in the path; a normal answer that
shows none of A's data for B's own pages with A's ids in filters and fields; never a 5xx;
never one of A's rows changed; never one of B's rows pointing at one of A's.

Why it stays complete when routes are added:
- routes come from `create_app(...).routes`, not from a list in this file: a new route is
  requested as soon as it exists;
- every route is either login-scoped (under /panel, or in SCOPED_OUTSIDE_PANEL) or in the
  documented PUBLIC allow-list; anything else fails `test_every_route_is_classified`,
  and every scoped route must refuse an anonymous request (so it really takes a login);
- a path parameter whose name has no mapping to one of A's objects fails with
  "add a mapping for {param}"; a parameter of a kind A's history lacks fails too;
- query parameters and form/JSON fields are read from the source of server/routes/ (AST):
  each must be classified as naming an object (then B sends A's id in it everywhere) or as
  plain; an unclassified one fails;
- the before/after comparison covers every table of the database (found by inspection),
  so a new tenant table (devices, carts…) is covered without editing this file;
- every WebSocket route must have a case here.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from urllib.parse import urlencode

import httpx
from conftest import (
    Client,
    create_gallery,
    jpeg_bytes,
    open_gallery_socket,
    pass_gate,
    released_gallery,
    rows,
    scalar,
    seed_price_list,
    upload,
    viewing_now,
    wait_processed,
)
from sqlalchemy import inspect as sa_inspect
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.app import create_app
from server.config import Settings

ROUTES_DIR = Path(__file__).resolve().parents[1] / "server" / "routes"

# --- classification ------------------------------------------------------------------------

#: Routes that are not photographer-scoped, and why. Everything else must take a login.
PUBLIC = {
    "/": "landing page; redirects a logged-in browser to /panel, shows no tenant data",
    "/signup": "creates a new photographer; names no existing object",
    "/login": "authenticates; names no existing object",
    "/healthz": "health of the database, Redis and worker: no tenant data",
    "/metrics": "Prometheus metrics behind the operator's token: counts, no tenant data",
    "/g/{slug}": "the client gallery: authorised by its slug, password and visitor cookies",
    "/g/{slug}/unlock": "client gallery (password form)",
    "/g/{slug}/gate": "client gallery (email gate)",
    "/g/{slug}/pin": "client gallery (download PIN)",
    "/g/{slug}/images/{image_id:int}/favorite": "client gallery (favorite)",
    "/g/{slug}/images/{image_id:int}/comments": "client gallery (comments)",
    "/g/{slug}/images/{image_id:int}/download": "client gallery (single download)",
    "/g/{slug}/download.zip": "client gallery (bulk download)",
    "/g/{slug}/media/{variant}/{image_id:int}": "client gallery (thumbnails, previews)",
    "/g/{slug}/verify/{token}": "client gallery (a device's one-time verification link, "
                                "emailed: the signed token is the authorisation)",
    "/d/{token}": "the emailed download link: its signature is the authorisation",
    "/g/{slug}/photos.json": "client gallery (its photos, behind the gallery's password)",
    "/g/{slug}/store.json": "client gallery (the store's offer and this visitor's cart)",
    "/g/{slug}/banners.json": "client gallery (the banners showing now for this visitor)",
    "/g/{slug}/marks.json": "client gallery (this visitor's favorites, comment counts and "
                            "unread replies, as its page embeds them)",
    "/g/{slug}/banners/{step_id:int}/{kind}": "client gallery (this visitor saw, dismissed or "
                                          "clicked one of its banners)",
    "/g/{slug}/cart/items": "client gallery (add to cart)",
    "/g/{slug}/cart/items/{line_id:int}": "client gallery (a line of the visitor's own cart)",
    "/g/{slug}/cart/items/{line_id:int}/delete": "client gallery (remove from own cart)",
    "/g/{slug}/cart/coupon": "client gallery (coupon on own cart)",
    "/g/{slug}/cart/stage": "client gallery (checkout step of own cart)",
    "/g/{slug}/cart/details": "client gallery (checkout details of own cart)",
    "/g/{slug}/checkout": "client gallery (place the order of own cart)",
    "/g/{slug}/orders/{token}": "the client's order page: the emailed token is the key",
    "/g/{slug}/orders/{token}/files/{image_id:int}": "a paid order's file (emailed token)",
    "/g/{slug}/orders/{token}/files.zip": "a paid order's files (emailed token)",
    "/static": "static assets (Mount)",
    "/unsubscribe/{token}": "a workflow email's unsubscribe link: the signed token (its "
                            "photographer and contact) is the authorisation",
    "/brand/logo/{key}": "a studio's logo, public by design (galleries, error pages, "
                         "emails); its random key names no row and lists nothing",
}
#: Login-scoped routes outside /panel. (/logout ends only the caller's session: B posts it
#: last, and A's sessions must survive it.)
SCOPED_OUTSIDE_PANEL = {"/logout"}

#: Path parameter -> the table of the object it names. `slug` names an event by its slug.
PARAM_KINDS = {
    "event_id": "events", "image_id": "images", "contact_id": "contacts",
    "comment_id": "comments", "gallery_type_id": "gallery_types", "type_id": "gallery_types",
    "visit_id": "visits", "favorite_id": "favorites", "download_id": "downloads",
    "email_id": "outbound_emails", "device_id": "devices", "activity_id": "activity_events",
    "order_id": "orders", "cart_id": "carts", "workflow_id": "workflows",
    "list_id": "price_lists", "item_id": "price_items", "coupon_id": "coupons",
    "step_id": "workflow_steps", "action_id": "scheduled_actions",
    "set_id": "image_sets", "slug": "events",
}
#: A bare `{id}` names the object of the path segment before it.
ID_SEGMENTS = {
    "events": "events", "images": "images", "contacts": "contacts", "comments": "comments",
    "gallery-types": "gallery_types", "mail": "outbound_emails", "emails": "outbound_emails",
    "devices": "devices", "visits": "visits", "favorites": "favorites",
    "downloads": "downloads", "workflows": "workflows", "orders": "orders",
}
#: Path parameters that name no object: every value is tried.
VALUE_PARAMS = {"variant": ("thumb", "preview", "original")}

#: Query parameters read in server/routes/: those that name an object (B sends A's id in
#: them on every request) and plain ones.
OBJECT_QUERY = {"event": "events", "image": "images", "contact": "contacts",
                "gallery_type": "gallery_types",
                # an email step's preview renders for ?contact= and ?gallery= (an event)
                "gallery": "events",
                "set": "image_sets"}  # the client gallery's set tab, a set's ZIP
PLAIN_QUERY = {"q", "sort", "dir", "page", "tab", "format", "sent", "unread", "next", "saved",
               "scope", "kind", "state", "preset", "done", "fragment",
               "size"}  # a download's size (original | high | web)

#: Form/JSON fields read in server/routes/: those that name an object, and plain ones with
#: the value B sends (None: not sent). Plain values are valid, so a request that would
#: succeed with its own ids fails only because of A's id in an object field.
OBJECT_FIELDS = {"gallery_type_id": "gallery_types", "image_id": "images",
                 "delete": "gallery_types", "event_id": "events", "contact_id": "contacts",
                 "assign": "gallery_types", "price_list_id": "price_lists",
                 "content_item": "price_items", "workflow_id": "workflows",
                 # a step's test send renders for the posted contact and gallery (an event)
                 "contact": "contacts", "gallery": "events",
                 "set_id": "image_sets"}  # "Move to set"
PLAIN_FIELDS = {
    "csrf_token": None, "files": None, "clear_password": None,
    "title": "Intruder gallery", "event_date": "", "expires_on": "", "password": "",
    "download_single": "on", "download_bulk": "on", "download_size": "original",
    "download_sizes": "original",
    "download_pin": "", "status": "released", "name": "Intruder Name",
    "watermark_kind": "text",
    "business_name": "Intruder Studio", "current_password": "not the password",
    "new_password": "intruder password 123", "confirm_password": "intruder password 123",
    "email": "intruder@example.com", "body": "Intruder text", "on": "on", "pin": "",
    "next": "/panel",
    # The store (server/routes/store_*.py)
    "kind": "print", "description": "Intruder item", "price": "12.00", "options": "",
    "digital_scope": None, "content_qty": "1", "direction": "up", "code": "INTRUDER10",
    "amount": "10", "min_order": "", "once_per_contact": None, "active": "on",
    "currency": "USD", "tax_rate": "0", "tax_inclusive": None, "shipping_flat": "0",
    "free_shipping_over": "", "store_enabled": "on", "state": "cancelled",
    "tracking_note": "", "internal_note": "Intruder note", "quantity": None, "stage": None,
    "version": None,
    # Gallery Workflows (server/routes/workflows_*.py, the gallery form's workflow choice);
    # "pick" makes the gallery form use the posted workflow_id (A's).
    "workflow_mode": "pick", "preset": "", "anchor": "release", "unit": "days",
    "at_local": "", "audience": "clients", "at_send_time": None,
    "subject": "Intruder subject", "coupon_code": "", "text": "Intruder banner",
    "style": "notice", "position": "top", "after_n": "12", "end_anchor": "",
    "headline": "Intruder headline", "dismissible": None, "countdown": "",
    "end_amount": "0", "end_unit": "days", "end_direction": "after", "back": None,
    "layout": "strip", "image_n": "0", "repeat": None, "end_at_local": "",
    # A gallery's photos (server/routes/photo_order.py, the gallery form's Photos fieldset):
    # "ids" (a drag's whole order) is not sent: B's request then fails on A's gallery alone.
    "order": "filename", "ids": None, "photo_order": "taken", "watermark": None,
    "watermark_text": "", "watermark_position": "center", "watermark_opacity": "35",
    "timezone": "UTC", "send_time": "09:00", "quiet_start": "", "quiet_end": "",
    # read through f-strings (the AST does not see them): button{1,2}_action|label|url
    **{f"button{n}_{part}": None for n in (1, 2) for part in ("action", "label", "url")},
    # and color_{bg,ink,accent} (a banner's own colours)
    **{f"color_{part}": None for part in ("bg", "ink", "accent")},
    # Not fields: `data["rules"]`, `data["workflow"]` index a page's data dict in
    # workflows_panel.py, and the reader takes every `data[...]` for a form read.
    "rules": None, "workflow": None,
    # Settings → Brand (server/routes/brand_settings.py); `logo` is its file field.
    "accent": "#7a2e4f", "font": "modern", "contact_email": "", "contact_phone": "",
    "contact_website": "", "remove_logo": None, "logo": None,
}

#: What B's POST with its OWN path ids (and A's ids in the object fields) must answer,
#: where it is known; other routes must just not fail (no 5xx) and change nothing of A's.
OWN_POST_EXPECT = {
    "/panel/events/new": {400},  # A's gallery type
    "/panel/events/{event_id:int}/edit": {400},  # A's gallery type
    "/panel/events/{event_id:int}/cover": {404},  # A's image
    "/panel/settings/gallery-types": {404},  # delete A's gallery type
    # A's price item in a package's rows (content_item) of B's own list/item
    "/panel/store/price-lists/{list_id:int}/items/new": {400},
    "/panel/store/price-lists/{list_id:int}/items/{item_id:int}": {400},
    "/panel/workflows/new": {400},  # A's gallery type
    "/panel/workflows/{workflow_id:int}": {400},  # A's gallery type
    # A's contact and gallery (form fields contact=, gallery=) to render the test email for
    "/panel/workflows/{workflow_id:int}/steps/{step_id:int}/test": {404},
    # the banner previewed on A's gallery (event_id); the plain "kind" (a store item's
    # "print") is refused first, so test_a_banner_preview_never_… sends a valid form
    "/panel/workflows/{workflow_id:int}/steps/banner-preview": {400, 404},
}

#: B's own GET pages that refuse A's id in their query (404) instead of ignoring it: an
#: email step's preview renders for ?contact= and ?gallery=, and A's are not found.
OWN_GET_EXPECT = {
    "/panel/workflows/{workflow_id:int}/steps/{step_id:int}/preview": 404,
    "/panel/workflows/{workflow_id:int}/steps/{step_id:int}/preview/email": 404,
    # The simulated client is the demo account's alone: B is not it (tests/test_demo_simulate.py)
    "/panel/demo/simulate": 403,
}

#: B's own GET pages that are a redirect (to the page they stand for), not a 200.
OWN_GET_REDIRECT = {"/panel/store": "/panel/store/price-lists"}

#: Columns that point at another table without a declared foreign key.
EXTRA_REFS = {"cover_image_id": "images"}

#: WebSocket routes: each must be covered by a test below.
SOCKETS = {"/ws/panel": "test_the_panel_socket_never_carries_another_tenants_events",
           "/ws/gallery/{slug}": "test_another_tenants_cookies_open_no_gallery_socket"}

# --- the route table -----------------------------------------------------------------------

@dataclass(frozen=True)
class HttpRoute:
    template: str  # as in the table: /panel/events/{event_id:int}
    path_format: str  # /panel/events/{event_id}
    params: tuple[str, ...]
    methods: tuple[str, ...]
    endpoint: object = field(compare=False)

    @property
    def scoped(self) -> bool:
        return self.template.startswith("/panel") or self.template in SCOPED_OUTSIDE_PANEL


def route_table() -> tuple[list[HttpRoute], list[str], list[str]]:
    """(HTTP routes, WebSocket paths, leaf mounts) of the app, built without its lifespan."""
    with tempfile.TemporaryDirectory() as var:
        app = create_app(Settings.from_env({"PROOFROOM_VAR": var,
                                            "SECRET_KEY": "route-table-only"}))
    http: list[HttpRoute] = []
    sockets: list[str] = []
    mounts: list[str] = []

    def walk(routes: list[BaseRoute], prefix: str, prefix_format: str,
             prefix_params: tuple[str, ...]) -> None:
        for route in routes:
            if isinstance(route, Mount):
                params = prefix_params + tuple(route.param_convertors)
                if route.routes:
                    walk(route.routes, prefix + route.path, prefix_format + route.path_format,
                         params)
                else:
                    mounts.append(prefix + route.path)
            elif isinstance(route, WebSocketRoute):
                sockets.append(prefix + route.path)
            elif isinstance(route, Route):
                methods = route.methods
                if methods is None:  # an HTTPEndpoint answers what it defines
                    methods = {m.upper() for m in ("get", "post", "put", "patch", "delete")
                               if hasattr(route.endpoint, m)}
                http.append(HttpRoute(
                    prefix + route.path, prefix_format + route.path_format,
                    prefix_params + tuple(route.param_convertors),
                    tuple(sorted(set(methods) - {"HEAD"})), route.endpoint))
            else:
                raise AssertionError(f"unknown kind of route {route!r}: teach this test it")

    walk(app.routes, "", "", ())
    return http, sockets, mounts


def param_kind(route: HttpRoute, param: str) -> str:
    """The table of the object a path parameter names, or a failure naming what to add."""
    if param in PARAM_KINDS:
        return PARAM_KINDS[param]
    if param == "id":
        segments = route.path_format.split("/")
        before = segments[segments.index("{id}") - 1]
        if before in ID_SEGMENTS:
            return ID_SEGMENTS[before]
    raise AssertionError(
        f"{route.template}: add a mapping for {{{param}}} to PARAM_KINDS (or ID_SEGMENTS / "
        f"VALUE_PARAMS) in tests/test_tenancy_routes.py")


# --- inputs read by the handlers, from their source ----------------------------------------

def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _reads(node: ast.AST, is_source) -> tuple[str, bool] | None:
    """(key, names a row) of what `node` reads from a qualifying source: `src.get("k")`,
    `src.getlist("k")`, `src["k"]`, or a typed reader `inputs.<reader>(src, "k", …)`
    (`inputs.row_id` reads a row id; `inputs.email(src)` reads "email")."""
    if isinstance(node, ast.Subscript) and is_source(node.value):
        key = _literal(node.slice)
        return (key, False) if key else None
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if (isinstance(func, ast.Attribute) and func.attr in ("get", "getlist") and node.args
            and is_source(func.value)):
        key = _literal(node.args[0])
        return (key, False) if key else None
    if node.args and is_source(node.args[0]):
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        key = _literal(node.args[1]) if len(node.args) > 1 else None
        if key is None and name == "email":
            key = "email"
        return (key, "row_id" in name) if key else None
    return None


@dataclass
class Inputs:
    query: set[str] = field(default_factory=set)  # query parameters
    fields: set[str] = field(default_factory=set)  # form / JSON fields
    row_ids: set[str] = field(default_factory=set)  # of either, those read as a row id


def handler_inputs() -> Inputs:
    """The query parameters and form/JSON fields the code in server/routes/ reads."""
    found = Inputs()
    for path in sorted(ROUTES_DIR.glob("*.py")):
        if path.name == "inputs.py":  # the readers themselves
            continue
        tree = ast.parse(path.read_text())
        functions = [f for f in ast.walk(tree)
                     if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]

        def is_query_attr(node: ast.AST) -> bool:
            return isinstance(node, ast.Attribute) and node.attr == "query_params"

        # Helpers like `_int_query(request, "event")`: a parameter used as a query key.
        helpers: dict[str, int] = {}
        for func in functions:
            names = [a.arg for a in func.args.args]
            for node in ast.walk(func):
                reads_query = isinstance(node, ast.Call) and node.args and (
                    is_query_attr(node.args[0]) or (isinstance(node.func, ast.Attribute)
                                                    and is_query_attr(node.func.value)))
                if reads_query:
                    for arg in node.args:
                        if isinstance(arg, ast.Name) and arg.id in names:
                            helpers[func.name] = names.index(arg.id)
        for func in functions:
            query_aliases: set[str] = set()
            form_aliases = {"form", "data", "payload"}
            for node in ast.walk(func):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                        node.targets[0], ast.Name):
                    value, name = node.value, node.targets[0].id
                    if is_query_attr(value):
                        query_aliases.add(name)
                    if isinstance(value, ast.Await) and isinstance(value.value, ast.Call):
                        called = ast.unparse(value.value.func)
                        if called.split(".")[-1] in ("read_form", "read_json", "form", "json"):
                            form_aliases.add(name)

            def is_query(node: ast.AST, aliases=query_aliases) -> bool:
                return is_query_attr(node) or (isinstance(node, ast.Name)
                                               and node.id in aliases)

            def is_form(node: ast.AST, aliases=form_aliases) -> bool:
                return isinstance(node, ast.Name) and node.id in aliases

            for node in ast.walk(func):
                if (read := _reads(node, is_query)) is not None:
                    found.query.add(read[0])
                elif (read := _reads(node, is_form)) is not None:
                    found.fields.add(read[0])
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                      and node.func.id in helpers and len(node.args) > helpers[node.func.id]
                      and (key := _literal(node.args[helpers[node.func.id]])) is not None):
                    read = (key, False)
                    found.query.add(key)
                if read is not None and read[1]:
                    found.row_ids.add(read[0])
    return found


def classification_errors() -> list[str]:
    http, sockets, mounts = route_table()
    errors = []
    templates = {r.template for r in http} | set(mounts)
    for route in http:
        if route.scoped and route.template in PUBLIC:
            errors.append(f"{route.template} is both scoped and in PUBLIC")
        elif not route.scoped and route.template not in PUBLIC:
            errors.append(f"{route.template} is neither login-scoped (/panel/…, "
                          f"SCOPED_OUTSIDE_PANEL) nor in the PUBLIC allow-list: classify it")
        if route.scoped:
            for param in route.params:
                if param in VALUE_PARAMS:
                    continue
                try:
                    param_kind(route, param)
                except AssertionError as exc:
                    errors.append(str(exc))
            for method in route.methods:
                if method not in ("GET", "POST"):
                    errors.append(f"{route.template}: teach this test to send {method}")
    for mount in mounts:
        if mount not in PUBLIC:
            errors.append(f"mount {mount} is not in the PUBLIC allow-list: classify it")
    errors += [f"stale PUBLIC entry {t}: no such route" for t in PUBLIC if t not in templates]
    errors += [f"WebSocket route {s} has no case in SOCKETS: add a test for it"
               for s in sockets if s not in SOCKETS]
    read = handler_inputs()
    errors += [f"query parameter {q!r} read in server/routes/: add it to OBJECT_QUERY (it "
               f"names an object) or PLAIN_QUERY" for q in sorted(read.query)
               if q not in OBJECT_QUERY and q not in PLAIN_QUERY]
    errors += [f"form/JSON field {f!r} read in server/routes/: add it to OBJECT_FIELDS (it "
               f"names an object) or PLAIN_FIELDS" for f in sorted(read.fields)
               if f not in OBJECT_FIELDS and f not in PLAIN_FIELDS]
    errors += [f"{k!r} is read as a row id: it names an object, so it belongs in "
               f"OBJECT_QUERY / OBJECT_FIELDS" for k in sorted(read.row_ids)
               if (k in read.query and k not in OBJECT_QUERY)
               or (k in read.fields and k not in OBJECT_FIELDS)]
    return errors


def test_every_route_and_input_is_classified():
    errors = classification_errors()
    assert not errors, "\n".join(errors)
    http, _, _ = route_table()
    scoped = [r for r in http if r.scoped]
    assert len(scoped) >= 30  # the test really walks the table
    read = handler_inputs()
    assert {"event", "image"} <= read.query
    assert {"gallery_type_id", "image_id", "delete"} <= read.fields


# --- the database, by inspection -----------------------------------------------------------

async def db_schema(db) -> dict[str, dict]:
    def read(sync_conn) -> dict[str, dict]:
        insp = sa_inspect(sync_conn)
        out = {}
        for name in insp.get_table_names():
            refs = {}
            for fk in insp.get_foreign_keys(name):
                for col in fk["constrained_columns"]:
                    refs[col] = fk["referred_table"]
            columns = [c["name"] for c in insp.get_columns(name)]
            for col in columns:
                if col in EXTRA_REFS and col not in refs:
                    refs[col] = EXTRA_REFS[col]
            out[name] = {"columns": columns, "refs": refs}
        return out

    async with db.connect() as conn:
        return await conn.run_sync(read)


async def owner_state(db, schema: dict, photographer_id: int) -> dict[str, list]:
    """Every row that belongs to the photographer, in every table: their own rows, and rows
    of shared tables that point at their objects."""
    state = {"photographers": await rows(db, "SELECT * FROM photographers WHERE id=:p",
                                         p=photographer_id)}
    for table, info in sorted(schema.items()):
        if table == "photographers":
            continue
        if "photographer_id" in info["columns"]:
            state[table] = await rows(db, f"SELECT * FROM {table} WHERE photographer_id=:p "
                                          "ORDER BY 1", p=photographer_id)
            continue
        owned = [f"{col} IN (SELECT id FROM {target} WHERE photographer_id=:p)"
                 for col, target in info["refs"].items()
                 if "photographer_id" in schema.get(target, {}).get("columns", ())]
        if owned:
            state[table] = await rows(db, f"SELECT * FROM {table} WHERE {' OR '.join(owned)} "
                                          "ORDER BY 1", p=photographer_id)
    return state


async def cross_tenant_references(db, schema: dict, photographer_id: int) -> list[str]:
    """Rows of this photographer that point at another photographer's row."""
    found = []
    for table, info in sorted(schema.items()):
        if "photographer_id" not in info["columns"]:
            continue
        for col, target in info["refs"].items():
            if col == "photographer_id" or "photographer_id" not in schema.get(
                    target, {}).get("columns", ()):
                continue
            bad = await rows(db, f"SELECT t.{col} FROM {table} t JOIN {target} r "
                                 f"ON r.id = t.{col} WHERE t.photographer_id=:p "
                                 "AND r.photographer_id <> :p", p=photographer_id)
            found += [f"{table}.{col} = {r[0]} (a row of {target} of another tenant)"
                      for r in bad]
    return found


async def settled(db, photographer_id: int, timeout: float = 60) -> None:
    """Wait until no email of the photographer is still queued (the worker writes to it)."""
    deadline = time.monotonic() + timeout
    while await scalar(db, "SELECT count(*) FROM outbound_emails WHERE photographer_id=:p "
                           "AND state IN ('queued', 'sending')", p=photographer_id):
        assert time.monotonic() < deadline, "emails still queued"
        await asyncio.sleep(0.1)


# --- the tenants' histories ----------------------------------------------------------------

@dataclass
class Tenant:
    client: Client
    ids: dict[str, object]  # table -> one of the tenant's row ids ("slug": the gallery's)
    secrets: list[str] = field(default_factory=list)  # text only this tenant's data holds
    gallery_page: object = None  # a client's open gallery socket: "viewing now" holds them


async def first_ids(db, schema: dict, photographer_id: int, chosen: dict) -> dict:
    """One row id per tenant table (the chosen ones where given)."""
    ids = dict(chosen)
    for table, info in schema.items():
        if table in ids or "photographer_id" not in info["columns"] or "id" not in info[
                "columns"]:
            continue
        found = await scalar(db, f"SELECT id FROM {table} WHERE photographer_id=:p "
                                 "ORDER BY id LIMIT 1", p=photographer_id)
        if found is not None:
            ids[table] = found
    return ids


async def gate(visitor: Client, slug: str, db, email: str, name: str) -> int:
    """The visitor passes the gallery's email gate; their contact's id."""
    await pass_gate(visitor, slug, email=email, name=name)
    return await scalar(db, "SELECT c.id FROM contacts c JOIN events e ON "
                            "e.photographer_id = c.photographer_id WHERE e.slug=:s AND "
                            "c.email=:m", s=slug, m=email)


async def workflow_of(client: Client, db, type_id: int, name: str, subject: str) -> int:
    """An active workflow of the gallery type with one email step a week after release
    (so a gallery of that type released next has a pending scheduled action); its id."""
    res = await client.post_form("/panel/workflows/new", {
        "name": name, "gallery_type_id": str(type_id), "active": "on"})
    assert res.status_code == 303, res.text
    workflow_id = await scalar(db, "SELECT id FROM workflows WHERE photographer_id=:p AND "
                                   "name=:n", p=client.photographer_id, n=name)
    res = await client.post_form(f"/panel/workflows/{workflow_id}/steps/new", {
        "kind": "email", "anchor": "release", "amount": "7", "unit": "days",
        "direction": "after", "audience": "clients", "subject": subject,
        "body": f"{subject} body"})
    assert res.status_code == 303, res.text
    return workflow_id


async def gallery_client(client: Client, event_id: int, name: str, email: str) -> None:
    res = await client.post_form(f"/panel/events/{event_id}/clients",
                                 {"name": name, "email": email})
    assert res.status_code == 303, res.text


async def owners_history(owner: Client, new_client, db, schema: dict) -> Tenant:
    """A's realistic history, all through the HTTP API."""
    tag = uuid.uuid4().hex[:10]
    type_name = f"Typeq{tag}"
    res = await owner.post_form("/panel/settings/gallery-types", {"name": type_name})
    assert res.status_code == 303, res.text
    type_id = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p "
                               "AND name=:n", p=owner.photographer_id, n=type_name)
    # Gallery Workflows: the type's workflow plans an email when the gallery is released.
    flow_name, subject = f"Flowq{tag}", f"Subjectq{tag}"
    await workflow_of(owner, db, type_id, flow_name, subject)
    title = f"Weddingq{tag}"
    event_id = await create_gallery(owner, title=title, gallery_type_id=str(type_id))
    names = [f"DSCq{tag}_{n}.jpg" for n in range(2)]
    res = await upload(owner, event_id, [(name, jpeg_bytes(color=(60 * n, 90, 160)))
                                         for n, name in enumerate(names)])
    assert res.status_code == 200, res.text
    images = await wait_processed(owner, event_id)
    res = await owner.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    assert res.status_code == 303, res.text
    slug = await scalar(db, "SELECT slug FROM events WHERE id=:e", e=event_id)
    assert await scalar(db, "SELECT count(*) FROM scheduled_actions WHERE event_id=:e AND "
                            "state='pending'", e=event_id) == 1
    bride, bride_email = f"Brideq{tag}", f"brideq{tag}@example.com"
    await gallery_client(owner, event_id, bride, bride_email)
    # The store: a price list on the gallery (before any client opens it), a coupon.
    prices = await seed_price_list(db, owner.photographer_id, event_id)
    coupon = f"SAVEQ{tag.upper()}"
    res = await owner.post_form("/panel/store/coupons", {
        "code": coupon, "kind": "percent", "amount": "10", "active": "on"})
    assert res.status_code == 303, res.text

    visitor = new_client()
    email, name = f"clientq{tag}@example.com", f"Clientq{tag}"
    contact_id = await gate(visitor, slug, db, email, name)
    image_id = images[0]["id"]
    gallery = f"/g/{slug}/images/{image_id}"
    assert (await visitor.post_json(f"{gallery}/favorite", {"on": True})).status_code == 200
    comment = f"Commentq{tag}"
    res = await visitor.post_json(f"{gallery}/comments", {"body": comment})
    assert res.status_code == 200, res.text
    assert (await visitor.get(f"{gallery}/download")).status_code == 200
    assert (await visitor.get(f"/g/{slug}/download.zip?scope=all")).status_code == 200
    # A set holding the favorite, downloaded as a ZIP (its name is in the activity).
    set_name = f"Setq{tag}"
    res = await owner.post_json(f"/panel/events/{event_id}/sets.json", {"name": set_name})
    assert res.status_code == 200, res.text
    set_id = res.json()["set"]["id"]
    res = await owner.post_json(f"/panel/events/{event_id}/sets/move.json",
                                {"ids": [image_id], "set_id": set_id})
    assert res.status_code == 200, res.text
    res = await visitor.get(f"/g/{slug}/download.zip?scope=set&set={set_id}")
    assert res.status_code == 200, res.text
    # A cart, then an order (the cart stays, emptied: the Activity report's SAVED CART).
    res = await visitor.post_json(f"/g/{slug}/cart/items", {
        "item_id": prices["print"], "image_id": image_id, "choices": {"Paper": "Lustre"}})
    assert res.status_code == 200, res.text
    address = f"{tag} Orchard Lane"
    res = await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": name, "email": email, "line1": address, "city": "Springfield",
        "postal_code": "12345", "country": "US"})
    assert res.status_code == 200, res.text
    res = await visitor.post_json(f"/g/{slug}/checkout", {"version": res.json()["version"]})
    assert res.status_code == 200, res.text
    reply = f"Replyq{tag}"
    res = await owner.post_json(f"/panel/comments/{contact_id}/{image_id}/reply",
                                {"body": reply})
    assert res.status_code == 200, res.text
    res = await owner.post_form(f"/panel/activity/{event_id}/{contact_id}/send-files")
    assert res.status_code == 303, res.text
    await settled(db, owner.photographer_id)
    bodies = [r[0] for r in await rows(db, "SELECT body_text FROM outbound_emails WHERE "
                                           "photographer_id=:p", p=owner.photographer_id)]
    (token,) = {t for b in bodies for t in re.findall(r"/d/([A-Za-z0-9_\-.]+)", b)}
    # "Viewing now" holds A's client while its gallery page (the live socket) stays open.
    gallery_page = await open_gallery_socket(visitor, slug)
    await viewing_now(owner, lambda v: len(v) == 1)

    comment_id = await scalar(db, "SELECT id FROM comments WHERE photographer_id=:p AND "
                                  "author='client'", p=owner.photographer_id)
    ids = await first_ids(db, schema, owner.photographer_id, {
        "events": event_id, "images": image_id, "contacts": contact_id,
        "gallery_types": type_id, "comments": comment_id, "slug": slug})
    return Tenant(owner, ids, [title, slug, type_name, email, email.split("@")[0], name,
                               comment, reply, token, owner.email, *names, coupon, address,
                               flow_name, subject, bride, bride_email, set_name],
                  gallery_page)


async def own_world(me: Client, new_client, db, schema: dict) -> Tenant:
    """B's own objects, so B's requests can mix A's ids with valid ids of its own."""
    tag = uuid.uuid4().hex[:8]
    # B's own gallery type and workflow, so the workflow routes mix A's ids with B's own
    # (workflow, step, and the scheduled action B's gallery gets at release).
    res = await me.post_form("/panel/settings/gallery-types", {"name": f"Own type {tag}"})
    assert res.status_code == 303, res.text
    type_id = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p",
                           p=me.photographer_id)
    await workflow_of(me, db, type_id, f"Own flow {tag}", f"Own subject {tag}")
    event_id, slug, images = await released_gallery(me, n_images=2, title=f"Own {tag}",
                                                    gallery_type_id=str(type_id))
    await gallery_client(me, event_id, "Own Bride", f"own-bride-{tag}@example.com")
    res = await me.post_json(f"/panel/events/{event_id}/sets.json", {"name": f"Own set {tag}"})
    assert res.status_code == 200, res.text
    # B's own store (price list before the gallery is first opened, coupon, cart, order),
    # so the store's routes are also tried with B's ids mixed with A's.
    prices = await seed_price_list(db, me.photographer_id, event_id)
    res = await me.post_form("/panel/store/coupons", {
        "code": f"OWN{tag.upper()}", "kind": "percent", "amount": "5", "active": "on"})
    assert res.status_code == 303, res.text
    visitor = new_client()
    email = f"own-{tag}@example.com"
    contact_id = await gate(visitor, slug, db, email, "Own Client")
    gallery = f"/g/{slug}/images/{images[0]['id']}"
    assert (await visitor.post_json(f"{gallery}/favorite", {"on": True})).status_code == 200
    res = await visitor.post_json(f"{gallery}/comments", {"body": "Own comment"})
    assert res.status_code == 200
    res = await visitor.post_json(f"/g/{slug}/cart/items", {
        "item_id": prices["print"], "image_id": images[0]["id"],
        "choices": {"Paper": "Lustre"}})
    assert res.status_code == 200, res.text
    res = await visitor.post_json(f"/g/{slug}/cart/details", {
        "name": "Own Client", "email": email, "line1": "1 Own Street", "city": "Ownville",
        "postal_code": "54321", "country": "US"})
    assert res.status_code == 200, res.text
    res = await visitor.post_json(f"/g/{slug}/checkout", {"version": res.json()["version"]})
    assert res.status_code == 200, res.text
    ids = await first_ids(db, schema, me.photographer_id, {
        "events": event_id, "images": images[0]["id"], "contacts": contact_id,
        "slug": slug})
    return Tenant(me, ids)


# --- B's requests --------------------------------------------------------------------------

@dataclass
class Case:
    route: HttpRoute
    method: str
    path: str
    foreign: tuple[str, ...]  # the path parameters holding A's ids

    @property
    def destructive(self) -> bool:
        return self.route.template.endswith("/delete") or self.route.template == "/logout"

    def order(self) -> tuple:
        # A's ids first; then B's own pages; destructive posts last (an image before its
        # event, an item before its price list), /logout at the very end.
        return (not self.foreign and self.method == "POST", self.destructive,
                self.route.template == "/logout", "event_id" in self.route.params,
                -self.route.template.count("/"), self.route.template, self.path)


def kind_value(tenant: Tenant, kind: str, param: str) -> object | None:
    return tenant.ids.get("slug") if param == "slug" else tenant.ids.get(kind)


def cases_for(route: HttpRoute, owner: Tenant, me: Tenant) -> list[Case]:
    objects = [p for p in route.params if p not in VALUE_PARAMS]
    kinds = {p: param_kind(route, p) for p in objects}
    for param, kind in kinds.items():
        assert kind_value(owner, kind, param) is not None, (
            f"{route.template}: A's history has no row of {kind} for {{{param}}}: extend "
            f"owners_history() in tests/test_tenancy_routes.py")
    value_choices = [VALUE_PARAMS[p] for p in route.params if p in VALUE_PARAMS]
    cases = []
    for method in route.methods:
        for whose in product((owner, me), repeat=len(objects)):
            chosen = dict(zip(objects, whose, strict=True))
            if any(kind_value(t, kinds[p], p) is None for p, t in chosen.items()):
                continue  # B has no object of that kind: only the all-A case is tried
            for values in product(*value_choices):
                fill = {p: kind_value(t, kinds[p], p) for p, t in chosen.items()}
                fill.update(zip([p for p in route.params if p in VALUE_PARAMS], values,
                                strict=True))
                cases.append(Case(route, method, route.path_format.format(**fill),
                                  tuple(p for p, t in chosen.items() if t is owner)))
    return cases


def foreign_query(owner: Tenant) -> str:
    return urlencode({name: owner.ids[kind] for name, kind in OBJECT_QUERY.items()
                      if kind in owner.ids})


def foreign_fields(owner: Tenant) -> dict[str, str]:
    data = {name: value for name, value in PLAIN_FIELDS.items() if value is not None}
    data.update({name: str(owner.ids[kind]) for name, kind in OBJECT_FIELDS.items()
                 if kind in owner.ids})
    return data


def source_of(route: HttpRoute) -> str:
    try:
        return inspect.getsource(route.endpoint)
    except (OSError, TypeError):
        return ""


async def send(client: Client, case: Case, owner: Tenant):
    """B's request for one case; one retry if the connection dropped (after a 5xx the
    server may close a kept-alive connection under the next request)."""
    try:
        return await _send(client, case, owner)
    except httpx.TransportError:
        return await _send(client, case, owner)


async def _send(client: Client, case: Case, owner: Tenant):
    url = f"{case.path}?{foreign_query(owner)}"
    if case.method == "GET":
        return await client.get(url)
    source = source_of(case.route)
    if "read_json(" in source:
        return await client.post_json(url, foreign_fields(owner))
    files = None
    if '"files"' in source:  # an upload form: a real image, so only the id can refuse it
        files = [("files", ("intruder.jpg", jpeg_bytes(64, 48), "image/jpeg"))]
    return await client.post_form(url, foreign_fields(owner), files=files)


def leaked(res, secrets: list[str]) -> list[str]:
    blob = res.content + b"\n".join(k + b": " + v for k, v in res.headers.raw)
    return [s for s in secrets if s.encode() in blob]


def gist(res) -> str:
    """The message of an answer, without the page around it."""
    text = res.text
    if "<body" in text:
        text = re.sub(r"<script.*?</script>|<[^>]+>", " ", text.split("<body", 1)[1], flags=re.S)
    return " ".join(text.split())[:160]


def check(case: Case, res, owner: Tenant) -> list[str]:
    """What is wrong with B's answer to one case (nothing: an empty list)."""
    what = f"{case.method} {case.path} (A's: {', '.join(case.foreign) or 'fields only'})"
    problems = []
    if leaked(res, owner.secrets):
        problems.append(f"{what}: {res.status_code} shows A's {leaked(res, owner.secrets)}")
    if res.status_code >= 500:
        problems.append(f"{what}: {res.status_code} {gist(res)}")
    elif case.foreign:
        if res.status_code != 404:
            problems.append(f"{what}: {res.status_code}, expected 404: {gist(res)}")
    elif case.method == "GET":
        target = OWN_GET_REDIRECT.get(case.route.template)
        refused = OWN_GET_EXPECT.get(case.route.template)
        if refused is not None:
            if res.status_code != refused:
                problems.append(f"{what}: {res.status_code}, expected {refused} (A's ids in "
                                f"the query): {gist(res)}")
        elif target is not None:
            if res.status_code != 303 or res.headers.get("location") != target:
                problems.append(f"{what}: {res.status_code} "
                                f"{res.headers.get('location')}, expected 303 to {target}")
        elif res.status_code != 200:  # the control: the same URL works with B's own ids
            problems.append(f"{what}: {res.status_code} for B's own ids, expected 200")
    else:
        expected = OWN_POST_EXPECT.get(case.route.template)
        if expected and res.status_code not in expected:
            problems.append(f"{what}: {res.status_code}, expected {sorted(expected)}: "
                            f"{gist(res)}")
    return problems


async def test_another_photographer_gets_404_for_every_object_on_every_route(
        photographer, other_photographer, new_client, db):
    errors = classification_errors()
    assert not errors, "\n".join(errors)
    schema = await db_schema(db)
    owner = await owners_history(photographer, new_client, db, schema)
    me = await own_world(other_photographer, new_client, db, schema)
    http, _, _ = route_table()
    scoped = [r for r in http if r.scoped]
    cases = sorted((c for r in scoped for c in cases_for(r, owner, me)), key=Case.order)
    assert {c.route.template for c in cases} == {r.template for r in scoped}
    before = await owner_state(db, schema, photographer.photographer_id)

    # Anonymous: every scoped route takes a login (a GET goes to /login, a POST is 403).
    anonymous = new_client()
    problems = []
    for case in cases:
        if case.foreign != tuple(p for p in case.route.params if p not in VALUE_PARAMS):
            continue
        try:
            res = await send(anonymous, case, owner)
        except httpx.TransportError as exc:
            problems.append(f"anonymous {case.method} {case.path}: no answer ({exc!r})")
            continue
        login = (res.status_code == 303 and res.headers["location"].startswith("/login")
                 if case.method == "GET" else res.status_code == 403)
        if not login or leaked(res, owner.secrets):
            problems.append(f"anonymous {case.method} {case.path}: {res.status_code}: the "
                            "route does not take a login; is it PUBLIC?")

    checked_references = False
    for case in cases:
        if case.destructive and not checked_references:
            # Before B deletes its own objects (which would hide a reference to A's).
            problems += await cross_tenant_references(db, schema, me.client.photographer_id)
            checked_references = True
        try:
            res = await send(other_photographer, case, owner)
        except httpx.TransportError as exc:
            problems.append(f"{case.method} {case.path}: no answer ({exc!r})")
            continue
        problems += check(case, res, owner)

    after = await owner_state(db, schema, photographer.photographer_id)
    changed = [table for table in sorted(set(before) | set(after))
               if before.get(table) != after.get(table)]
    problems += [f"A's rows in {table} changed during B's requests" for table in changed]
    problems += await cross_tenant_references(db, schema, other_photographer.photographer_id)
    for variant in VALUE_PARAMS["variant"]:  # A's files are all still there
        res = await photographer.get(f"/panel/media/{variant}/{owner.ids['images']}")
        if res.status_code != 200:
            problems.append(f"A's {variant} file is gone after B's requests")
    await owner.gallery_page.close()
    assert not problems, f"{len(problems)} tenancy problems:\n" + "\n".join(problems)
    assert len(cases) >= 60


async def test_a_package_never_holds_another_tenants_item(photographer, other_photographer,
                                                          db):
    """A package's rows are ids in a JSON column (no foreign key for
    cross_tenant_references to follow): B's package editor refuses A's item id, and the
    same form with B's own item goes through (the control)."""
    theirs = await seed_price_list(db, photographer.photographer_id)
    mine = await seed_price_list(db, other_photographer.photographer_id)
    url = f"/panel/store/price-lists/{mine['list']}/items"

    def form(item_id: int) -> dict:
        return {"kind": "package", "name": "Intruder package", "price": "40.00",
                "content_item": str(item_id), "content_qty": "2"}

    def contents_sql(pid: int) -> str:
        return f"SELECT id, contents FROM price_items WHERE photographer_id={pid} ORDER BY id"

    before = await rows(db, contents_sql(other_photographer.photographer_id))
    res = await other_photographer.post_form(f"{url}/new", form(theirs["print"]))
    assert res.status_code == 400, res.text
    assert "own price list" in res.text
    res = await other_photographer.post_form(f"{url}/{mine['package']}", form(theirs["web"]))
    assert res.status_code == 400, res.text
    assert await rows(db, contents_sql(other_photographer.photographer_id)) == before

    res = await other_photographer.post_form(f"{url}/new", form(mine["print"]))
    assert res.status_code == 303, res.text
    res = await other_photographer.post_form(f"{url}/{mine['package']}", form(mine["web"]))
    assert res.status_code == 303, res.text
    after = await rows(db, contents_sql(other_photographer.photographer_id))
    assert len(after) == len(before) + 1
    ours = {mine[k] for k in ("print", "web", "full", "gallery", "canvas")}
    for _, contents in after:
        parts = json.loads(contents) if isinstance(contents, str) else contents
        assert {int(part["item_id"]) for part in parts or []} <= ours, parts


async def test_a_preview_never_renders_for_another_tenants_contact_or_gallery(
        photographer, other_photographer, new_client, db):
    """The route-wide test sends A's contact and gallery together; here each alone, in
    the preview's query and the test send's form: each is a 404 and no email is queued,
    and the same requests with B's own contact and gallery go through (the control)."""
    theirs = await small_world(photographer, new_client, db)
    me, tag = other_photographer, uuid.uuid4().hex[:8]
    res = await me.post_form("/panel/settings/gallery-types", {"name": f"Type {tag}"})
    assert res.status_code == 303, res.text
    type_id = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p",
                           p=me.photographer_id)
    workflow_id = await workflow_of(me, db, type_id, f"Flow {tag}", f"Hello {tag}")
    step_id = await scalar(db, "SELECT id FROM workflow_steps WHERE workflow_id=:w",
                           w=workflow_id)
    own_event, own_slug, _ = await released_gallery(me, n_images=1)
    own_contact = await gate(new_client(), own_slug, db, f"own{tag}@example.com", "Own")
    step = f"/panel/workflows/{workflow_id}/steps/{step_id}"
    sent = "SELECT count(*) FROM outbound_emails WHERE photographer_id=:p AND " \
           "kind='workflow_test'"
    for picks in ({"contact": theirs["contact_id"]}, {"gallery": theirs["event_id"]}):
        for url in (f"{step}/preview", f"{step}/preview/email"):
            res = await me.get(f"{url}?{urlencode(picks)}")
            assert res.status_code == 404 and not leaked(res, theirs["secrets"]), url
        res = await me.post_form(f"{step}/test", {k: str(v) for k, v in picks.items()})
        assert res.status_code == 404, res.text
    assert await scalar(db, sent, p=me.photographer_id) == 0
    own = {"contact": own_contact, "gallery": own_event}
    for url in (f"{step}/preview", f"{step}/preview/email"):
        assert (await me.get(f"{url}?{urlencode(own)}")).status_code == 200, url
    res = await me.post_form(f"{step}/test", {k: str(v) for k, v in own.items()})
    assert res.status_code == 303, res.text
    assert await scalar(db, sent, p=me.photographer_id) == 1


async def test_a_banner_preview_never_renders_on_another_tenants_gallery(
        photographer, other_photographer, new_client, db):
    """The banner editor's preview, on A's gallery: its framed page and the rendered banner
    are 404s that leak nothing; on B's own gallery both render (the control)."""
    theirs = await small_world(photographer, new_client, db)
    me, tag = other_photographer, uuid.uuid4().hex[:8]
    res = await me.post_form("/panel/settings/gallery-types", {"name": f"Type {tag}"})
    assert res.status_code == 303, res.text
    type_id = await scalar(db, "SELECT id FROM gallery_types WHERE photographer_id=:p",
                           p=me.photographer_id)
    workflow_id = await workflow_of(me, db, type_id, f"Flow {tag}", f"Hello {tag}")
    own_event, _, _ = await released_gallery(me, n_images=1)
    banner = {"kind": "banner", "anchor": "release", "amount": "0", "unit": "days",
              "direction": "after", "audience": "visitors", "style": "notice",
              "position": "top", "layout": "full", "headline": "Hi {gallery_title}",
              "text": "Order by {expiry_date}"}
    url = f"/panel/workflows/{workflow_id}/steps/banner-preview"
    res = await me.get(f"/panel/events/{theirs['event_id']}/banner-preview")
    assert res.status_code == 404 and not leaked(res, theirs["secrets"])
    res = await me.post_form(url, {**banner, "event_id": str(theirs["event_id"])})
    assert res.status_code == 404 and not leaked(res, theirs["secrets"])
    assert (await me.get(f"/panel/events/{own_event}/banner-preview")).status_code == 200
    res = await me.post_form(url, {**banner, "event_id": str(own_event)})
    assert res.status_code == 200, res.text
    image_id = await scalar(db, "SELECT id FROM images WHERE event_id=:e", e=own_event)
    assert res.json()["banners"][0]["image"]["src"].endswith(f"/media/preview/{image_id}")


async def test_a_gallery_never_follows_another_tenants_workflow(photographer,
                                                              other_photographer, db):
    """The route-wide test posts A's gallery type with A's workflow; here A's workflow
    alone in B's gallery forms (new, edit): a 400 that names the field, and B's gallery
    keeps its choice; B's own workflow goes through (the control)."""
    tag = uuid.uuid4().hex[:8]
    for who in (photographer, other_photographer):
        res = await who.post_form("/panel/settings/gallery-types", {"name": f"T {tag}"})
        assert res.status_code == 303, res.text
    type_of = "SELECT id FROM gallery_types WHERE photographer_id=:p"
    theirs = await workflow_of(photographer, db, await scalar(
        db, type_of, p=photographer.photographer_id), f"Theirs {tag}", f"Theirs {tag}")
    me = other_photographer
    mine = await workflow_of(me, db, await scalar(db, type_of, p=me.photographer_id),
                             f"Mine {tag}", f"Mine {tag}")
    event_id = await create_gallery(me, title=f"Mine {tag}")
    form = {"title": f"Mine {tag}", "download_size": "original", "workflow_mode": "pick"}
    for url in ("/panel/events/new", f"/panel/events/{event_id}/edit"):
        res = await me.post_form(url, {**form, "workflow_id": str(theirs)})
        assert res.status_code == 400 and "Pick a workflow from the list." in res.text, url
    assert await scalar(db, "SELECT count(*) FROM events WHERE photographer_id=:p",
                        p=me.photographer_id) == 1
    assert await scalar(db, "SELECT workflow_id FROM events WHERE id=:e", e=event_id) is None
    res = await me.post_form(f"/panel/events/{event_id}/edit", {**form, "workflow_id": str(mine)})
    assert res.status_code == 303, res.text
    assert await scalar(db, "SELECT workflow_id FROM events WHERE id=:e", e=event_id) == mine


# --- live sockets --------------------------------------------------------------------------

def cookie_header(*clients: Client) -> str:
    jar: dict[str, str] = {}
    for client in clients:
        jar.update(client.http.cookies.items())
    return "; ".join(f"{k}={v}" for k, v in jar.items())


async def open_socket(base_url: str, path: str, *clients: Client, last_seq: int = 0):
    ws = await connect(base_url.replace("http://", "ws://") + path,
                       additional_headers={"Cookie": cookie_header(*clients),
                                           "Origin": base_url})
    with contextlib.suppress(ConnectionClosed):  # refused: read() reports the close
        await ws.send(json.dumps({"last_seq": last_seq}))
    return ws


async def read(ws, seconds: float) -> tuple[list[str], int | None]:
    """What the socket received within `seconds`, and its close code if it closed."""
    got: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                got.append(await ws.recv())
    except TimeoutError:
        return got, None
    except ConnectionClosed as exc:
        return got, exc.rcvd.code if exc.rcvd else None


async def read_until(ws, predicate, seconds: float = 10) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(seconds):
        while not any(predicate(m) for m in got):
            got.append(json.loads(await ws.recv()))
    return got


def mentions(raw: str, world: dict) -> bool:
    message = json.loads(raw)
    payload = message.get("payload") or {}
    return (any(s in raw for s in world["secrets"])
            or message.get("event_id") == world["event_id"]
            or message.get("contact_id") == world["contact_id"]
            or payload.get("image_id") in world["image_ids"])


async def small_world(owner: Client, new_client, db) -> dict:
    tag = uuid.uuid4().hex[:10]
    title, email = f"Socketq{tag}", f"socketq{tag}@example.com"
    event_id, slug, images = await released_gallery(owner, n_images=2, title=title)
    visitor = new_client()
    contact_id = await gate(visitor, slug, db, email, f"Sockq{tag}")
    return {"event_id": event_id, "slug": slug, "image_ids": [i["id"] for i in images],
            "contact_id": contact_id, "visitor": visitor, "tag": tag,
            "secrets": [title, slug, email, f"Sockq{tag}", owner.email]}


async def test_the_panel_socket_never_carries_another_tenants_events(
        photographer, other_photographer, new_client, server, db):
    world = await small_world(photographer, new_client, db)
    base = server.base_url
    theirs = await open_socket(base, "/ws/panel", other_photographer)
    mine = await open_socket(base, "/ws/panel", photographer)
    await read_until(mine, lambda m: m.get("kind") == "visit")  # A's socket is live

    visitor, slug, image_id = world["visitor"], world["slug"], world["image_ids"][1]
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": True})
    assert res.status_code == 200
    body = f"Sockq{world['tag']} comment"
    res = await visitor.post_json(f"/g/{slug}/images/{image_id}/comments", {"body": body})
    assert res.status_code == 200
    world["secrets"].append(body)
    # The control: A's own dashboard gets both at once.
    await read_until(mine, lambda m: m.get("kind") == "comment_added")

    got, code = await read(theirs, 1.0)
    assert code is None, f"B's own socket closed ({code})"
    assert not [m for m in got if mentions(m, world)], got
    # Nor does asking B's socket to replay everything from 0 give anything of A's.
    replay = await open_socket(base, "/ws/panel", other_photographer, last_seq=0)
    got, _ = await read(replay, 1.0)
    assert not [m for m in got if mentions(m, world)], got
    for ws in (theirs, mine, replay):
        await ws.close()


async def test_another_tenants_cookies_open_no_gallery_socket(
        photographer, other_photographer, new_client, server, db):
    world = await small_world(photographer, new_client, db)
    # B's own visitor, who passed B's gate: a gate cookie of another photographer.
    _, own_slug, _ = await released_gallery(other_photographer, n_images=1)
    own_visitor = new_client()
    await pass_gate(own_visitor, own_slug, email=f"b-{world['tag']}@example.com")
    base, slug = server.base_url, world["slug"]
    path = f"/ws/gallery/{slug}"

    control = await open_socket(base, path, world["visitor"])  # A's own client
    intruders = [await open_socket(base, path, other_photographer),
                 await open_socket(base, path, own_visitor),
                 await open_socket(base, path, other_photographer, own_visitor)]

    image_id = world["image_ids"][0]
    body, reply = f"Gq{world['tag']} question", f"Gq{world['tag']} answer"
    world["secrets"] += [body, reply]
    res = await world["visitor"].post_json(f"/g/{slug}/images/{image_id}/comments",
                                           {"body": body})
    assert res.status_code == 200
    res = await photographer.post_json(
        f"/panel/comments/{world['contact_id']}/{image_id}/reply", {"body": reply})
    assert res.status_code == 200
    got = await read_until(control, lambda m: m.get("body") == reply)
    assert any(m.get("body") == body for m in got)

    for ws in intruders:
        received, code = await read(ws, 1.0)
        # Refused, or (no gate cookie of this gallery) an anonymous socket that hears only
        # banner changes: never a word of the conversation.
        assert received == [] and code in (None, 4401, 4403, 4404), (received, code)
        await ws.close()
    await control.close()
