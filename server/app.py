"""The composition root: builds the services, wires the outbox to Redis and arq, mounts routes.

The only module of server/ that imports realtime/ and jobs/.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from jobs.worker import FUNCTIONS, Stopping, cron_jobs
from jobs.worker import reconcile as reconcile_job
from realtime.bus import RedisBus
from realtime.gallery_socket import gallery_socket
from realtime.hub import Hub
from realtime.panel_socket import panel_socket

from . import brand
from .body_limit import BodyLimit
from .config import Settings
from .db import Database
from .embedded_redis import EmbeddedRedis
from .errors import DomainError
from .health import routes as health_routes
from .loop_probe import start_if_enabled as start_loop_probe
from .media import MediaStore
from .metrics import Metrics
from .outbox import Dispatcher, Job
from .public import GalleryCache
from .request_log import RequestLog
from .routes import (
    account_settings,
    accounts,
    brand_settings,
    demo_simulate,
    gallery,
    image_sets,
    inbox,
    panel,
    photo_order,
    store_gallery,
    store_orders,
    store_panel,
    workflows_gallery,
    workflows_panel,
)
from .routes import activity as activity_routes
from .routes.common import render
from .security_headers import SecurityHeadersMiddleware
from .smtp import SmtpPool
from .store.payments import DEFAULT as payments_default
from .store.payments import PaymentProvider
from .templating import WEB_DIR, make_templates

log = logging.getLogger("proofroom")


@dataclass
class Services:
    settings: Settings
    db: Database
    media: MediaStore
    redis: ArqRedis
    bus: RedisBus
    templates: Jinja2Templates
    gallery_cache: GalleryCache | None = None
    hub: Hub | None = None
    embedded_redis: EmbeddedRedis | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)
    worker: Worker | None = None
    #: The store's payment seam (server/store/payments.py): offline unless configured.
    payments: PaymentProvider = payments_default

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self.worker is not None:
            # close() stops the loop (its handle_sig cancels the running jobs, which hand
            # back their leases: jobs/worker.py) and waits for them. Cancel them once: a
            # second handle_sig before the jobs ran makes arq stop waiting for them, and
            # the process would end in the middle of their hand-back.
            try:
                await asyncio.wait_for(self.worker.close(), 10)
            except asyncio.CancelledError:
                # arq's close() gathers the jobs it cancelled, and one cancelled before it
                # began re-raises its cancel here. Ours to swallow unless we are cancelled.
                if asyncio.current_task().cancelling():
                    raise
            except Exception:
                log.exception("the in-process worker did not stop cleanly")
        await self.bus.stop()  # what is still queued for other processes goes out first
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        await self.db.dispose()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()


async def build_services(settings: Settings, redis_pool: ArqRedis | None = None) -> Services:
    embedded = None
    redis_url = settings.redis_url
    if redis_pool is None and not redis_url:
        embedded = EmbeddedRedis(settings.var_dir)
        redis_url = await asyncio.to_thread(embedded.start)
    if redis_pool is None:
        redis_pool = await create_pool(RedisSettings.from_dsn(redis_url))
    bus = RedisBus(redis_pool, settings.channel_namespace)
    bus.start()

    async def enqueue(job: Job) -> bool:  # False: that job id is already there (reconcile)
        return await redis_pool.enqueue_job(job.name, *job.args, _job_id=job.job_id,
                                            _defer_until=job.defer_until) is not None

    db = Database(settings.database_url, Dispatcher(publish=bus.publish, enqueue=enqueue))
    settings.media_root.mkdir(parents=True, exist_ok=True)
    return Services(settings=settings, db=db, media=MediaStore(settings.media_root),
                    redis=redis_pool, bus=bus, templates=make_templates(),
                    gallery_cache=GalleryCache(db), embedded_redis=embedded)


#: The heartbeat /healthz reads: every arq worker writes arq's health-check key this often.
HEALTH_CHECK_INTERVAL = 10


def job_lease() -> timedelta:
    """How long a job's claim holds its row (server/reconcile.py); a job is cancelled after
    two thirds of it. PROOFROOM_JOB_LEASE_SECONDS changes it (the crash tests shorten it)."""
    return timedelta(seconds=float(os.environ.get("PROOFROOM_JOB_LEASE_SECONDS", "180")))


def make_worker(services: Services, max_jobs: int) -> Worker:
    lease = job_lease()
    stopping = Stopping()
    worker = Worker(
        functions=FUNCTIONS,
        cron_jobs=cron_jobs(),
        redis_pool=services.redis,
        handle_signals=False,
        on_startup=_reconcile_at_start,
        on_shutdown=_close_smtp,
        ctx={"db": services.db, "media": services.media, "settings": services.settings,
             # Open SMTP connections kept between sends (server/smtp.py).
             "smtp": SmtpPool(services.settings.smtp_url) if services.settings.smtp_url
             else None,
             "lease": lease, "stopping": stopping},
        max_jobs=max_jobs,
        poll_delay=0.1,
        keep_result=60,  # the database, not arq's result, says what is done
        job_timeout=lease.total_seconds() * 2 / 3,
        health_check_interval=HEALTH_CHECK_INTERVAL,
    )
    # arq calls it from handle_sig (Worker.close, at Services.close): the jobs that stop
    # cancels hand back their leases (jobs/worker.py).
    worker.on_stop = stopping
    return worker


async def _close_smtp(ctx: dict) -> None:
    if ctx.get("smtp") is not None:
        await ctx["smtp"].close()


async def _reconcile_at_start(ctx: dict) -> None:
    """Before the worker takes jobs: restore what Redis lost while no worker ran."""
    await reconcile_job({**ctx, "job_id": "startup"})


async def supervise_worker(services: Services, max_jobs: int) -> None:
    """Run an arq worker for as long as the process lives. arq's loop ends with an error
    when Redis goes away: log it, wait until Redis answers, start a fresh worker on the
    same pool. What ran meanwhile is not lost: reconcile re-enqueues it from the database."""
    backoff = 0.5
    while True:
        worker = services.worker = make_worker(services, max_jobs)
        started = time.monotonic()
        # main_task: arq's handle_sig (at shutdown) cancels it, which ends this loop too.
        worker.main_task = task = asyncio.ensure_future(worker.main())
        try:
            await task
            log.warning("arq worker stopped; starting a new one")
        except Exception as exc:  # CancelledError is a shutdown, and passes through
            log.warning("arq worker stopped (%s: %s); restarting it when Redis answers",
                        type(exc).__name__, exc)
        if time.monotonic() - started > 60:
            backoff = 0.5  # it ran for a while: a new outage starts from a short wait
        await wait_for_redis(services.redis, backoff)
        backoff = min(backoff * 2, 30)


async def wait_for_redis(redis: ArqRedis, delay: float) -> None:
    while True:
        await asyncio.sleep(delay)
        try:
            await redis.ping()
        except (RedisError, OSError):
            delay = min(delay * 2, 30)
            continue
        log.info("Redis answers; starting the arq worker")
        return


def start_inprocess_worker(services: Services) -> None:
    services.tasks.append(asyncio.create_task(supervise_worker(services, max_jobs=4),
                                              name="arq-worker"))


def run_standalone_worker() -> None:
    """`proofroom worker`: the Procfile's worker, configured by REDIS_URL like the web. It
    exits (status 1, one line) only when Redis cannot be reached at start; later outages
    are ridden out by the supervisor."""
    asyncio.run(_standalone_worker(Settings.from_env()))


async def _standalone_worker(settings: Settings) -> None:
    if not settings.redis_url:
        raise SystemExit("proofroom worker: REDIS_URL is not set; the worker needs the "
                         "Redis the web processes use.")
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    try:  # arq tries conn_retries (5) times, a second apart
        pool = await create_pool(redis_settings)
    except (TimeoutError, RedisError, OSError) as exc:
        raise SystemExit(f"proofroom worker: cannot reach Redis at {redis_settings.host}:"
                         f"{redis_settings.port} ({exc}); exiting.") from None
    services = await build_services(settings, redis_pool=pool)
    supervisor = asyncio.create_task(supervise_worker(services, max_jobs=10))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, supervisor.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
    finally:
        await services.close()


async def domain_error(request: Request, exc: DomainError) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": exc.message, "field": exc.field},
                            status_code=exc.status_code)
    return await _error_page(request, exc.message, exc.status_code,
                             getattr(exc, "studio_id", None))


async def http_error(request: Request, exc: HTTPException) -> Response:
    message = "Page not found." if exc.status_code == 404 else (exc.detail or "Error")
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=exc.status_code)
    return await _error_page(request, message, exc.status_code)


#: A wrong link under /g/ is a client's mistyped or cut-off gallery address, not the panel's.
WRONG_GALLERY_LINK = "This link does not lead to a gallery. Check that you copied all of it."


async def _error_page(request: Request, message: str, status: int,
                      studio_id: int | None = None) -> Response:
    """The error page; in the studio's brand when the error says whose gallery it was
    (server/public.py: an expired or unpublished gallery)."""
    studio = None
    if studio_id is not None:
        async with request.state.services.db.reader() as session:
            studio = await brand.load_brand(session, studio_id)
    gallery = request.url.path.startswith("/g/")
    if gallery and status == 404 and studio is None and message == "Page not found.":
        message = WRONG_GALLERY_LINK
    return render(request, "error.html", {"message": message, "status": status,
                                          "studio": studio, "for_client": gallery},
                  status_code=status)


async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
    """The browser hung up mid-request: nobody is left to answer, and it is no error of
    ours (nothing was written: the body was still being read)."""
    return Response(status_code=400)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept or request.headers.get("content-type", "").startswith(
        "application/json"
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    metrics = Metrics()  # its own registry: tests build several apps in one process

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict]:
        services = await build_services(settings)
        if settings.run_worker:
            start_inprocess_worker(services)
        services.hub = Hub(services.redis, settings.channel_namespace,
                           origin=services.bus.origin, db=services.db)  # db: heartbeat
        services.bus.local = services.hub.dispatch
        await services.hub.start()
        if (probe := start_loop_probe()) is not None:  # PROOFROOM_LOOP_PROBE=1 (benches)
            services.tasks.append(probe)
        gc.collect()
        gc.freeze()  # what startup built lives as long as the process: no collection walks it
        try:
            yield {"services": services, "hub": services.hub}
        finally:
            await services.close()

    # Starlette tries routes in order: the clients' hot paths (every favorite, every
    # thumbnail) first, not after forty panel patterns. No two modules' paths overlap.
    routes = [
        *gallery.routes,
        *store_gallery.routes,
        *accounts.routes,
        *panel.routes,
        *photo_order.routes,
        *image_sets.routes,
        *activity_routes.routes,
        *inbox.routes,
        *account_settings.routes,
        *brand_settings.routes,
        *store_panel.routes,
        *store_orders.routes,
        *workflows_panel.routes,
        *workflows_gallery.routes,
        *demo_simulate.routes,
        WebSocketRoute("/ws/panel", panel_socket),
        WebSocketRoute("/ws/gallery/{slug}", gallery_socket),
        *health_routes,
        *metrics.routes,
        Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={DomainError: domain_error, HTTPException: http_error,
                            ClientDisconnect: client_gone},
        # Outermost: its duration and status are what the client saw (server/request_log.py).
        middleware=[Middleware(RequestLog, observe=metrics.observe_request),
                    Middleware(SecurityHeadersMiddleware, base_url=settings.base_url),
                    # Pages, JSON, CSS and JS compress 5-10×: a 2,000-photo gallery page is
                    # ~1.5 MB of HTML. Photos and ZIPs are already compressed: Starlette's
                    # default exclusions pass them through untouched.
                    Middleware(GZipMiddleware, minimum_size=1024, compresslevel=6),
                    # Inside the headers one, so a 413 carries them too.
                    Middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes)],
        lifespan=lifespan,
    )
