"""GET /metrics (server/metrics.py): Prometheus text behind PROOFROOM_METRICS_TOKEN, with
requests by route template and status, live sockets by kind, pushes and replays, arq's
queue length, and unfinished / failed background work from the database."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from conftest import (
    BACKENDS,
    RELAXED_LIMITS,
    Client,
    create_gallery,
    jpeg_bytes,
    open_gallery_socket,
    pass_gate,
    released_gallery,
    scalar,
    serve_backend,
    sign_up,
    sign_up_on,
    upload,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from test_realtime import open_panel_socket, toggle

from server.metrics import Metrics, refusal

TOKEN = "metrics-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def parse(body: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(figures: dict, name: str, **labels: str) -> float | None:
    return figures.get((name, frozenset(labels.items())))


async def scrape(base_url: str) -> dict:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        res = await http.get("/metrics", headers=AUTH)
    assert res.status_code == 200, res.text
    return parse(res.text)


async def wait_figure(base_url: str, until, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        figures = await scrape(base_url)
        if until(figures):
            return figures
        if time.monotonic() > deadline:
            raise AssertionError("the figures never got there")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module", params=BACKENDS)
def metered(request, tmp_path_factory):
    """A server (with its worker) that has a metrics token."""
    yield from serve_backend(request.param, tmp_path_factory.mktemp("metered"),
                             limits={**RELAXED_LIMITS, "PROOFROOM_METRICS_TOKEN": TOKEN})


@pytest.fixture
async def studio(metered):
    client = Client(metered.base_url)
    engine = metered.engine()
    await sign_up(client, engine)
    yield client, engine
    await client.aclose()
    await engine.dispose()


# --- units --------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "token", "expected"), [
    (f"Bearer {TOKEN}", "", 404),  # no token configured: no endpoint
    (None, TOKEN, 401),
    ("", TOKEN, 401),
    ("Bearer", TOKEN, 401),
    (f"Basic {TOKEN}", TOKEN, 401),
    ("Bearer wrong", TOKEN, 403),
    (f"Bearer {TOKEN}x", TOKEN, 403),
    (f"Bearer {TOKEN[:-1]}", TOKEN, 403),
    ("Bearer \xe9\xff\u00e0", TOKEN, 403),  # non-ASCII: refused, never a TypeError
    (f"Bearer {TOKEN}", TOKEN, None),
    (f"bearer  {TOKEN} ", TOKEN, None),
])
def test_the_token_decides(header, token, expected):
    assert refusal(header, token) == expected


def test_each_app_has_its_own_registry():
    first, second = Metrics(), Metrics()  # the global registry would refuse the second
    first.observe_request("GET", "/g/{slug}", 200, 0.003)
    assert value(parse(generate_latest(first.registry).decode()), "proofroom_http_requests_total",
                 method="GET", route="/g/{slug}", status="200") == 1
    assert "proofroom_http_requests_total{" not in generate_latest(second.registry).decode()


# --- the real server ----------------------------------------------------------------------

async def test_no_token_no_endpoint_and_a_wrong_one_is_refused(server, metered):
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.base_url + "/metrics", headers=AUTH)).status_code == 404
        res = await http.get(metered.base_url + "/metrics")
        assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
        res = await http.get(metered.base_url + "/metrics",
                             headers={"Authorization": "Bearer " + TOKEN[::-1]})
        assert res.status_code == 403 and "proofroom" not in res.text
        res = await http.get(metered.base_url + "/metrics", headers=AUTH)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")


async def test_requests_are_counted_by_route_template_and_status(metered):
    slug = f"no-such-gallery-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=metered.base_url) as http:
        before = await scrape(metered.base_url)
        for _ in range(3):
            assert (await http.get(f"/g/{slug}")).status_code == 404
        assert (await http.get("/login")).status_code == 200
        res = await http.get("/metrics", headers=AUTH)
    figures = parse(res.text)
    assert slug not in res.text
    key = {"method": "GET", "route": "/g/{slug}", "status": "404"}
    old = value(before, "proofroom_http_requests_total", **key) or 0
    assert value(figures, "proofroom_http_requests_total", **key) == old + 3
    assert value(figures, "proofroom_http_requests_total", method="GET", route="/login",
                 status="200") >= 1
    assert value(figures, "proofroom_http_request_duration_seconds_count", method="GET",
                 route="/g/{slug}") >= 3


def live(figures: dict, name: str, kind: str) -> float:
    return value(figures, name, kind=kind)


async def test_live_sockets_pushes_and_replays(metered, studio):
    photographer, _ = studio
    _, slug, images = await released_gallery(photographer, 1)
    base = await scrape(metered.base_url)
    panel = await open_panel_socket(photographer, metered.base_url)
    figures = await wait_figure(metered.base_url, lambda f: (
        live(f, "proofroom_live_sockets", "panel") == live(base, "proofroom_live_sockets",
                                                           "panel") + 1
        and live(f, "proofroom_live_replays_total", "panel")
        > live(base, "proofroom_live_replays_total", "panel")))

    visitor = Client(metered.base_url)
    await pass_gate(visitor, slug)
    galleries = [await open_gallery_socket(visitor, slug) for _ in range(2)]
    await toggle(visitor, slug, images[0]["id"], True)
    res = await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/comments", {"body": "Hi"})
    assert res.status_code == 200, res.text
    figures = await wait_figure(metered.base_url, lambda f: (
        live(f, "proofroom_live_sockets", "gallery") == live(base, "proofroom_live_sockets",
                                                             "gallery") + 2
        and live(f, "proofroom_live_sockets", "panel") == live(base, "proofroom_live_sockets",
                                                               "panel") + 1
        and live(f, "proofroom_live_pushes_total", "panel")
        >= live(figures, "proofroom_live_pushes_total", "panel") + 3  # gate, favorite, comment
        and live(f, "proofroom_live_pushes_total", "gallery")
        >= live(base, "proofroom_live_pushes_total", "gallery") + 2))  # the comment, twice

    await panel.close()
    for gallery in galleries:
        await gallery.close()
    await visitor.aclose()
    await wait_figure(metered.base_url, lambda f: all(
        live(f, "proofroom_live_sockets", kind) == live(base, "proofroom_live_sockets", kind)
        for kind in ("panel", "gallery")))


async def test_failed_work_is_counted_from_the_database(metered, studio):
    photographer, engine = studio
    event_id = await create_gallery(photographer)
    async with engine.begin() as conn:  # terminal rows: no worker will touch them again
        await conn.execute(text(
            "INSERT INTO images (photographer_id, event_id, filename, storage_key, position, "
            "width, height, bytes, state, error, created_at, attempts) VALUES (:p, :e, 'x.jpg', "
            ":k, 0, 0, 0, 0, 'failed', 'broken', CURRENT_TIMESTAMP, 5)"),
            {"p": photographer.photographer_id, "e": event_id, "k": uuid.uuid4().hex})
        await conn.execute(text(
            "INSERT INTO outbound_emails (photographer_id, kind, recipient, subject, body_text, "
            "body_html, state, attempts, created_at) VALUES (:p, 'test', 'a@example.com', 's', "
            "'b', '', 'failed', 5, CURRENT_TIMESTAMP)"), {"p": photographer.photographer_id})
    figures = await scrape(metered.base_url)
    for kind, table in (("image", "images"), ("email", "outbound_emails")):
        count = await scalar(engine, f"SELECT count(*) FROM {table} WHERE state='failed'")
        assert count >= 1 and value(figures, "proofroom_failed_jobs", kind=kind) == count
    assert value(figures, "proofroom_scrape_source_up", source="database") == 1


async def test_queue_depth_and_lateness_and_a_dead_redis(server, new_client, own_redis_server):
    """No worker: uploads wait in arq's queue and in the database, and age."""
    srv, own = own_redis_server(server.backend, worker=False,
                                env={"PROOFROOM_METRICS_TOKEN": TOKEN})
    photographer = await sign_up_on(srv, new_client())
    event_id = await create_gallery(photographer)
    res = await upload(photographer, event_id, [("a.jpg", jpeg_bytes()),
                                                 ("b.jpg", jpeg_bytes())])
    assert res.status_code == 200
    await asyncio.sleep(0.3)
    figures = await scrape(srv.base_url)
    assert value(figures, "proofroom_arq_queued_jobs") == 2
    assert value(figures, "proofroom_pending_jobs", kind="image") == 2
    assert value(figures, "proofroom_pending_jobs", kind="email") == 0
    assert value(figures, "proofroom_oldest_pending_job_age_seconds", kind="image") >= 0.3
    assert value(figures, "proofroom_oldest_pending_job_age_seconds", kind="email") == 0

    own.kill()
    started = time.monotonic()
    figures = await scrape(srv.base_url)
    assert time.monotonic() - started < 5
    assert value(figures, "proofroom_scrape_source_up", source="redis") == 0
    assert value(figures, "proofroom_arq_queued_jobs") is None
    assert value(figures, "proofroom_pending_jobs", kind="image") == 2
