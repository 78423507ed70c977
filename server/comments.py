"""Comments on images: plain text, stored as given, never rendered as HTML.

A client's thread about an image holds their messages and the photographer's replies. A
verified browser sees the whole thread; an unverified one (see server/devices.py) only the
messages it wrote and the replies written after its first message in that thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from . import activity, validation
from .models import Comment, Event
from .public import Guest, device_marks, gallery_image

MAX_COMMENT = 2000


def add_client_comment(
    session: Session, event: Event, guest: Guest, image_id: int, body: str
) -> Comment:
    body = validation.text(body, "Comment", max_len=MAX_COMMENT)
    image = gallery_image(session, event, image_id)
    comment = Comment(
        photographer_id=guest.photographer_id,
        event_id=event.id,
        image_id=image.id,
        contact_id=guest.contact_id,
        author="client",
        body=body,
        read_by_photographer=False,
        read_by_client=True,
        device_id=guest.device_id,
    )
    session.add(comment)
    session.flush()
    activity.record(
        session,
        guest.photographer_id,
        "comment_added",
        event_id=event.id,
        contact_id=guest.contact_id,
        payload={
            "comment_id": comment.id,
            "image_id": image.id,
            "filename": image.filename,
            "body": body[:280],
            **device_marks(guest),
        },
    )
    return comment


# Built once: making an alias costs ~1 ms of column bookkeeping, on every gallery view.
_MINE = aliased(Comment, name="own_comment")


def visible_to(guest: Guest):
    """The condition on Comment rows (of this guest's contact) their browser may see."""
    if guest.verified:
        return true()
    first_own = (
        select(func.min(_MINE.id))
        .where(_MINE.contact_id == Comment.contact_id, _MINE.image_id == Comment.image_id,
               _MINE.device_id == guest.device_id)
        .scalar_subquery()
    )
    return or_(Comment.device_id == guest.device_id,
               and_(Comment.author == "photographer", Comment.id > first_own))


async def first_own_comment_ids(session: AsyncSession, guest: Guest) -> dict[int, int]:
    """image id -> id of this browser's first comment on it (in this gallery): replies
    with a greater id are in a thread it started."""
    rows = await session.execute(
        select(Comment.image_id, func.min(Comment.id))
        .where(Comment.event_id == guest.event_id, Comment.contact_id == guest.contact_id,
               Comment.device_id == guest.device_id)
        .group_by(Comment.image_id)
    )
    return dict(rows.all())


def thread(session: Session, guest: Guest, image_id: int) -> list[Comment]:
    """One client's conversation about one image, oldest first (only their own, and of it
    only what this browser may see)."""
    rows = session.scalars(
        select(Comment)
        .where(
            Comment.event_id == guest.event_id,
            Comment.contact_id == guest.contact_id,
            Comment.image_id == image_id,
            visible_to(guest),
        )
        .order_by(Comment.created_at, Comment.id)
    )
    return list(rows)


@dataclass
class Threads:
    """This client's conversations in a gallery, as their browser may see them."""

    counts: dict[int, int] = field(default_factory=dict)  # image id -> messages
    unread: set[int] = field(default_factory=set)  # images with a reply not yet seen


async def threads_of(session: AsyncSession, guest: Guest) -> Threads:
    """One read: message counts per image, and where the photographer's reply is unread."""
    rows = await session.execute(
        select(Comment.image_id, Comment.author, Comment.read_by_client).where(
            Comment.event_id == guest.event_id, Comment.contact_id == guest.contact_id,
            visible_to(guest),
        )
    )
    threads = Threads()
    for image_id, author, read in rows:
        threads.counts[image_id] = threads.counts.get(image_id, 0) + 1
        if author == "photographer" and not read:
            threads.unread.add(image_id)
    return threads


def mark_read_by_client(session: Session, guest: Guest, image_id: int) -> int:
    result = session.execute(
        update(Comment)
        .where(Comment.event_id == guest.event_id, Comment.contact_id == guest.contact_id,
               Comment.image_id == image_id, Comment.author == "photographer",
               Comment.read_by_client.is_(False), visible_to(guest))
        .values(read_by_client=True)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def unread_replies(rows: list[Comment]) -> bool:
    """Whether a thread holds a photographer's reply the client has not seen yet."""
    return any(c.author == "photographer" and not c.read_by_client for c in rows)


def add_and_read_thread(session: Session, event: Event, guest: Guest, image_id: int,
                        body: str) -> list[Comment]:
    """The client's comment POST as one unit: add it, read the thread back (as it was
    before marking) and mark the photographer's replies in it read."""
    add_client_comment(session, event, guest, image_id, body)
    rows = thread(session, guest, image_id)
    if unread_replies(rows):
        mark_read_by_client(session, guest, image_id)
    return rows
