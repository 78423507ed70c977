"""The dashboard card: galleries by state, today's activity, galleries expiring soon, and
the orders waiting on the photographer."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ActivityEvent, Event, utcnow
from .store import orders
from .workflows.planner import rules_of

EXPIRING_WITHIN = timedelta(days=14)


async def summary(session: AsyncSession, photographer_id: int) -> dict:
    now = utcnow()
    events = list(await session.scalars(
        select(Event).where(Event.photographer_id == photographer_id)
    ))
    states = {"released": 0, "expired": 0, "draft": 0}
    for event in events:
        states[event.state(now)] += 1
    expiring = sorted(
        (e for e in events if e.state(now) == "released" and e.expires_at
         and e.expires_at - now <= EXPIRING_WITHIN),
        key=lambda e: e.expires_at,
    )
    # "Today" is the studio's day, in its time zone (Settings → Account), not UTC's.
    zone = (await session.run_sync(rules_of, photographer_id)).zone
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    today = dict((await session.execute(
        select(ActivityEvent.kind, func.count())
        .where(ActivityEvent.photographer_id == photographer_id, ActivityEvent.at >= midnight)
        .group_by(ActivityEvent.kind)
    )).all())
    return {
        "active": states["released"], "expired": states["expired"], "drafts": states["draft"],
        "today": {
            "visits": today.get("visit", 0),
            "favorites": today.get("favorite_added", 0),
            "comments": today.get("comment_added", 0),
            "downloads": today.get("download_single", 0) + today.get("download_bulk", 0),
        },
        "expiring": expiring,
        "open_orders": await session.run_sync(orders.open_count, photographer_id),
    }
