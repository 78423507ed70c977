"""Who's viewing now: named visitors whose gallery page is open.

Presence is ephemeral, so it lives in Redis, not the database: each open gallery page of a
known visitor beats every PRESENCE_BEAT seconds into a sorted set per photographer; members
older than PRESENCE_TTL are gone. A first beat publishes a `presence` message so open
dashboards refresh their list at once.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .events import tenant_channel
from .models import Contact, Event
from .outbox import Outbox

PRESENCE_BEAT = 20
PRESENCE_TTL = 50


def _key(namespace: str, photographer_id: int) -> str:
    return f"{namespace}presence:{photographer_id}"


def _verified_key(namespace: str, photographer_id: int) -> str:
    return f"{namespace}presence-verified:{photographer_id}"


async def beat(redis: Redis, namespace: str, photographer_id: int, event_id: int,
               contact_id: int, outbox: Outbox, *, verified: bool) -> None:
    """`verified`: the page is open in a browser proven to be the contact's. Only such a
    page counts as the client being present (a reply then skips its email): someone who
    merely typed the address must not keep the real client's replies from reaching them."""
    key = _key(namespace, photographer_id)
    now = time.time()
    member = f"{event_id}:{contact_id}"
    previous = await redis.zscore(key, member)
    await redis.zadd(key, {member: now})
    await redis.expire(key, PRESENCE_TTL * 2)
    if verified:
        verified_key = _verified_key(namespace, photographer_id)
        await redis.zadd(verified_key, {member: now})
        await redis.expire(verified_key, PRESENCE_TTL * 2)
    if previous is None or now - previous > PRESENCE_TTL:
        outbox.publish(tenant_channel(photographer_id), {
            "type": "presence", "event_id": event_id, "contact_id": contact_id,
        })


async def viewing_now(redis: Redis, namespace: str, session: AsyncSession,
                      photographer_id: int) -> list[dict]:
    key = _key(namespace, photographer_id)
    now = time.time()
    await redis.zremrangebyscore(key, 0, now - PRESENCE_TTL)
    members = await redis.zrange(key, 0, -1, withscores=True)
    pairs = []
    for raw, score in members:
        event_id, contact_id = (int(x) for x in raw.decode().split(":"))
        pairs.append((event_id, contact_id, score))
    if not pairs:
        return []
    contacts = dict((await session.execute(
        select(Contact.id, Contact.name).where(
            Contact.photographer_id == photographer_id,
            Contact.id.in_({c for _, c, _ in pairs}))
    )).all())
    events = dict((await session.execute(
        select(Event.id, Event.title).where(
            Event.photographer_id == photographer_id, Event.id.in_({e for e, _, _ in pairs}))
    )).all())
    return [
        {"event_id": e, "contact_id": c, "contact_name": contacts[c], "event_title": events[e],
         "seen": score}
        for e, c, score in sorted(pairs, key=lambda p: -p[2])
        if c in contacts and e in events
    ]


async def is_present(redis: Redis, namespace: str, photographer_id: int, event_id: int,
                     contact_id: int) -> bool:
    """Whether this client's gallery page beat recently from a verified browser."""
    score = await redis.zscore(_verified_key(namespace, photographer_id),
                               f"{event_id}:{contact_id}")
    return score is not None and time.time() - score <= PRESENCE_TTL
