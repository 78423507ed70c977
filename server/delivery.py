"""SEND FILES TO DOWNLOAD: a signed, expiring link that downloads exactly a client's
favorited images as a streaming ZIP, sent by email through the outbox."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from zipstream import ZipStream

from . import activity, brand, mail
from .activity_report import favorites_of
from .contacts import get_contact
from .downloads import allowed_sizes, build_zip, prepare, safe_name
from .errors import DomainError, Invalid
from .galleries import get_event
from .media import MediaStore
from .models import Download, Event, Image, OutboundEmail, Photographer
from .templating import EMAILS

LINK_LIFETIME = timedelta(days=30)
SALT = "proofroom.favorites-link"


class LinkClosed(DomainError):
    """A link that no longer works (expired, revoked, forged). `studio` names whom to ask
    for a new one, when the link says whose it was."""

    status_code = 410

    def __init__(self, message: str, studio: Photographer | None = None,
                 status_code: int = 410) -> None:
        super().__init__(message)
        # Plain values: the exception outlives the (rolled back) session.
        # The page shows the studio's name, logo, colour and contact (server/brand.py).
        self.studio = brand.brand_of(studio) if studio is not None else None
        self.status_code = status_code


def _release_mark(event: Event) -> int | None:
    """Which release of the gallery a link belongs to: setting the gallery back to draft
    and releasing it again gives a new mark, so every earlier link stays revoked."""
    return int(event.released_at.timestamp() * 1000) if event.released_at else None


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


async def favorites_email(
    session: AsyncSession, *, secret: str, base_url: str, photographer_id: int, event_id: int,
    contact_id: int,
) -> dict[str, Any]:
    """SEND FILES's email (mail.queue's fields), read and rendered in a reader session so
    that the write (`send_favorites`) only queues it."""
    event = await get_event(session, photographer_id, event_id)
    contact = await get_contact(session, photographer_id, contact_id)
    favorites = await favorites_of(session, photographer_id, event.id, contact.id)
    if not favorites:
        raise Invalid("This client has no favorites in this gallery to send.")
    token = _serializer(secret).dumps(
        {"p": photographer_id, "e": event.id, "c": contact.id, "r": _release_mark(event),
         "i": [image.id for _, image in favorites]}
    )
    photographer = await session.get(Photographer, photographer_id)
    context = {
        "contact": contact, "event": event, "photographer": photographer,
        "count": len(favorites), "link": f"{base_url}/d/{token}",
        "days": LINK_LIFETIME.days,
    }
    return {
        "photographer_id": photographer_id, "kind": "favorites_download",
        "recipient": contact.email,
        "subject": f"Your favorites from {event.title} are ready to download",
        "body_text": EMAILS.get_template("email/favorites_download.txt").render(context),
        "body_html": EMAILS.get_template("email/favorites_download.html").render(context),
        "contact_id": contact.id, "event_id": event.id,
    }


def send_favorites(session: Session, email: dict[str, Any]) -> OutboundEmail:
    """Queue the email `favorites_email` made (sent after the commit)."""
    return mail.queue(session, **email)


@dataclass
class SentFiles:
    """The newest SEND FILES email to a contact for a gallery: to whom, its state in the
    mail log and the link it carries (to copy by hand when no mail server sends it)."""

    recipient: str
    state: str
    link: str


_LINK = re.compile(r"\S+/d/[A-Za-z0-9_\-.]+")


async def last_sent(session: AsyncSession, photographer_id: int, event_id: int,
                    contact_id: int) -> SentFiles | None:
    """What the page says after SEND FILES: the email just queued, read back from the
    outbox (the redirect carries no link: it would end up in logs and history)."""
    email = await session.scalar(
        select(OutboundEmail)
        .where(OutboundEmail.photographer_id == photographer_id,
               OutboundEmail.event_id == event_id, OutboundEmail.contact_id == contact_id,
               OutboundEmail.kind == "favorites_download")
        .order_by(OutboundEmail.id.desc()).limit(1)
    )
    if email is None:
        return None
    found = _LINK.search(email.body_text)
    return SentFiles(email.recipient, email.state, found.group(0) if found else "")


def read_link(secret: str, token: str) -> dict:
    try:
        data, signed_at = _serializer(secret).loads(token, return_timestamp=True)
    except BadSignature:
        raise LinkClosed("This download link is not valid. Check that you copied all of it.",
                         status_code=404) from None
    if not isinstance(data, dict) or not all(k in data for k in "peci"):
        raise LinkClosed("This download link is not valid.", status_code=404)
    data["expired"] = signed_at.timestamp() + LINK_LIFETIME.total_seconds() < time.time()
    return data


@dataclass
class LinkedFiles:
    """What a favorites link serves: the gallery's ready images it names."""

    event: Event
    images: list[Image]
    contact_id: int


def open_link(session: Session, secret: str, token: str) -> LinkedFiles:
    """The files of a favorites link that still works, else LinkClosed (a read)."""
    data = read_link(secret, token)
    studio = session.get(Photographer, data["p"]) if isinstance(data["p"], int) else None
    if data["expired"]:
        raise LinkClosed("This download link has expired.", studio)
    event = session.scalar(
        select(Event).where(Event.id == data["e"], Event.photographer_id == data["p"])
    )
    # Deleting or unpublishing the gallery revokes its links (links made before release
    # marks existed carry none: they live while the gallery is released).
    if (event is None or event.status != "released"
            or data.get("r", _release_mark(event)) != _release_mark(event)):
        raise LinkClosed("This download link is no longer available.", studio)
    ids = [int(i) for i in data["i"]][:5000]
    images = list(session.scalars(
        select(Image)
        .where(Image.id.in_(ids), Image.event_id == event.id, Image.state == "ready")
        .order_by(Image.position, Image.id)
    ))
    if not images:
        raise LinkClosed("These photos are no longer available.", studio)
    return LinkedFiles(event, images, data["c"])


async def link_zip(media: MediaStore, link: LinkedFiles) -> tuple[ZipStream, str]:
    """The ZIP (the largest size the gallery offers) and its file name: disk work (a
    missing high-res copy made in a thread), so outside any unit of work."""
    # Like the gallery's own ZIP: a title typed with quotes, slashes or a line break
    # must not reach the Content-Disposition header as is.
    title = " ".join(re.sub(r"[^\w\- ]+", "", " ".join(link.event.title.split())).split())
    title = safe_name(title[:60]).strip() or "gallery"
    size = allowed_sizes(link.event)[0]
    await prepare(media, link.images, size)
    return build_zip(media, link.event, link.images, size), f"{title} - favorites.zip"


def record_download(session: Session, link: LinkedFiles, size: int) -> None:
    """Log the link's ZIP download of `size` bytes (before its first byte leaves)."""
    event = link.event
    session.add(Download(
        photographer_id=event.photographer_id, event_id=event.id, contact_id=link.contact_id,
        kind="bulk", scope="favorites", size=allowed_sizes(event)[0], bytes=size,
        file_count=len(link.images),
    ))
    activity.record(
        session, event.photographer_id, "download_bulk", event_id=event.id,
        contact_id=link.contact_id,
        payload={"scope": "favorites", "files": len(link.images), "bytes": size,
                 "via": "emailed link"},
    )
