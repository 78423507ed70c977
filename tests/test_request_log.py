"""One logfmt line per request on "proofroom.requests" (server/request_log.py): request id
(a sane incoming X-Request-ID, else ours, echoed back), method, route template, status,
photographer and duration; one line per WebSocket at its close.

Units drive the middleware around a small Starlette app; the integration tests read the
real server's log."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import uuid

import httpx
import pytest
from conftest import released_gallery
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from test_cpu_off_loop import Lifespan
from test_realtime import open_panel_socket

from server.request_log import RequestLog
from server.request_log import log as request_log

LINE = re.compile(r"^request_id=([A-Za-z0-9-]+) method=(\S+) route=(\S+) status=(\d+) "
                  r"photographer=(\S+) duration_ms=(\d+\.\d)$")
JUNK_IDS = ["has space", "semi;colon", "x" * 65, "<script>", "é", "a\tb", "", "id=1 status=200"]


async def tenant_page(request: Request) -> PlainTextResponse:
    request.state.photographer_id = 42  # what routes/common.py's session lookup sets
    return PlainTextResponse(request.path_params["slug"])


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("a bug")


async def panel_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    websocket.state.photographer_id = 7
    await websocket.receive_text()
    await websocket.close(code=4408)


def make_app(observed: list) -> Starlette:
    routes = [Route("/g/{slug}", tenant_page), Route("/boom", boom),
              WebSocketRoute("/ws/panel", panel_socket),
              Mount("/static", PlainTextResponse("static"))]
    return Starlette(routes=routes, middleware=[
        Middleware(RequestLog, observe=lambda *args: observed.append(args))])


@pytest.fixture
def observed() -> list:
    return []


@pytest.fixture
async def client(observed):
    transport = httpx.ASGITransport(app=make_app(observed), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def lines(caplog) -> list[re.Match]:
    found = [LINE.match(r.getMessage()) for r in caplog.records
             if r.name == "proofroom.requests"]
    assert all(found), [r.getMessage() for r in caplog.records]
    return found


async def test_a_line_names_the_route_template_status_and_photographer(client, observed,
                                                                      caplog):
    caplog.set_level(logging.INFO, logger="proofroom.requests")
    res = await client.get("/g/secret-slug-123", headers={"X-Request-ID": "lb-7f3a-01"})
    assert res.status_code == 200 and res.headers["x-request-id"] == "lb-7f3a-01"
    (line,) = lines(caplog)
    assert line.groups()[:5] == ("lb-7f3a-01", "GET", "/g/{slug}", "200", "42")
    assert "secret-slug" not in caplog.text  # the template, never the raw path
    assert observed[0][:3] == ("GET", "/g/{slug}", 200) and observed[0][3] >= 0


async def test_unmatched_failing_and_odd_requests_are_logged_too(client, observed, caplog):
    caplog.set_level(logging.INFO, logger="proofroom.requests")
    assert (await client.get("/nowhere/at/all")).status_code == 404
    assert (await client.get("/boom")).status_code == 500
    assert (await client.request("BREW", "/g/pot")).status_code == 405
    assert (await client.get("/static/css/app.css")).status_code == 200
    got = [(m.group(2), m.group(3), m.group(4), m.group(5)) for m in lines(caplog)]
    assert got == [("GET", "-", "404", "-"), ("GET", "/boom", "500", "-"),
                   ("OTHER", "/g/{slug}", "405", "-"), ("GET", "/static/{path}", "200", "-")]
    assert [o[:3] for o in observed] == [("GET", "-", 404), ("GET", "/boom", 500),
                                        ("OTHER", "/g/{slug}", 405),
                                        ("GET", "/static/{path}", 200)]


@pytest.mark.parametrize("junk", JUNK_IDS)
async def test_a_junk_request_id_is_replaced(client, caplog, junk):
    caplog.set_level(logging.INFO, logger="proofroom.requests")
    res = await client.get("/g/x", headers={"X-Request-ID": junk.encode("utf-8")})
    echoed = res.headers["x-request-id"]
    assert echoed != junk and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", echoed)
    (line,) = lines(caplog)
    assert line.group(1) == echoed


async def test_our_request_ids_differ(client):
    ids = {(await client.get("/g/x")).headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


async def test_a_websocket_is_one_line_at_its_close(observed, caplog):
    caplog.set_level(logging.INFO, logger="proofroom.requests")
    incoming: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        assert not caplog.records  # nothing while it is open

    for message in ({"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}):
        incoming.put_nowait(message)
    scope = {"type": "websocket", "path": "/ws/panel", "raw_path": b"/ws/panel",
             "query_string": b"", "headers": [(b"x-request-id", b"ws-1")], "scheme": "ws",
             "server": ("t", 80), "client": ("127.0.0.1", 5), "root_path": "",
             "subprotocols": [], "state": {}, "asgi": {"version": "3.0"}}
    await make_app(observed)(scope, incoming.get, send)
    assert (b"x-request-id", b"ws-1") in sent[0]["headers"]  # echoed in the handshake
    (record,) = [r for r in caplog.records if r.name == "proofroom.requests"]
    assert re.fullmatch(r"request_id=ws-1 kind=panel route=/ws/panel close=4408 "
                        r"photographer=7 duration_ms=\d+\.\d", record.getMessage())
    assert observed == []  # sockets are counted by the hub, not as requests


class HeldConsole(logging.Handler):
    """A console that writes nothing until `opened`, then slowly: which thread wrote each
    line, and the line."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = threading.Event()
        self.written: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.opened.wait(2)
        time.sleep(0.02)
        self.written.append((threading.get_ident(), record.getMessage()))


