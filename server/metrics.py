"""GET /metrics: Prometheus text for operators, behind a bearer token.

One `Metrics` per app, with its own CollectorRegistry: tests build several apps in one
process, and the global registry refuses a second metric of the same name.

Two kinds of figures:
- counted as they happen: requests by method, route template (never the raw path: the
  label values stay bounded) and status, and their duration (fed by server/request_log.py);
- read at scrape time, so nothing on a hot path keeps them up to date: live sockets by kind
  (the hub's registrations), pushes and replays (plain integers the hub and the socket
  loop increment), arq's queue length, and from the database the unfinished and failed
  background work and the age of the oldest unfinished job.

A source that does not answer within a short timeout is left out of that scrape and
`proofroom_scrape_source_up{source}` says so: a scrape never hangs on a dead dependency.
The database figures are the deployment's, not this process's: every web process reports
the same values (aggregate them with max(), not sum()).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from arq.constants import default_queue_name
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .health import PENDING
from .models import utcnow

log = logging.getLogger(__name__)

SOURCE_TIMEOUT = 3.0  # seconds for each of the database and Redis at scrape time
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SOCKET_KINDS = ("panel", "gallery")  # realtime/hub.py PANEL, GALLERY


@dataclass
class Work:
    """One kind of background work (image, email) as the database has it now."""

    pending: int = 0
    failed: int = 0
    oldest_pending: datetime | None = None


@dataclass
class Scrape:
    """What one scrape read; the collector turns it into metric families."""

    now: datetime
    sockets: dict[str, int] = field(default_factory=dict)
    pushes: dict[str, int] = field(default_factory=dict)
    replays: dict[str, int] = field(default_factory=dict)
    arq_queued: int | None = None  # None: Redis did not answer
    work: dict[str, Work] | None = None  # None: the database did not answer


async def work_summary(session: AsyncSession) -> dict[str, Work]:
    """Unfinished and failed rows of each kind, and the oldest unfinished: one grouped
    query per table (the state column is indexed)."""
    summary = {}
    for kind, (model, states, since) in PENDING.items():
        work = summary[kind] = Work()
        rows = await session.execute(
            select(model.state, func.count(), func.min(since))
            .where(model.state.in_((*states, "failed"))).group_by(model.state))
        for state, count, oldest in rows:
            if state == "failed":
                work.failed = count
                continue
            work.pending += count
            if work.oldest_pending is None or oldest < work.oldest_pending:
                work.oldest_pending = oldest
    return summary


def refusal(authorization: str | None, token: str) -> int | None:
    """None when the caller may scrape; else the status to answer: 404 with no token
    configured (the endpoint does not exist), 401 without a bearer token, 403 for a wrong
    one. Compared in constant time, as bytes (compare_digest refuses non-ASCII text)."""
    if not token:
        return 404
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return 401
    # Starlette decodes header bytes as latin-1: encoding back gives the bytes sent.
    if not hmac.compare_digest(given.strip().encode("latin-1"), token.encode("utf-8")):
        return 403
    return None


class _ScrapeCollector(Collector):
    """Yields the figures of the scrape in progress (set just before rendering)."""

    def __init__(self) -> None:
        self.scrape: Scrape | None = None

    def collect(self) -> Iterator[Metric]:
        scrape = self.scrape
        if scrape is None:
            return
        yield _by_kind(GaugeMetricFamily, "proofroom_live_sockets",
                       "Open live WebSockets of this process.", scrape.sockets)
        yield _by_kind(CounterMetricFamily, "proofroom_live_pushes",
                       "Live messages handed to sockets of this process.", scrape.pushes)
        yield _by_kind(CounterMetricFamily, "proofroom_live_replays",
                       "Replays from the database (a hello, or a catch-up after Redis "
                       "came back).", scrape.replays)
        up = GaugeMetricFamily("proofroom_scrape_source_up",
                               "1 when the source answered this scrape in time.",
                               labels=["source"])
        up.add_metric(["redis"], scrape.arq_queued is not None)
        up.add_metric(["database"], scrape.work is not None)
        yield up
        if scrape.arq_queued is not None:
            yield GaugeMetricFamily("proofroom_arq_queued_jobs",
                                    "Jobs waiting in the arq queue (ZCARD).",
                                    value=scrape.arq_queued)
        if scrape.work is not None:
            yield from _work_families(scrape.work, scrape.now)


def _by_kind(family, name: str, documentation: str, values: dict[str, int]) -> Metric:
    metric = family(name, documentation, labels=["kind"])
    for kind in SOCKET_KINDS:
        metric.add_metric([kind], values.get(kind, 0))
    return metric


def _work_families(work: dict[str, Work], now: datetime) -> Iterator[Metric]:
    pending = GaugeMetricFamily("proofroom_pending_jobs", "Unfinished background work in "
                                "the database (images processing, emails queued or "
                                "sending, scheduled actions not yet done).", labels=["kind"])
    late = GaugeMetricFamily("proofroom_oldest_pending_job_age_seconds", "Age of the "
                             "oldest unfinished job (0: none).", labels=["kind"])
    failed = GaugeMetricFamily("proofroom_failed_jobs", "Background work that ended "
                               "failed (images, emails, scheduled actions).", labels=["kind"])
    for kind, item in work.items():
        pending.add_metric([kind], item.pending)
        age = 0.0 if item.oldest_pending is None else (now - item.oldest_pending).total_seconds()
        late.add_metric([kind], max(age, 0.0))
        failed.add_metric([kind], item.failed)
    yield from (pending, late, failed)


class Metrics:
    """One app's metrics: its registry, the request figures, the /metrics endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter("proofroom_http_requests", "HTTP requests answered.",
                                 ["method", "route", "status"], registry=self.registry)
        self._duration = Histogram("proofroom_http_request_duration_seconds",
                                   "Time from the request's start to its last byte.",
                                   ["method", "route"], buckets=BUCKETS,
                                   registry=self.registry)
        # (method, route, status) -> its two children: labels() validates and locks each
        # call; the routes are a fixed set, so this stays small.
        self._children: dict[tuple[str, str, int], tuple] = {}
        self._scrape = _ScrapeCollector()
        self.registry.register(self._scrape)
        self.routes = [Route("/metrics", self.endpoint)]

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(method, route, str(status)),
                self._duration.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        services = request.state.services
        status = refusal(request.headers.get("authorization"), services.settings.metrics_token)
        if status == 404:
            raise HTTPException(404)  # the very page of any unknown address
        if status is not None:
            return Response(status_code=status, headers={"WWW-Authenticate": "Bearer"})
        scrape = await read_scrape(services, getattr(request.state, "hub", None))
        self._scrape.scrape = scrape  # no await from here to the text: one scrape at a time
        body = generate_latest(self.registry)
        self._scrape.scrape = None
        return Response(body, media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})


async def read_scrape(services, hub) -> Scrape:
    """Everything read at scrape time: the hub's counts, Redis and the database at once."""
    scrape = Scrape(now=utcnow())
    if hub is not None:
        scrape.sockets = {"panel": sum(map(len, hub.panels.values())),
                          "gallery": sum(map(len, hub.galleries.values()))}
        scrape.pushes = dict(getattr(hub, "pushed", {}))
        scrape.replays = dict(getattr(hub, "replayed", {}))
    scrape.arq_queued, scrape.work = await asyncio.gather(
        _within(services.redis.zcard(default_queue_name)),
        _within(_read_work(services.db)))
    return scrape


async def _read_work(db) -> dict[str, Work]:
    async with db.reader() as session:
        return await work_summary(session)


async def _within(awaitable):
    """Its result, or None when it fails or takes longer than SOURCE_TIMEOUT."""
    try:
        async with asyncio.timeout(SOURCE_TIMEOUT):
            return await awaitable
    except Exception as exc:
        log.warning("metrics: a source did not answer (%s)", type(exc).__name__,
                    exc_info=not isinstance(exc, TimeoutError | OSError | RedisError))
        return None
