"""Who's viewing now: named visitors whose gallery page is open.

Presence is ephemeral, so it lives in Redis, not the database: a sorted set per
photographer of "gallery:contact" members scored by their last beat; members older than
PRESENCE_TTL are gone. A known visitor's open gallery page *is* its live socket: the socket
beats when it opens and when its tab becomes visible again (`beat`, which publishes a
`presence` message when the visitor was not present, so open dashboards refresh their list
at once), and the hub renews every visible gallery socket of its process in one round trip
every PRESENCE_BEAT seconds (`renew`). No request per visitor per beat: at a school's
picture day that was thousands of HTTP requests a minute.

Redis down (or slower than REDIS_TIMEOUT): presence is *unknown*, never an error. A beat
reports it (the gallery page just beats again later), "viewing now" is an empty list
flagged unknown, and `is_present` answers None, which a reply treats as away (it emails:
a duplicate email is better than a client never told). A warning is logged now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .events import tenant_channel
from .models import Contact, Event
from .outbox import Outbox

#: Seconds between two renewals of an open page; gone PRESENCE_TTL after its last one.
#: PROOFROOM_PRESENCE_BEAT shortens it (tests: seconds instead of a minute).
PRESENCE_BEAT = float(os.environ.get("PROOFROOM_PRESENCE_BEAT", "20"))
PRESENCE_TTL = PRESENCE_BEAT * 2.5
REDIS_TIMEOUT = 0.75  # seconds; beyond it presence is unknown (a stalled Redis stalls no request)
_WARN_EVERY = 10.0  # seconds between two "Redis is down" warnings

log = logging.getLogger("proofroom.presence")
_last_warning = 0.0


class _Unknown(Exception):
    """Redis could not answer in time: presence is unknown."""


@contextlib.asynccontextmanager
async def _bounded(what: str) -> AsyncIterator[None]:
    """At most REDIS_TIMEOUT; a Redis error or the timeout becomes `_Unknown` (and a
    warning, at most every _WARN_EVERY seconds)."""
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            yield
    except (RedisError, OSError, TimeoutError) as exc:
        global _last_warning
        now = time.monotonic()
        if now - _last_warning >= _WARN_EVERY:
            _last_warning = now
            log.warning("presence unknown: Redis unreachable during %s (%s: %s)", what,
                        type(exc).__name__, exc)
        raise _Unknown(what) from exc


def _key(namespace: str, photographer_id: int) -> str:
    return f"{namespace}presence:{photographer_id}"


def _verified_key(namespace: str, photographer_id: int) -> str:
    return f"{namespace}presence-verified:{photographer_id}"


async def beat(redis: Redis, namespace: str, photographer_id: int, event_id: int,
               contact_id: int, outbox: Outbox, *, verified: bool) -> bool:
    """`verified`: the page is open in a browser proven to be the contact's. Only such a
    page counts as the client being present (a reply then skips its email): someone who
    merely typed the address must not keep the real client's replies from reaching them.

    False when Redis could not record it (presence unknown); nothing is published then."""
    key = _key(namespace, photographer_id)
    now = time.time()
    member = f"{event_id}:{contact_id}"
    try:
        # One round trip; the pipeline keeps the order, so zscore reads the previous beat.
        async with _bounded("a presence beat"), redis.pipeline(transaction=False) as pipe:
            pipe.zscore(key, member)
            pipe.zadd(key, {member: now})
            pipe.expire(key, int(PRESENCE_TTL * 2))
            if verified:
                verified_key = _verified_key(namespace, photographer_id)
                pipe.zadd(verified_key, {member: now})
                pipe.expire(verified_key, int(PRESENCE_TTL * 2))
            previous = (await pipe.execute())[0]
    except _Unknown:
        return False
    if previous is None or now - previous > PRESENCE_TTL:
        outbox.publish(tenant_channel(photographer_id), {
            "type": "presence", "event_id": event_id, "contact_id": contact_id,
        })
    return True


async def renew(redis: Redis, namespace: str,
                present: Iterable[tuple[int, int, int, bool]]) -> bool:
    """Renew many (photographer, gallery, contact, verified) members at once: one ZADD per
    photographer and set, all in one pipeline. False when Redis could not record them."""
    now = time.time()
    members: dict[str, dict[str, float]] = {}
    for photographer_id, event_id, contact_id, verified in present:
        member = f"{event_id}:{contact_id}"
        members.setdefault(_key(namespace, photographer_id), {})[member] = now
        if verified:
            members.setdefault(_verified_key(namespace, photographer_id), {})[member] = now
    if not members:
        return True
    try:
        async with _bounded("renewing presence"), redis.pipeline(transaction=False) as pipe:
            for key, scores in members.items():
                pipe.zadd(key, scores)
                pipe.expire(key, int(PRESENCE_TTL * 2))
            await pipe.execute()
    except _Unknown:
        return False
    return True


#: "Viewing now" lists the most recent this many; beyond, the panel says "and N more" (a
#: school's picture day has a thousand parents on the gallery at once).
VIEWING_LIMIT = 50


async def viewing_now_json(redis: Redis, namespace: str, session: AsyncSession,
                           photographer_id: int) -> dict:
    """{"viewers": [...], "total": N, "presence": "known"} or, Redis unreachable,
    {"viewers": [], "total": 0, "presence": "unknown"} (the panel says it can't tell)."""
    try:
        viewers, total = await _viewing_now(redis, namespace, session, photographer_id)
    except _Unknown:
        return {"viewers": [], "total": 0, "presence": "unknown"}
    return {"viewers": viewers, "total": total, "presence": "known"}


async def _viewing_now(redis: Redis, namespace: str, session: AsyncSession,
                       photographer_id: int) -> tuple[list[dict], int]:
    key = _key(namespace, photographer_id)
    now = time.time()
    async with _bounded("viewing now"), redis.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(key, 0, now - PRESENCE_TTL)
        pipe.zcard(key)
        pipe.zrevrange(key, 0, VIEWING_LIMIT - 1, withscores=True)
        _, total, members = await pipe.execute()
    pairs = []
    for raw, score in members:
        event_id, contact_id = (int(x) for x in raw.decode().split(":"))
        pairs.append((event_id, contact_id, score))
    if not pairs:
        return [], total
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
        for e, c, score in pairs
        if c in contacts and e in events
    ], total


async def is_present(redis: Redis, namespace: str, photographer_id: int, event_id: int,
                     contact_id: int) -> bool | None:
    """Whether this client's gallery page beat recently from a verified browser; None when
    Redis can't say (unknown: a reply then emails, like for an absent client)."""
    try:
        async with _bounded("a presence check"):
            score = await redis.zscore(_verified_key(namespace, photographer_id),
                                       f"{event_id}:{contact_id}")
    except _Unknown:
        return None
    return score is not None and time.time() - score <= PRESENCE_TTL
