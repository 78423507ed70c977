"""arq WorkerSettings and job functions. Each job opens one transaction and calls the same
service function a route would (rule 5); all state checks live in the service."""

from __future__ import annotations

import os
from typing import Any

from arq import cron
from arq.connections import RedisSettings

from server import mail, uploads
from server.config import Settings


async def process_image(ctx: dict[str, Any], image_id: int) -> str:
    return await uploads.process(ctx["db"], ctx["media"], image_id)


async def send_email(ctx: dict[str, Any], email_id: int) -> str:
    settings: Settings = ctx["settings"]
    return await mail.process(ctx["db"], settings.smtp_url, settings.mail_from, email_id)


async def optimize_database(ctx: dict[str, Any]) -> None:
    await ctx["db"].optimize()


FUNCTIONS = [process_image, send_email]
# Hourly, and once when a worker starts (arq runs each cron slot once across workers).
CRON_JOBS = [cron(optimize_database, minute={17}, run_at_startup=True)]


async def startup(ctx: dict[str, Any]) -> None:
    """For a standalone `arq jobs.worker.WorkerSettings` process (the Procfile's worker)."""
    from server.app import build_services  # composition root wires bus + queue

    settings = Settings.from_env()
    ctx["services"] = services = await build_services(settings, redis_pool=ctx["redis"])
    ctx["db"], ctx["media"], ctx["settings"] = services.db, services.media, settings


async def shutdown(ctx: dict[str, Any]) -> None:
    services = ctx.get("services")
    if services is not None:
        await services.close()


class WorkerSettings:
    functions = FUNCTIONS
    cron_jobs = CRON_JOBS
    on_startup = startup
    on_shutdown = shutdown
    # Read at import: the standalone worker is configured by REDIS_URL like the web process.
    redis_settings = RedisSettings.from_dsn(os.environ["REDIS_URL"]) if os.environ.get(
        "REDIS_URL"
    ) else None
    max_tries = 5
    job_timeout = 300
