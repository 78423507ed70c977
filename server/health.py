"""GET /healthz: can this process do its work right now? For a load balancer or a person.

Four checks, run concurrently, each bounded by a short timeout so a hung dependency makes
the answer red instead of making it hang:

- database: `SELECT 1`;
- redis: `PING`;
- worker: arq's health-check key is present. Every arq worker rewrites
  `arq:queue:health-check` every `health_check_interval` seconds with an expiry of that
  interval + 1 s (arq/worker.py `record_health`) and deletes it at a clean shutdown, so
  the key exists exactly while some worker is alive;
- pending: the oldest unfinished piece of background work in the database (an image still
  `processing`, an email `queued` or `sending`) is younger than `Settings.job_late_after`.

200 when every check is green, 503 when any is red. The answer names checks, timings and
ages only: no tenant data. Not throttled, not behind a login, nothing cached.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from arq.constants import default_queue_name, health_check_key_suffix
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .models import Image, OutboundEmail, utcnow
from .workflows.models import ScheduledAction

DATABASE_TIMEOUT = 2.0  # seconds for SELECT 1
PENDING_TIMEOUT = 3.0  # seconds for the oldest-pending queries (indexed on state)
REDIS_TIMEOUT = 1.0  # seconds for PING + EXISTS, one round trip
WORKER_KEY = default_queue_name + health_check_key_suffix  # "arq:queue:health-check"

#: Unfinished background work: kind -> (model, states that mean "not done yet", the
#: column its age counts from). A scheduled action's age counts from its due time: one
#: due next week is not late today.
PENDING = {
    "image": (Image, ("processing",), Image.created_at),
    "email": (OutboundEmail, ("queued", "sending"), OutboundEmail.created_at),
    "action": (ScheduledAction, ("pending", "claimed"), ScheduledAction.next_attempt_at),
}


@dataclass
class Check:
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.detail}


def _failure(exc: BaseException) -> Check:
    """A red check naming the kind of failure only (messages can carry hosts, users)."""
    reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
    return Check(False, {"error": reason})


async def oldest_pending(session: AsyncSession) -> dict[str, datetime | None]:
    """When the oldest unfinished job of each kind was created (None: there is none)."""
    oldest = {}
    for kind, (model, states, since) in PENDING.items():
        oldest[kind] = await session.scalar(
            select(func.min(since)).where(model.state.in_(states), since <= utcnow()))
    return oldest


async def check_database(db) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), db.reader() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        return _failure(exc)
    return Check(True, {"ms": round((time.perf_counter() - started) * 1000, 1)})


async def check_pending(db, late_after: timedelta, now: datetime) -> Check:
    try:
        async with asyncio.timeout(PENDING_TIMEOUT), db.reader() as session:
            oldest = await oldest_pending(session)
    except Exception as exc:
        return _failure(exc)
    ages = {f"oldest_{kind}_s": None if at is None else round((now - at).total_seconds(), 1)
            for kind, at in oldest.items()}
    limit = late_after.total_seconds()
    ok = all(age is None or age <= limit for age in ages.values())
    return Check(ok, {**ages, "late_after_s": limit})


async def check_redis_and_worker(redis) -> tuple[Check, Check]:
    """PING and the worker's heartbeat key in one round trip."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            async with redis.pipeline(transaction=False) as pipe:
                _, alive = await pipe.ping().exists(WORKER_KEY).execute()
    except Exception as exc:
        return _failure(exc), Check(False, {"error": "redis unreachable"})
    ms = round((time.perf_counter() - started) * 1000, 1)
    worker = Check(True) if alive else Check(False, {"error": "no worker heartbeat"})
    return Check(True, {"ms": ms}), worker


async def run_checks(services) -> dict[str, Check]:
    """Every check, concurrently: the slowest bounds the answer, not their sum."""
    database, pending, (redis, worker) = await asyncio.gather(
        check_database(services.db),
        check_pending(services.db, services.settings.job_late_after, utcnow()),
        check_redis_and_worker(services.redis),
    )
    return {"database": database, "redis": redis, "worker": worker, "pending": pending}


async def healthz(request: Request) -> JSONResponse:
    checks = await run_checks(request.state.services)
    failing = [name for name, check in checks.items() if not check.ok]
    body = {"ok": not failing, "failing": failing,
            "checks": {name: check.as_json() for name, check in checks.items()}}
    return JSONResponse(body, status_code=503 if failing else 200,
                        headers={"Cache-Control": "no-store"})


routes = [Route("/healthz", healthz)]