async def test_lines_are_written_off_the_loop_and_all_out_when_shutdown_completes(observed):
    """While the app runs, a request only queues its line: the requests are answered while
    the console writes nothing, and the lines are written on another thread. Shutdown
    writes out what is still queued (0.2 s of it here) before it completes."""
    console, root, level = HeldConsole(), logging.getLogger(), request_log.level
    root.addHandler(console)
    request_log.setLevel(logging.INFO)
    try:
        async with Lifespan(make_app(observed)) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                for n in range(10):
                    res = await http.get(f"/g/x{n}", headers={"X-Request-ID": f"q-{n}"})
                    assert res.status_code == 200
            assert console.written == []  # all ten answered; not one line written yet
            console.opened.set()
        written = list(console.written)  # right after shutdown completed
        assert request_log.propagate and not request_log.handlers  # direct writes again
    finally:
        console.opened.set()
        root.removeHandler(console)
        request_log.setLevel(level)
    assert [LINE.match(line).groups()[:5] for _, line in written] == [
        (f"q-{n}", "GET", "/g/{slug}", "200", "42") for n in range(10)]
    assert threading.get_ident() not in {thread for thread, _ in written}


# --- the real server ----------------------------------------------------------------------

async def logged(server, request_id: str, timeout: float = 10) -> str:
    """The line of `request_id` in the server's log, once it is there."""
    log = server.var_dir / "server.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if f"request_id={request_id} " in line:
                return line.split("proofroom.requests ", 1)[1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no log line for {request_id}")


async def test_the_server_logs_route_status_and_photographer(server, photographer, new_client):
    _, slug, images = await released_gallery(photographer, 1)
    rid = f"t-{uuid.uuid4().hex[:12]}"
    res = await photographer.get("/panel", headers={"X-Request-ID": rid})
    assert res.status_code == 200 and res.headers["x-request-id"] == rid
    line = await logged(server, rid)
    assert re.fullmatch(rf"request_id={rid} method=GET route=/panel status=200 "
                        rf"photographer={photographer.photographer_id} duration_ms=\d+\.\d",
                        line), line

    visitor = new_client()
    rid = f"t-{uuid.uuid4().hex[:12]}"
    res = await visitor.get(f"/g/{slug}", headers={"X-Request-ID": rid})
    assert res.status_code == 200
    assert " method=GET route=/g/{slug} status=200 " in await logged(server, rid)
    assert slug not in await logged(server, rid)

    res = await visitor.get("/panel/events/1", headers={"X-Request-ID": "bad id!"})
    forged = res.headers["x-request-id"]
    assert forged != "bad id!" and re.fullmatch(r"[A-Za-z0-9-]+", forged)
    line = await logged(server, forged)
    assert " route=/panel/events/{event_id:int} status=303 photographer=- " in line
    assert "bad id" not in (server.var_dir / "server.log").read_text(errors="replace")


async def test_the_server_logs_a_panel_socket_at_its_close(server, photographer):
    ws = await open_panel_socket(photographer, server.base_url)
    await asyncio.sleep(0.2)
    await ws.close()
    log = server.var_dir / "server.log"
    pattern = re.compile(rf"kind=panel route=/ws/panel close=\S+ "
                         rf"photographer={photographer.photographer_id} duration_ms=\d+\.\d")
    deadline = time.monotonic() + 10
    while not pattern.search(log.read_text(errors="replace")):
        assert time.monotonic() < deadline, "no line for the panel socket"
        await asyncio.sleep(0.05)
