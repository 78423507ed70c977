"""The photographer's Comments inbox: conversations per (contact, image), like a chat app.

A conversation is every comment of one client about one image, both sides. The client's
messages carry read_by_photographer, the photographer's replies read_by_client; the inbox
shows the unread side of each. A reply emails the client unless they are on the gallery
page when it arrives (the caller says so: presence lives in Redis).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import activity, mail, validation
from .comments import MAX_COMMENT
from .errors import NotFound
from .models import Comment, Contact, Device, Event, Image, Photographer, utcnow
from .templating import EMAILS


@dataclass
class Conversation:
    contact_id: int
    image_id: int
    event_id: int
    contact_name: str
    contact_email: str
    filename: str
    event_title: str
    last_body: str
    last_author: str
    last_at: datetime
    unread: int
    count: int
    #: The client's messages written from browsers that are not verified (devices.py).
    unverified: int = 0

    def as_json(self) -> dict:
        return {**self.__dict__, "last_at": self.last_at.isoformat()}


async def inbox(session: AsyncSession, photographer_id: int, *, unread_only: bool = False,
                image_id: int | None = None, limit: int = 300) -> list[Conversation]:
    unread = func.sum(case((and_(Comment.author == "client",
                                 Comment.read_by_photographer.is_(False)), 1), else_=0))
    unverified = func.sum(case((and_(Comment.author == "client", Device.id.is_not(None),
                                     Device.verified_at.is_(None)), 1), else_=0))
    grouped = (
        select(Comment.contact_id, Comment.image_id, func.max(Comment.id).label("last_id"),
               unread.label("unread"), func.count().label("n"),
               unverified.label("unverified"))
        .outerjoin(Device, Device.id == Comment.device_id)
        .where(Comment.photographer_id == photographer_id)
        .group_by(Comment.contact_id, Comment.image_id)
        .subquery()
    )
    query = (
        select(grouped.c.contact_id, grouped.c.image_id, Comment.event_id, Contact.name,
               Contact.email, Image.filename, Event.title, Comment.body, Comment.author,
               Comment.created_at, grouped.c.unread, grouped.c.n, grouped.c.unverified)
        .join(Comment, Comment.id == grouped.c.last_id)
        .join(Contact, Contact.id == grouped.c.contact_id)
        .join(Image, Image.id == grouped.c.image_id)
        .join(Event, Event.id == Comment.event_id)
        .order_by(grouped.c.last_id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(grouped.c.unread > 0)
    if image_id is not None:
        query = query.where(grouped.c.image_id == image_id)
    return [Conversation(*row) for row in (await session.execute(query)).all()]


async def counts_by_image(session: AsyncSession, photographer_id: int,
                          event_id: int) -> dict[int, int]:
    """image id -> number of comments on it (all clients), for the gallery's photo grid."""
    rows = await session.execute(
        select(Comment.image_id, func.count())
        .where(Comment.photographer_id == photographer_id, Comment.event_id == event_id)
        .group_by(Comment.image_id)
    )
    return dict(rows.all())


async def unread_total(session: AsyncSession, photographer_id: int) -> int:
    return int(await session.scalar(
        select(func.count()).where(Comment.photographer_id == photographer_id,
                                   Comment.author == "client",
                                   Comment.read_by_photographer.is_(False))
    ) or 0)


@dataclass
class Thread:
    contact: Contact
    image: Image
    event: Event
    messages: list[Comment]


def open_thread(session: Session, photographer_id: int, contact_id: int, image_id: int) -> Thread:
    """The conversation, tenant-scoped: a guessed id of someone else's is simply not found."""
    found = session.execute(
        select(Contact, Image, Event)
        .join(Image, Image.photographer_id == Contact.photographer_id)
        .join(Event, Event.id == Image.event_id)
        .where(Contact.id == contact_id, Contact.photographer_id == photographer_id,
               Image.id == image_id)
    ).first()
    if found is None:
        raise NotFound("No such conversation.")
    messages = list(session.scalars(
        select(Comment)
        .where(Comment.photographer_id == photographer_id, Comment.contact_id == contact_id,
               Comment.image_id == image_id)
        .order_by(Comment.created_at, Comment.id)
    ))
    if not messages:
        raise NotFound("No such conversation.")
    return Thread(found[0], found[1], found[2], messages)


def read_thread(session: Session, photographer_id: int, contact_id: int,
                image_id: int) -> Thread:
    """Opening a thread: it, with the client's messages in it marked read."""
    thread = open_thread(session, photographer_id, contact_id, image_id)
    mark_read(session, photographer_id, contact_id, image_id)
    return thread


def mark_read(session: Session, photographer_id: int, contact_id: int, image_id: int) -> int:
    result = session.execute(
        update(Comment)
        .where(Comment.photographer_id == photographer_id, Comment.contact_id == contact_id,
               Comment.image_id == image_id, Comment.author == "client",
               Comment.read_by_photographer.is_(False))
        .values(read_by_photographer=True)
    )
    return result.rowcount


def mark_all_read(session: Session, photographer_id: int) -> int:
    result = session.execute(
        update(Comment)
        .where(Comment.photographer_id == photographer_id, Comment.author == "client",
               Comment.read_by_photographer.is_(False))
        .values(read_by_photographer=True)
    )
    return result.rowcount


def reply(session: Session, photographer_id: int, contact_id: int, image_id: int, body: str,
          *, client_present: bool, base_url: str) -> Comment:
    body = validation.text(body, "Reply", max_len=MAX_COMMENT)
    thread = open_thread(session, photographer_id, contact_id, image_id)
    comment = Comment(
        photographer_id=photographer_id, event_id=thread.event.id, image_id=image_id,
        contact_id=contact_id, author="photographer", body=body, read_by_photographer=True,
        read_by_client=False, created_at=utcnow(),
    )
    session.add(comment)
    session.flush()
    mark_read(session, photographer_id, contact_id, image_id)
    activity.record(
        session, photographer_id, "comment_replied", event_id=thread.event.id,
        contact_id=contact_id,
        payload={"comment_id": comment.id, "image_id": image_id,
                 "filename": thread.image.filename, "body": body[:280]},
        names={"contact_name": thread.contact.name, "contact_email": thread.contact.email,
               "event_title": thread.event.title},
    )
    if not client_present:
        _email_reply(session, thread, comment, base_url)
    return comment


def _email_reply(session: Session, thread: Thread, comment: Comment, base_url: str) -> None:
    photographer = session.get(Photographer, thread.event.photographer_id)
    context = {
        "contact": thread.contact, "event": thread.event, "image": thread.image,
        "photographer": photographer, "reply": comment.body,
        "link": f"{base_url}/g/{thread.event.slug}?image={thread.image.id}&comments=1",
    }
    studio = photographer.business_name or photographer.name
    mail.queue(
        session, photographer.id, kind="comment_reply", recipient=thread.contact.email,
        subject=f"{studio} replied to your comment on {thread.image.filename}",
        body_text=EMAILS.get_template("email/comment_reply.txt").render(context),
        body_html=EMAILS.get_template("email/comment_reply.html").render(context),
        contact_id=thread.contact.id, event_id=thread.event.id,
    )
