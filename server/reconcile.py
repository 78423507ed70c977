"""Reconcile: the database owns every piece of pending work; Redis only carries it.

Each kind of background work (resize an image, send an email, run a workflow's scheduled
action) is one `Kind` entry: its table, which rows wait for a job, which rows a job
holds (a lease), the job's name and its deterministic id, and what `release_stale` writes
to take back a row whose lease ran out. `reconcile()` runs when a worker starts
(server/app.py calls it before the worker takes jobs) and every minute (an arq cron in
jobs/worker.py):

1. takes back leased rows whose lease has passed (their worker died mid-job):
   `release_stale` puts each back in line, or ends it `failed` after too many attempts;
2. enqueues the job of every waiting row under its deterministic id, deferred to the row's
   backoff time. arq ignores an enqueue whose job or result still exists, so this costs
   nothing for work Redis still holds and restores what Redis lost (a restart, FLUSHALL,
   a request that died between its commit and its enqueue). A row still unclaimed a lease
   after it became due also gets a rescue job, one per lease period: arq can hold on to a
   job id that will not run soon (a dead worker's in-progress mark lives as long as the
   longest job timeout; a job lost in a FLUSHALL leaves an "expired" result), and the
   claim makes the extra job harmless;
3. schedules itself again for just after the earliest live lease ends, so a crashed job is
   retried one lease after it started, not one lease plus a cron minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from . import mail, uploads
from .models import Image, OutboundEmail, utcnow
from .outbox import Job
from .workflows import planner, runner
from .workflows.models import ScheduledAction

if TYPE_CHECKING:
    from .db import Database

log = logging.getLogger("proofroom.jobs")

RECONCILE_JOB = "reconcile"
#: Rows enqueued per kind and run; the rest follow at the next run (oldest first).
BATCH = 2000
CHUNK = 100


@dataclass(frozen=True)
class Kind:
    name: str
    model: Any  # an ORM class with id, state, attempts, error, created_at, leased_until,
    #             next_attempt_at
    waiting: ColumnElement[bool]  # rows that need a job
    leased: ColumnElement[bool]  # rows a job holds (leased_until is set)
    job: str  # the arq function that runs one row: job(ctx, row.id)
    job_id: Callable[[Any], str]  # deterministic: the same row and attempt, the same id
    max_attempts: int  # claims made before a stale row ends `failed`
    gave_up: str  # the `error` of a row that ended so
    requeue: dict[str, Any] = field(default_factory=dict)  # more values for a row put back
    #: Only rows due within this long (oldest due first): a schedule holds rows due in
    #: weeks, whose jobs need not sit in Redis yet (arq drops a job a day after its time).
    soon: timedelta | None = None


KINDS: tuple[Kind, ...] = (
    Kind("image", Image, uploads.WAITING, uploads.LEASED, uploads.PROCESS_JOB,
         uploads.job_id, uploads.MAX_ATTEMPTS,
         f"Processing stopped {uploads.MAX_ATTEMPTS} times before it finished."),
    Kind("email", OutboundEmail, mail.WAITING, mail.LEASED, mail.SEND_JOB,
         mail.job_id, mail.MAX_ATTEMPTS,
         f"Gave up after {mail.MAX_ATTEMPTS} attempts: the last one never finished.",
         {"state": "queued"}),
    Kind("action", ScheduledAction, runner.WAITING, runner.LEASED, planner.RUN_JOB,
         planner.job_id, runner.MAX_ATTEMPTS,
         f"Gave up after {runner.MAX_ATTEMPTS} attempts: the last one never finished.",
         {"state": "pending"}, soon=timedelta(hours=1)),
)


def release_stale(session: Session, kind: Kind, now: datetime) -> int:
    """Take back the kind's rows whose lease ran out (their worker died mid-job): `failed`
    once `max_attempts` claims were made, else due again now (waiting, for a rescue job
    from reconcile). Returns how many."""
    model = kind.model
    stale = and_(kind.leased, model.leased_until < now)
    gave_up = session.execute(
        update(model).where(stale, model.attempts >= kind.max_attempts)
        .values(state="failed", leased_until=None, error=kind.gave_up))
    requeued = session.execute(
        update(model).where(stale)
        .values(leased_until=None, next_attempt_at=now, **kind.requeue))
    return gave_up.rowcount + requeued.rowcount


async def reconcile(db: Database, lease: timedelta,
                    kinds: tuple[Kind, ...] = KINDS) -> dict[str, int]:
    """One pass (see the module docstring). Returns counts per kind, for the job's log."""
    enqueue: Callable[[Job], Awaitable[Any]] | None = db.dispatcher.enqueue
    if enqueue is None:  # no Redis wired (a CLI command): nothing can be enqueued
        return {}
    now = utcnow()
    counts = await db.write(_release_all, kinds, now)
    async with db.reader() as session:
        waiting = {kind.name: list(await session.scalars(_waiting(kind, now)))
                   for kind in kinds}
        lease_ends = [await session.scalar(select(func.min(kind.model.leased_until))
                                           .where(kind.leased)) for kind in kinds]
    for kind in kinds:
        jobs = [job for row in waiting[kind.name] for job in _jobs_for(kind, row, now, lease)]
        counts[f"{kind.name}_waiting"] = len(waiting[kind.name])
        counts[f"{kind.name}_enqueued"] = await _enqueue_all(enqueue, jobs)
    await _wake_at(enqueue, min((end for end in lease_ends if end), default=None))
    if any(counts[k] for k in counts if k.endswith(("_taken_back", "_enqueued"))):
        log.info("reconcile %s", " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return counts


def _waiting(kind: Kind, now: datetime):
    query = select(kind.model).where(kind.waiting)
    if kind.soon is None:
        return query.order_by(kind.model.id).limit(BATCH)
    return (query.where(kind.model.next_attempt_at <= now + kind.soon)
            .order_by(kind.model.next_attempt_at).limit(BATCH))


def _release_all(session: Session, kinds: tuple[Kind, ...], now: datetime) -> dict[str, int]:
    return {f"{kind.name}_taken_back": release_stale(session, kind, now) for kind in kinds}


def _jobs_for(kind: Kind, row: Any, now: datetime, lease: timedelta) -> list[Job]:
    """The row's job, deferred to its backoff time; and a rescue job if it has waited,
    due, for longer than a lease (see the module docstring)."""
    due = row.next_attempt_at or row.created_at
    jobs = [Job(kind.job, (row.id,), kind.job_id(row), due if due > now else None)]
    if due < now - lease:
        period = int(now.timestamp() // max(lease.total_seconds(), 1))
        jobs.append(Job(kind.job, (row.id,), f"{kind.job_id(row)}-rescue{period}"))
    return jobs


async def _enqueue_all(enqueue: Callable[[Job], Awaitable[Any]], jobs: list[Job]) -> int:
    """Enqueue in concurrent chunks (each enqueue is a round trip); how many were new."""
    added = 0
    for start in range(0, len(jobs), CHUNK):
        done = await asyncio.gather(*(enqueue(job) for job in jobs[start:start + CHUNK]))
        added += sum(bool(d) for d in done)
    return added


async def _wake_at(enqueue: Callable[[Job], Awaitable[Any]], lease_end: datetime | None) -> None:
    if lease_end is None:
        return
    when = lease_end + timedelta(seconds=1)
    await enqueue(Job(RECONCILE_JOB, (), f"reconcile-at-{int(when.timestamp())}", when))
