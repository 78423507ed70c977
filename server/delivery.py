"""SEND FILES TO DOWNLOAD: a signed, expiring link that downloads exactly a client's
favorited images as a streaming ZIP, sent by email through the outbox."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from zipstream import ZipStream

from . import activity, mail
from .activity_report import favorites_of
from .contacts import get_contact
from .downloads import build_zip, safe_name
from .errors import DomainError, Invalid
from .galleries import get_event
from .media import MediaStore
from .models import Download, Event, Image, Photographer
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
        self.studio = {"name": studio.business_name or studio.name,
                       "email": studio.email} if studio is not None else None
        self.status_code = status_code


def _release_mark(event: Event) -> int | None:
    """Which release of the gallery a link belongs to: setting the gallery back to draft
    and releasing it again gives a new mark, so every earlier link stays revoked."""
    return int(event.released_at.timestamp() * 1000) if event.released_at else None


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


async def send_favorites(
    session: AsyncSession, *, secret: str, base_url: str, photographer_id: int, event_id: int,
    contact_id: int,
):
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
    return await mail.queue_email(
        session, photographer_id, kind="favorites_download", recipient=contact.email,
        subject=f"Your favorites from {event.title} are ready to download",
        body_text=EMAILS.get_template("email/favorites_download.txt").render(context),
        body_html=EMAILS.get_template("email/favorites_download.html").render(context),
        contact_id=contact.id, event_id=event.id,
    )


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


async def favorites_zip(session: AsyncSession, media: MediaStore, secret: str,
                        token: str) -> tuple[ZipStream, str]:
    data = read_link(secret, token)
    studio = await session.get(Photographer, data["p"]) if isinstance(data["p"], int) else None
    if data["expired"]:
        raise LinkClosed("This download link has expired.", studio)
    event = await session.scalar(
        select(Event).where(Event.id == data["e"], Event.photographer_id == data["p"])
    )
    # Deleting or unpublishing the gallery revokes its links (links made before release
    # marks existed carry none: they live while the gallery is released).
    if (event is None or event.status != "released"
            or data.get("r", _release_mark(event)) != _release_mark(event)):
        raise LinkClosed("This download link is no longer available.", studio)
    ids = [int(i) for i in data["i"]][:5000]
    images = list(await session.scalars(
        select(Image)
        .where(Image.id.in_(ids), Image.event_id == event.id, Image.state == "ready")
        .order_by(Image.position, Image.id)
    ))
    if not images:
        raise LinkClosed("These photos are no longer available.", studio)
    stream = build_zip(media, event, images)
    session.add(Download(
        photographer_id=event.photographer_id, event_id=event.id, contact_id=data["c"],
        kind="bulk", scope="favorites", size=event.download_size, bytes=len(stream),
        file_count=len(images),
    ))
    activity.record(
        session, event.photographer_id, "download_bulk", event_id=event.id,
        contact_id=data["c"],
        payload={"scope": "favorites", "files": len(images), "bytes": len(stream),
                 "via": "emailed link"},
    )
    # Like the gallery's own ZIP: a title typed with quotes, slashes or a line break
    # must not reach the Content-Disposition header as is.
    title = " ".join(re.sub(r"[^\w\- ]+", "", " ".join(event.title.split())).split())
    title = safe_name(title[:60]).strip() or "gallery"
    return stream, f"{title} - favorites.zip"
