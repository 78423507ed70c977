"""Comments on images: plain text, stored as given, never rendered as HTML."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import activity, validation
from .models import Comment, Event
from .public import Guest, gallery_image

MAX_COMMENT = 2000


async def add_client_comment(
    session: AsyncSession, event: Event, guest: Guest, image_id: int, body: str
) -> Comment:
    body = validation.text(body, "Comment", max_len=MAX_COMMENT)
    image = await gallery_image(session, event, image_id)
    comment = Comment(
        photographer_id=guest.photographer_id,
        event_id=event.id,
        image_id=image.id,
        contact_id=guest.contact_id,
        author="client",
        body=body,
        read_by_photographer=False,
        read_by_client=True,
    )
    session.add(comment)
    await session.flush()
    await activity.record(
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
        },
    )
    return comment


async def thread(session: AsyncSession, guest: Guest, image_id: int) -> list[Comment]:
    """One client's conversation about one image, oldest first (only their own)."""
    rows = await session.scalars(
        select(Comment)
        .where(
            Comment.event_id == guest.event_id,
            Comment.contact_id == guest.contact_id,
            Comment.image_id == image_id,
        )
        .order_by(Comment.created_at, Comment.id)
    )
    return list(rows)


async def commented_image_ids(session: AsyncSession, guest: Guest) -> dict[int, int]:
    """image id -> number of messages in this client's thread on it."""
    rows = await session.execute(
        select(Comment.image_id, Comment.id).where(
            Comment.event_id == guest.event_id, Comment.contact_id == guest.contact_id
        )
    )
    counts: dict[int, int] = {}
    for image_id, _ in rows:
        counts[image_id] = counts.get(image_id, 0) + 1
    return counts


async def unread_reply_image_ids(session: AsyncSession, guest: Guest) -> set[int]:
    """Images where the photographer answered and this client has not looked yet."""
    rows = await session.scalars(
        select(Comment.image_id).where(
            Comment.event_id == guest.event_id, Comment.contact_id == guest.contact_id,
            Comment.author == "photographer", Comment.read_by_client.is_(False),
        )
    )
    return set(rows)


async def mark_read_by_client(session: AsyncSession, guest: Guest, image_id: int) -> int:
    result = await session.execute(
        update(Comment)
        .where(Comment.event_id == guest.event_id, Comment.contact_id == guest.contact_id,
               Comment.image_id == image_id, Comment.author == "photographer",
               Comment.read_by_client.is_(False))
        .values(read_by_client=True)
    )
    return result.rowcount
