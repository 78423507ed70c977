"""The activity log: append an ActivityEvent in the caller's transaction, read it back.

`record()` is the only writer. It takes the next number from the photographer's counter
with `UPDATE ... RETURNING` in the same transaction (rule 2): a replay "after N" can never
skip an event the way a global autoincrement committing out of order could.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .events import KINDS, PHOTOGRAPHER_KINDS, Logged, envelope, tenant_channel
from .models import ActivityEvent, Contact, Event, Photographer, Visit, utcnow
from .outbox import Outbox, before_commit, outbox_of

#: How each kind moves the Activity report's counters on the (event, contact) Visit row.
COUNTERS: dict[str, tuple[str, int]] = {
    "favorite_added": ("favorites", 1),
    "favorite_removed": ("favorites", -1),
    "comment_added": ("comments", 1),
    "download_single": ("single_downloads", 1),
    "download_bulk": ("bulk_downloads", 1),
}

# Statements built once: record() runs on every client action, and building a statement
# costs more than executing it on SQLite (SQLAlchemy caches their compiled form). Core
# tables skip the ORM's bulk-persistence path.
_people, _visits, _log = Photographer.__table__, Visit.__table__, ActivityEvent.__table__
_NEXT_SEQ = (
    update(_people)
    .where(_people.c.id == bindparam("pid"))
    .values(last_event_seq=_people.c.last_event_seq + 1)
    .returning(_people.c.last_event_seq)
)
_APPEND = insert(_log)


def _bump_statement(column: str | None, delta: int):
    values = {"last_at": bindparam("at")}
    if column:
        values[column] = _visits.c[column] + delta
    return (
        update(_visits)
        .where(_visits.c.event_id == bindparam("eid"), _visits.c.contact_id == bindparam("cid"))
        .values(**values)
    )


_BUMPS = {kind: _bump_statement(*COUNTERS.get(kind, (None, 0))) for kind in KINDS}


def record(session: Session, photographer_id: int, kind: str,
           **fields: Any) -> None:
    """Log an event in the session's unit of work: appended when the unit commits, after
    all its other statements (`append_recorded`), and published after the commit.
    `fields` are append()'s (event_id, contact_id, payload, names)."""
    if kind not in KINDS:
        raise ValueError(f"unknown activity kind {kind!r}")
    pending = session.info.setdefault("activity", [])
    if not pending:
        before_commit(session, append_recorded)
    pending.append((photographer_id, kind, fields))


def append_recorded(session: Session) -> None:
    """The unit's logged events, in order, as its last statements: taking the number locks
    the photographer's counter row until COMMIT, so every other write of that tenant waits;
    taken last, that lock is held for two statements per event, not the whole unit."""
    pending, outbox = session.info.pop("activity", []), outbox_of(session)
    session.flush()
    for photographer_id, kind, fields in pending:
        append(session.connection(), outbox, photographer_id, kind, **fields)


def seq_at_commit(session: Session, photographer_id: int) -> Callable[[], int]:
    """The photographer's latest seq as this unit commits, its own events included: call
    the returned function after the commit. (Read inside the unit, `latest_seq` would miss
    the events the unit appends last.)"""
    seen: dict[str, int] = {}

    def read(sync_session: Session) -> None:
        seen["seq"] = int(sync_session.scalar(
            select(Photographer.last_event_seq).where(Photographer.id == photographer_id)) or 0)

    before_commit(session, read)
    return lambda: seen["seq"]


def append(
    conn: Connection,
    outbox: Outbox,
    photographer_id: int,
    kind: str,
    *,
    event_id: int | None = None,
    contact_id: int | None = None,
    payload: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
) -> Logged:
    """Append one event in the connection's transaction; its push leaves with `outbox`
    after commit. `names` (contact_name, contact_email, event_title) saves a query when
    the caller already has them."""
    if kind not in KINDS:
        raise ValueError(f"unknown activity kind {kind!r}")
    at = utcnow()
    if event_id is not None and contact_id is not None and kind not in PHOTOGRAPHER_KINDS:
        _bump_visit(conn, kind, event_id, contact_id, at)
    if names is None:
        names = _names(conn, contact_id, event_id)
    # Last: taking the number locks the photographer's counter row until commit, so every
    # other write of this tenant waits; keep that window to the two statements it needs.
    seq = conn.execute(_NEXT_SEQ, {"pid": photographer_id}).scalar_one()
    activity = Logged(seq, kind, event_id, contact_id, payload or {}, at)
    conn.execute(_APPEND, {
        "photographer_id": photographer_id, "seq": seq, "event_id": event_id,
        "contact_id": contact_id, "kind": kind, "payload": activity.payload, "at": at,
    })
    outbox.publish(tenant_channel(photographer_id),
                   envelope(activity, **names))
    return activity


def _bump_visit(conn: Connection, kind: str, event_id: int, contact_id: int, at) -> None:
    """Keep the report's row in step: LAST SAVED moves with every action, and the counter
    of this kind changes in the same transaction as the action itself."""
    conn.execute(_BUMPS[kind], {"eid": event_id, "cid": contact_id, "at": at})


def _names(conn: Connection, contact_id: int | None, event_id: int | None) -> dict:
    """Contact name/email and event title in one round trip, for the pushed envelope."""
    if contact_id is None and event_id is None:
        return {}
    row = conn.execute(
        select(
            select(Contact.name).where(Contact.id == contact_id).scalar_subquery(),
            select(Contact.email).where(Contact.id == contact_id).scalar_subquery(),
            select(Event.title).where(Event.id == event_id).scalar_subquery(),
        )
    ).first()
    return {"contact_name": row[0], "contact_email": row[1], "event_title": row[2]}


async def since(
    session: AsyncSession, photographer_id: int, after_seq: int, limit: int = 1000
) -> list[dict]:
    """Envelopes newer than `after_seq`, oldest first (what a reconnecting dashboard replays)."""
    result = await session.execute(
        select(ActivityEvent, Contact.name, Contact.email, Event.title)
        .outerjoin(Contact, Contact.id == ActivityEvent.contact_id)
        .outerjoin(Event, Event.id == ActivityEvent.event_id)
        .where(ActivityEvent.photographer_id == photographer_id, ActivityEvent.seq > after_seq)
        .order_by(ActivityEvent.seq)
        .limit(limit)
    )
    return [
        envelope(a, contact_name=name, contact_email=email, event_title=title)
        for a, name, email, title in result.all()
    ]


async def latest_seq(session: AsyncSession, photographer_id: int) -> int:
    value = await session.scalar(
        select(Photographer.last_event_seq).where(Photographer.id == photographer_id)
    )
    return int(value or 0)


async def since_for_contact(
    session: AsyncSession, photographer_id: int, event_id: int, contact_id: int,
    after_seq: int, kinds: frozenset[str], limit: int = 500,
) -> list[dict]:
    """What one client's gallery page replays: their own conversation events newer than
    `after_seq`, the NEWEST `limit` of them, returned oldest first. A caller asking one
    more than it will send can tell that more were missed (and resync instead)."""
    result = await session.execute(
        select(ActivityEvent)
        .where(ActivityEvent.photographer_id == photographer_id,
               ActivityEvent.event_id == event_id, ActivityEvent.contact_id == contact_id,
               ActivityEvent.kind.in_(kinds), ActivityEvent.seq > after_seq)
        .order_by(ActivityEvent.seq.desc())
        .limit(limit)
    )
    return [envelope(a) for a in reversed(result.scalars().all())]
