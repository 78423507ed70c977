"""No script but our own ES modules: the templates carry no inline handler or inline script,
and every response (pages, JSON, redirects, static files, 404s, CSRF refusals, 500s) carries
a strict Content-Security-Policy, nosniff and a Referrer-Policy.

The scans read the sources; the header test walks the app's own route table against the real
server, so a route added tomorrow is covered without editing this file.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from conftest import create_gallery, jpeg_bytes, pass_gate, released_gallery, scalar, upload
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute

from server.security_headers import SecurityHeadersMiddleware

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "web" / "templates"
JS = ROOT / "web" / "static" / "js"

INLINE_HANDLER = re.compile(r"""(?i)(?:^|[\s"'/])on[a-z]+\s*=""")
SCRIPT = re.compile(r"(?is)<script\b([^>]*)>(.*?)</script\s*>")
SCRIPT_OPEN = re.compile(r"(?i)<script\b")
ATTR = re.compile(r"""(?i)\b([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def template_files() -> list[Path]:
    files = [p for p in TEMPLATES.rglob("*") if p.is_file()]
    assert len(files) > 10, "the template scan found no templates: wrong path?"
    return files


# ---- (a) the sources ------------------------------------------------------------------

def script_problems(path: Path, source: str) -> list[str]:
    problems = []
    if len(SCRIPT_OPEN.findall(source)) != len(SCRIPT.findall(source)):
        problems.append(f"{path}: a <script> without a matching </script>")
    for attrs, body in SCRIPT.findall(source):
        values = {m[0].lower(): m[1] or m[2] or m[3] for m in ATTR.findall(attrs)}
        if "src" in values:
            if body.strip():
                problems.append(f"{path}: <script src=…> with inline code")
            if not values["src"].startswith("/static/"):
                problems.append(f"{path}: script from outside /static/: {values['src']}")
        elif values.get("type", "").lower() != "application/json":
            problems.append(f"{path}: inline <script> with code: {body.strip()[:80]!r}")
        elif "tojson" not in body:
            problems.append(f"{path}: a JSON data island not rendered with |tojson")
    return problems


def test_templates_have_no_inline_handlers_inline_scripts_or_javascript_urls():
    problems = []
    for path in template_files():
        source = path.read_text()
        rel = path.relative_to(ROOT)
        for number, line in enumerate(source.splitlines(), 1):
            if INLINE_HANDLER.search(line):
                problems.append(f"{rel}:{number}: inline event handler: {line.strip()[:100]}")
            if "javascript:" in line.lower():
                problems.append(f"{rel}:{number}: javascript: URL: {line.strip()[:100]}")
        problems += script_problems(rel, source)
    assert not problems, "\n".join(problems)


def test_the_scan_itself_catches_what_it_looks_for():
    """The patterns above are the test: prove each one fires on the shapes issue #9 found."""
    assert INLINE_HANDLER.search("""<form onsubmit="return confirm('x')">""")
    assert INLINE_HANDLER.search("<select name=event onchange='this.form.submit()'>")
    assert INLINE_HANDLER.search('<button class="b"\n onClick = "window.print()">')
    assert not INLINE_HANDLER.search('<form data-confirm="Delete it?" class="inline">')
    assert not INLINE_HANDLER.search("Photos go on sale when the gallery opens.")
    p = Path("t.html")
    assert script_problems(p, "<script>alert(1)</script>")
    assert script_problems(p, '<script type="module">import "./x.js"</script>')
    assert script_problems(p, '<script src="/static/js/a.js">alert(1)</script>')
    assert script_problems(p, '<script src="https://cdn.example.com/a.js"></script>')
    assert script_problems(p, '<script type="application/json">{"a": "{{ a }}"}</script>')
    assert not script_problems(p, '<script type="module" src="/static/js/a.js"></script>')
    assert not script_problems(
        p, '<script type="application/json" id="d">{{ {"a": a}|tojson }}</script>')


HTML_SINKS = re.compile(r"\.(?:innerHTML|outerHTML)\s*\+?=|insertAdjacentHTML\s*\(|document\.write")
CODE_FROM_STRINGS = re.compile(
    r"\beval\s*\(|new\s+Function\s*\(|set(?:Timeout|Interval)\s*\(\s*['\"`]"
    r"|setAttribute\s*\(\s*['\"]on|\.on[a-z]+\s*=\s*['\"`]")


def test_static_js_builds_no_html_or_code_from_data():
    """Data reaches the DOM through textContent / dataset; an HTML sink may only take a
    constant string literal (no ${…}, no concatenation), and nothing compiles a string."""
    files = sorted(JS.glob("*.js"))
    assert len(files) >= 5
    problems = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}: {line.strip()[:110]}"
            if CODE_FROM_STRINGS.search(line):
                problems.append("code from a string: " + where)
            sink = HTML_SINKS.search(line)
            if sink:
                rest = line[sink.end():].strip().rstrip(";").strip()
                constant = re.fullmatch(r"'[^'\\]*'|\"[^\"\\]*\"|`[^`$\\]*`", rest)
                if not constant:
                    problems.append("HTML built from data: " + where)
    assert not problems, "\n".join(problems)


# ---- (b) the headers on every response ------------------------------------------------

def parse_csp(value: str) -> dict[str, list[str]]:
    policy = {}
    for directive in value.split(";"):
        parts = directive.split()
        if parts:
            assert parts[0] not in policy, f"directive {parts[0]} twice in {value!r}"
            policy[parts[0]] = parts[1:]
    return policy


#: Pages our own pages frame (the banner editor's preview of a real gallery, for its
#: owner): framable by the same origin, by no one else.
FRAMABLE = {"/panel/events/{event_id:int}/banner-preview"}


def assert_secure(res: httpx.Response, host: str | None = None,
                  framable: bool = False) -> dict[str, list[str]]:
    what = f"{res.request.method} {res.request.url.raw_path.decode()} -> {res.status_code}"
    csp = res.headers.get("content-security-policy")
    assert csp, f"no Content-Security-Policy on {what}"
    assert res.headers.get_list("content-security-policy") == [csp], f"two policies on {what}"
    policy = parse_csp(csp)
    assert policy.get("script-src") == ["'self'"], f"script-src on {what}: {csp}"
    assert "'unsafe-inline'" not in policy.get("default-src", []), what
    assert policy.get("default-src") == ["'self'"], what
    assert policy.get("object-src") == ["'none'"], what
    assert policy.get("base-uri") == ["'none'"], what
    assert policy.get("form-action") == ["'self'"], what
    if framable and res.status_code == 200:
        assert policy.get("frame-ancestors") == ["'self'"], what
        assert res.headers.get("x-frame-options") == "SAMEORIGIN", what
    else:
        assert policy.get("frame-ancestors") == ["'none'"], what
    assert set(policy.get("img-src", [])) == {"'self'", "data:", "blob:"}, what
    assert "'self'" in policy.get("connect-src", []), what
    if host:
        assert f"ws://{host}" in policy["connect-src"], f"no ws:// source on {what}: {csp}"
        assert f"wss://{host}" in policy["connect-src"], what
    assert res.headers.get("x-content-type-options") == "nosniff", what
    assert res.headers.get("referrer-policy") in ("same-origin",
                                                  "strict-origin-when-cross-origin"), what
    return policy


def get_routes() -> list[tuple[str, Route]]:
    """Every GET route of the real app, read from create_app()'s route table (the lifespan
    does not run: no database or Redis is touched)."""
    from server.app import create_app  # here, so the source scans run whatever app.py imports
    from server.config import Settings

    app = create_app(Settings())
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            if "GET" in (route.methods or {"GET"}):
                found.append((route.path, route))
        else:
            assert isinstance(route, Mount | WebSocketRoute), route
    assert len(found) > 20, found
    return found


def fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name, _, convertor = match.group(1).partition(":")
        if name in ids:
            return ids[name]
        return "987654" if convertor == "int" else "no-such-thing"
    return re.sub(r"\{([^}]+)\}", value, path)


async def test_every_response_carries_the_policy(server, photographer, new_client, db):
    event_id, slug, images = await released_gallery(photographer, 2)
    visitor = new_client()
    await pass_gate(visitor, slug, email="headers.check@example.com")
    res = await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/favorite", {"on": True})
    assert res.status_code == 200, res.text
    contact_id = await scalar(db, "SELECT id FROM contacts WHERE email=:e AND photographer_id=:p",
                              e="headers.check@example.com", p=photographer.photographer_id)
    ids = {"event_id": str(event_id), "contact_id": str(contact_id),
           "image_id": str(images[0]["id"]), "slug": slug, "variant": "thumb",
           "token": "not-a-token"}
    host = server.base_url.split("://", 1)[1]
    anonymous = new_client()
    statuses: dict[int, int] = {}
    routes = get_routes()
    for template, _route in routes:
        for who in (anonymous, photographer, visitor):
            for path in (fill(template, ids), fill(template, {})):  # real ids, then dummy ones
                res = await who.get(path)
                assert res.status_code < 500, f"{path}: {res.status_code} {res.text[:300]}"
                statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
                assert_secure(res, host, framable=template in FRAMABLE)
    # The walk really met pages, redirects and refusals, not one kind of answer.
    assert statuses.get(200, 0) > 20 and statuses.get(404, 0) > 5, statuses
    assert any(code in statuses for code in (302, 303, 307)), statuses

    # A streamed body (the bulk ZIP) keeps streaming and gets the headers too.
    res = await visitor.get(f"/g/{slug}/download.zip")
    assert res.status_code == 200 and res.content[:2] == b"PK", res.status_code
    assert_secure(res, host)

    # A form post with a bad CSRF token is refused, with the headers.
    res = await photographer.http.post("/panel/events/new",
                                       data={"title": "x", "csrf_token": "forged"})
    assert res.status_code in (400, 403), res.status_code
    assert_secure(res, host)
    res = await anonymous.http.post(f"/g/{slug}/gate", json={"email": "a@example.com"},
                                    headers={"Accept": "application/json"})
    assert res.status_code in (400, 403), res.status_code
    assert_secure(res, host)

    # Static files, an unknown path, a HEAD, a method the route does not allow.
    for res in (await anonymous.get("/static/js/common.js"),
                await anonymous.get("/static/css/app.css"),
                await anonymous.get("/static/favicon.svg"),
                await anonymous.get("/static/nope.js"),
                await anonymous.get("/no/such/page"),
                await anonymous.http.head("/login"),
                await anonymous.http.request("DELETE", "/login")):
        assert_secure(res, host)

    # Pages the panel and the gallery render: framing refused, ws of our own host allowed.
    for res in (await anonymous.get("/login"), await anonymous.get("/signup"),
                await photographer.get("/panel"), await visitor.get(f"/g/{slug}")):
        assert res.status_code == 200
        policy = assert_secure(res, host)
        assert policy["frame-ancestors"] == ["'none'"]
        assert res.headers.get("x-frame-options") == "DENY"


async def test_a_hostile_host_header_cannot_add_a_directive(server, new_client):
    client = new_client()
    port = server.base_url.rsplit(":", 1)[1]
    for host in ("evil.example; script-src *", "evil.example 'unsafe-inline'",
                 "evil.example,script-src"):
        res = await client.get("/login", headers={"Host": host})
        policy = assert_secure(res, f"127.0.0.1:{port}")  # the configured base_url's host
        assert not any("evil" in s for sources in policy.values() for s in sources), policy
    res = await client.get("/login", headers={"Host": f"localhost:{port}"})
    assert f"ws://localhost:{port}" in assert_secure(res)["connect-src"]


async def test_an_unhandled_error_still_carries_the_headers():
    """Starlette's ServerErrorMiddleware (outermost, outside every user middleware) would send
    its bare 500 without them; the middleware answers the 500 itself and re-raises."""
    async def boom(request):
        raise RuntimeError("boom")

    async def stream(request):
        async def chunks():
            yield b"one,"
            yield b"two"
        return StreamingResponse(chunks(), media_type="text/plain")

    async def existing(request):
        return PlainTextResponse("x", headers={"Referrer-Policy": "no-referrer"})

    app = Starlette(routes=[Route("/boom", boom), Route("/stream", stream),
                            Route("/existing", existing)],
                    middleware=[Middleware(SecurityHeadersMiddleware,
                                           base_url="https://galleries.example.com")])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        res = await client.get("/boom")
        assert res.status_code == 500 and res.text == "Internal Server Error"
        assert_secure(res, "galleries.example.com")
        res = await client.get("/stream")
        assert res.text == "one,two"
        assert_secure(res, "testserver")
        res = await client.get("/existing")  # a header the app chose is kept, not doubled
        assert res.headers.get_list("referrer-policy") == ["no-referrer"]
    with pytest.raises(RuntimeError):  # and the error still reaches the server's log
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/boom")


async def test_uploaded_file_names_and_type_names_stay_data_in_the_panel(photographer):
    """The server side of issue #9: what a photographer or a client typed lands in a data-*
    attribute, HTML-escaped, and never in an on*= attribute."""
    hostile = "x'+alert(`img`)+'<b>.jpg"  # (a multipart filename cannot carry a raw ")
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [(hostile, jpeg_bytes())])
    assert res.status_code == 200, res.text
    page = (await photographer.get(f"/panel/events/{event_id}")).text
    confirms = re.findall(r'data-confirm="[^"]*"', page)
    assert 'data-confirm="Delete x&#39;+alert(`img`)+&#39;&lt;b&gt;.jpg?"' in confirms, \
        confirms
    assert not INLINE_HANDLER.search(page)
