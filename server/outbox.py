"""The per-transaction outbox: what may happen only after COMMIT.

A unit of work is a transaction plus its outbox. A service function never publishes,
enqueues or deletes a file directly: it calls `outbox_of(session)` and adds to it (a
push, a job, or an after-commit action such as removing an image's files).
`Database.write()` flushes the outbox after the commit succeeded and drops it on
rollback, so a push is only ever sent for a committed event and
a file is never gone while a row still points at it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

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
    actions: list[Callable[[], Any]] = field(default_factory=list)

    def publish(self, channel: str, message: dict) -> None:
        self.messages.append((channel, message))

    def enqueue(self, name: str, *args: Any, job_id: str | None = None, defer_until=None) -> None:
        self.jobs.append(Job(name, args, job_id, defer_until))

    def after_commit(self, action: Callable[[], Any]) -> None:
        """Run `action()` (a plain function) once the transaction has committed; never if
        it rolls back. For what cannot be undone, such as deleting files."""
        self.actions.append(action)

    def __bool__(self) -> bool:
        return bool(self.messages or self.jobs or self.actions)


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
        self.run_actions(outbox)
        self.publish_messages(outbox)
        await self.enqueue_jobs(outbox)

    @staticmethod
    def run_actions(outbox: Outbox) -> None:
        # After the commit, whatever happens: a failed action is logged, never re-raised
        # (the write it follows stands) and never stops the pushes behind it.
        for action in outbox.actions:
            try:
                action()
            except Exception:
                log.exception("after-commit action %r failed", action)

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


def before_commit(session: Session | AsyncSession, step: Callable[[Session], None]) -> None:
    """Run `step(session)` (a plain function, given the unit's sync ORM session) as the
    unit's last statements, just before its COMMIT."""
    session.info.setdefault("before_commit", []).append(step)


def run_before_commit(session: Session) -> None:
    """In the order they were added; a step may add more (they run too)."""
    steps = session.info.get("before_commit", [])
    while steps:
        steps.pop(0)(session)


def outbox_of(session: Session | AsyncSession) -> Outbox:
    box = session.info.get("outbox")
    if box is None:
        box = session.info["outbox"] = Outbox()
    return box
