"""The arq job functions and the cron list; nothing else. Each job is a thin wrapper over the
service function a route would call (rule 5): the row's state machine, its claim and its
retries live in the service, and what work is pending lives in the database
(server/reconcile.py). Which worker runs these, and with what context (`db`, `media`,
`settings`, `lease`, `stopping`), is decided by the composition root, server/app.py.

Every job logs one logfmt line on "proofroom.jobs":
`job=<function> id=<job id> outcome=<ok|retry|failed|skipped> duration_ms=<n>`.

A graceful stop (SIGTERM to `proofroom worker`, the web app's shutdown with its in-process
worker) cancels the jobs that are running; arq puts them back in its queue. A work job
cancelled so hands back the lease it took on its row (`hands_back`), so the row waits
again at once instead of for the rest of its lease (minutes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from arq import cron, func
from arq.cron import CronJob
from sqlalchemy import and_, update
from sqlalchemy.orm import Session

from server import mail, uploads
from server import reconcile as reconcile_service
from server.config import Settings
from server.models import utcnow
from server.workflows import runner

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
            outcome = "retry"  # arq puts a cancelled job back (its lease: `hands_back`)
            raise
        finally:
            log.info("job=%s id=%s outcome=%s duration_ms=%d", fn.__name__,
                     ctx.get("job_id"), outcome, (time.perf_counter() - started) * 1000)

    return run


class Stopping:
    """Whether the worker is stopping gracefully. The composition root makes it the
    worker's `on_stop`, which arq's `handle_sig` calls right after it cancels the running
    jobs, before they see the cancellation. (A job's own timeout is a cancellation too: it
    keeps its lease, which outlives the job because a render thread may still run.)"""

    def __init__(self) -> None:
        self.now = False

    def __call__(self, signum: int) -> None:
        self.now = True


#: The kinds of work whose service leases its row (server/reconcile.py), by job name.
LEASING = {kind.job: kind for kind in reconcile_service.KINDS}


def hands_back(fn: JobFunction) -> JobFunction:
    """For a job whose service leases its row: cancelled by a graceful stop, it ends the
    lease it took and lets reconcile's lease-expiry path take the row back (waiting again,
    due now; `failed` after too many claims), so the next worker runs it at once."""
    kind = LEASING[fn.__name__]

    @functools.wraps(fn)
    async def run(ctx: dict[str, Any], row_id: int) -> Any:
        started = utcnow()
        try:
            return await fn(ctx, row_id)
        except asyncio.CancelledError:
            stopping = ctx.get("stopping")
            if stopping is not None and stopping.now:
                await _hand_back(ctx, kind, row_id, started)
            raise

    return run


async def _hand_back(ctx: dict[str, Any], kind: reconcile_service.Kind, row_id: int,
                     started: datetime) -> None:
    try:
        handed = await ctx["db"].write(_end_lease, kind, row_id, started, ctx["lease"])
    except Exception as exc:  # the lease runs out instead; the CancelledError goes on
        log.warning("job=%s id=%s could not hand back %s %s: %s", kind.job,
                    ctx.get("job_id"), kind.name, row_id, exc)
        return
    if handed:
        log.info("job=%s id=%s handed back its lease on %s %s", kind.job, ctx.get("job_id"),
                 kind.name, row_id)


def _end_lease(session: Session, kind: reconcile_service.Kind, row_id: int, started: datetime,
               lease: timedelta) -> bool:
    """End the row's lease if this job's claim took it, then release it as stale."""
    now = utcnow()
    model = kind.model
    this_row = dataclasses.replace(kind, leased=and_(kind.leased, model.id == row_id))
    # Only a lease a claim made since this job started (a claim leases until its time plus
    # `lease`): never one another worker holds from before.
    ours = model.leased_until.between(started + lease, now + lease)
    ended = session.execute(update(model).where(this_row.leased, ours)
                            .values(leased_until=now - timedelta(microseconds=1)))
    if not ended.rowcount:
        return False
    reconcile_service.release_stale(session, this_row, now)
    return True


@logged
@hands_back
async def process_image(ctx: dict[str, Any], image_id: int) -> str:
    return await uploads.process(ctx["db"], ctx["media"], image_id, ctx["lease"])


@logged
@hands_back
async def send_email(ctx: dict[str, Any], email_id: int) -> str:
    settings: Settings = ctx["settings"]
    return await mail.process(ctx["db"], settings.smtp_url, settings.mail_from, email_id,
                              ctx["lease"], ctx.get("smtp"))


@logged
async def reconcile(ctx: dict[str, Any]) -> dict[str, int]:
    return await reconcile_service.reconcile(ctx["db"], ctx["lease"])


@logged
@hands_back
async def run_scheduled_action(ctx: dict[str, Any], action_id: int) -> str:
    settings: Settings = ctx["settings"]
    mailer = runner.Mailer(settings.base_url, settings.secret_key, settings.smtp_url,
                           settings.mail_from, ctx.get("smtp"))
    return await runner.run(ctx["db"], mailer, action_id, ctx["lease"])


async def optimize_database(ctx: dict[str, Any]) -> None:
    await ctx["db"].optimize()


#: Reconcile reads and enqueues thousands of rows on a busy database: not bound by the
#: lease-derived timeout of the work jobs.
RECONCILE_TIMEOUT = 120
FUNCTIONS = [process_image, send_email, run_scheduled_action,
             func(reconcile, timeout=RECONCILE_TIMEOUT)]


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
