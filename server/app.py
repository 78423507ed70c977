"""The composition root: builds the services, wires the outbox to Redis and arq, mounts routes.

The only module of server/ that imports realtime/ and jobs/.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, run_worker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from jobs.worker import CRON_JOBS, FUNCTIONS, WorkerSettings
from realtime.bus import RedisBus
from realtime.gallery_socket import gallery_socket
from realtime.hub import Hub
from realtime.panel_socket import panel_socket

from .body_limit import BodyLimit
from .config import Settings
from .db import Database
from .embedded_redis import EmbeddedRedis
from .errors import DomainError
from .loop_probe import start_if_enabled as start_loop_probe
from .media import MediaStore
from .outbox import Dispatcher, Job
from .public import GalleryCache
from .routes import account_settings, accounts, gallery, gallery_presence, inbox, panel
from .routes import activity as activity_routes
from .routes.common import render
from .security_headers import SecurityHeadersMiddleware
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

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self.worker is not None:
            self.worker.handle_sig(15)  # ask the loop to stop, then wait for running jobs
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.worker.close(), 10)
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

    async def enqueue(job: Job) -> None:
        await redis_pool.enqueue_job(job.name, *job.args, _job_id=job.job_id,
                                     _defer_until=job.defer_until)

    db = Database(settings.database_url, Dispatcher(publish=bus.publish, enqueue=enqueue))
    settings.media_root.mkdir(parents=True, exist_ok=True)
    return Services(settings=settings, db=db, media=MediaStore(settings.media_root),
                    redis=redis_pool, bus=bus, templates=make_templates(),
                    gallery_cache=GalleryCache(db), embedded_redis=embedded)


def start_inprocess_worker(services: Services) -> None:
    worker = Worker(
        functions=FUNCTIONS,
        cron_jobs=CRON_JOBS,
        redis_pool=services.redis,
        handle_signals=False,
        ctx={"db": services.db, "media": services.media, "settings": services.settings},
        max_jobs=4,
        poll_delay=0.1,
        keep_result=60,
    )
    services.worker = worker
    services.tasks.append(asyncio.create_task(worker.main(), name="arq-worker"))


def run_standalone_worker() -> None:
    """`proofroom worker`: the Procfile's worker, configured by REDIS_URL like the web."""
    run_worker(WorkerSettings)


async def domain_error(request: Request, exc: DomainError) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": exc.message, "field": exc.field},
                            status_code=exc.status_code)
    return render(request, "error.html", {"message": exc.message, "status": exc.status_code},
                  status_code=exc.status_code)


async def http_error(request: Request, exc: HTTPException) -> Response:
    message = "Page not found." if exc.status_code == 404 else (exc.detail or "Error")
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=exc.status_code)
    return render(request, "error.html", {"message": message, "status": exc.status_code},
                  status_code=exc.status_code)


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
        *gallery_presence.routes,
        *accounts.routes,
        *panel.routes,
        *activity_routes.routes,
        *inbox.routes,
        *account_settings.routes,
        WebSocketRoute("/ws/panel", panel_socket),
        WebSocketRoute("/ws/gallery/{slug}", gallery_socket),
        Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={DomainError: domain_error, HTTPException: http_error,
                            ClientDisconnect: client_gone},
        middleware=[Middleware(SecurityHeadersMiddleware, base_url=settings.base_url),
                    # Inside the headers one, so a 413 carries them too.
                    Middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes)],
        lifespan=lifespan,
    )
