"""The activity log: append an ActivityEvent in the caller's transaction, read it back.

`record()` is the only writer. It takes the next number from the photographer's counter
with `UPDATE ... RETURNING` in the same transaction (rule 2): a replay "after N" can never
skip an event the way a global autoincrement committing out of order could.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .events import KINDS, envelope, tenant_channel
from .models import ActivityEvent, Photographer, utcnow
from .outbox import outbox_of


async def record(
    session: AsyncSession,
    photographer_id: int,
    kind: str,
    *,
    event_id: int | None = None,
    contact_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> ActivityEvent:
    if kind not in KINDS:
        raise ValueError(f"unknown activity kind {kind!r}")
    seq = (
        await session.execute(
            update(Photographer)
            .where(Photographer.id == photographer_id)
            .values(last_event_seq=Photographer.last_event_seq + 1)
            .returning(Photographer.last_event_seq)
        )
    ).scalar_one()
    activity = ActivityEvent(
        photographer_id=photographer_id,
        seq=seq,
        event_id=event_id,
        contact_id=contact_id,
        kind=kind,
        payload=payload or {},
        at=utcnow(),
    )
    session.add(activity)
    await session.flush()
    outbox_of(session).publish(tenant_channel(photographer_id), envelope(activity))
    return activity


async def since(
    session: AsyncSession, photographer_id: int, after_seq: int, limit: int = 1000
) -> list[ActivityEvent]:
    """Events newer than `after_seq`, oldest first (what a reconnecting dashboard replays)."""
    rows = await session.scalars(
        select(ActivityEvent)
        .where(ActivityEvent.photographer_id == photographer_id, ActivityEvent.seq > after_seq)
        .order_by(ActivityEvent.seq)
        .limit(limit)
    )
    return list(rows)


async def latest_seq(session: AsyncSession, photographer_id: int) -> int:
    value = await session.scalar(
        select(Photographer.last_event_seq).where(Photographer.id == photographer_id)
    )
    return int(value or 0)
