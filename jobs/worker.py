"""The arq job functions and the cron list; nothing else. Each job is a thin wrapper over the
service function a route would call (rule 5): the row's state machine, its claim and its
retries live in the service, and what work is pending lives in the database
(server/reconcile.py). Which worker runs these, and with what context (`db`, `media`,
`settings`, `lease`), is decided by the composition root, server/app.py.

Every job logs one logfmt line on "proofroom.jobs":
`job=<function> id=<job id> outcome=<ok|retry|failed|skipped> duration_ms=<n>`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import cron, func
from arq.cron import CronJob

from server import mail, uploads
from server import reconcile as reconcile_service
from server.config import Settings

log = logging.getLogger("proofroom.jobs")

#: What a service's answer means for the log line; anything else that returns is ok.
OUTCOMES = {"skipped": "skipped", "retrying": "retry", "failed": "failed"}

JobFunction = Callable[..., Awaitable[Any]]


def logged(fn: JobFunction) -> JobFunction:
    """One log line per run. functools.wraps keeps the name arq registers the job by."""

    @functools.wraps(fn)
    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await fn(ctx, *args)
            outcome = OUTCOMES.get(result, "ok") if isinstance(result, str) else "ok"
            return result
        except asyncio.CancelledError:
            outcome = "retry"  # arq puts a cancelled job back; its lease runs out meanwhile
            raise
        finally:
            log.info("job=%s id=%s outcome=%s duration_ms=%d", fn.__name__,
                     ctx.get("job_id"), outcome, (time.perf_counter() - started) * 1000)

    return run


@logged
async def process_image(ctx: dict[str, Any], image_id: int) -> str:
    return await uploads.process(ctx["db"], ctx["media"], image_id, ctx["lease"])


@logged
async def send_email(ctx: dict[str, Any], email_id: int) -> str:
    settings: Settings = ctx["settings"]
    return await mail.process(ctx["db"], settings.smtp_url, settings.mail_from, email_id,
                              ctx["lease"])


@logged
async def reconcile(ctx: dict[str, Any]) -> dict[str, int]:
    return await reconcile_service.reconcile(ctx["db"], ctx["lease"])


async def optimize_database(ctx: dict[str, Any]) -> None:
    await ctx["db"].optimize()


#: Reconcile reads and enqueues thousands of rows on a busy database: not bound by the
#: lease-derived timeout of the work jobs.
RECONCILE_TIMEOUT = 120
FUNCTIONS = [process_image, send_email, func(reconcile, timeout=RECONCILE_TIMEOUT)]


def cron_jobs() -> list[CronJob]:
    """New ones for every worker: arq keeps a cron's next run on the CronJob object.

    Reconcile runs every minute (arq runs each slot once across workers). At worker start
    the composition root calls `reconcile` directly, before the worker takes jobs: a
    run_at_startup cron would queue behind every job already waiting."""
    return [
        cron(reconcile, second={0}, timeout=RECONCILE_TIMEOUT),
        # Hourly, and once when a worker starts.
        cron(optimize_database, minute={17}, run_at_startup=True),
    ]
