"""The per-transaction outbox: pushes and jobs that may leave only after COMMIT.

A service function never publishes or enqueues directly. It calls `outbox_of(session)`
and adds to it; `Database.transaction()` flushes the outbox after the commit succeeded
and drops it on rollback, so a push is only ever sent for a committed event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    args: tuple = ()
    job_id: str | None = None
    defer_until: Any = None  # datetime or None


@dataclass
class Outbox:
    messages: list[tuple[str, dict]] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)

    def publish(self, channel: str, message: dict) -> None:
        self.messages.append((channel, message))

    def enqueue(self, name: str, *args: Any, job_id: str | None = None, defer_until=None) -> None:
        self.jobs.append(Job(name, args, job_id, defer_until))

    def __bool__(self) -> bool:
        return bool(self.messages or self.jobs)


class Dispatcher:
    """Where a flushed outbox goes. The composition root (server/app.py) supplies the real
    publisher and enqueuer; without them (a CLI command, a unit test) nothing is sent.

    `publish` must not wait (the bus queues for Redis and sends in the background): pushes
    leave in commit order, synchronously, and a request never waits on pub/sub. Jobs are
    awaited, so a job is in Redis before the request that caused it returns."""

    def __init__(
        self,
        publish: Callable[[str, dict], None] | None = None,
        enqueue: Callable[[Job], Awaitable[None]] | None = None,
    ) -> None:
        self.publish = publish
        self.enqueue = enqueue

    async def flush(self, outbox: Outbox) -> None:
        self.publish_messages(outbox)
        await self.enqueue_jobs(outbox)

    def publish_messages(self, outbox: Outbox) -> None:
        # Failures here never undo the commit: replay (pushes) and reconcile (jobs) recover.
        if self.publish is None:
            return
        for channel, message in outbox.messages:
            try:
                self.publish(channel, message)
            except Exception:
                log.exception("publish to %s failed; clients recover by replay", channel)

    async def enqueue_jobs(self, outbox: Outbox) -> None:
        if self.enqueue is None:
            return
        for job in outbox.jobs:
            try:
                await self.enqueue(job)
            except Exception:
                log.exception("enqueue of %s failed; reconcile will pick it up", job.name)


def outbox_of(session: AsyncSession) -> Outbox:
    box = session.info.get("outbox")
    if box is None:
        box = session.info["outbox"] = Outbox()
    return box
