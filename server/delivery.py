"""SEND FILES TO DOWNLOAD: a signed, expiring link that downloads exactly a client's
favorited images as a streaming ZIP, sent by email through the outbox."""

from __future__ import annotations

import re
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from zipstream import ZipStream

from . import activity, mail
from .activity_report import favorites_of
from .contacts import get_contact
from .downloads import build_zip, safe_name
from .errors import DomainError, Invalid, NotFound
from .galleries import get_event
from .media import MediaStore
from .models import Download, Event, Image, Photographer
from .templating import EMAILS

LINK_LIFETIME = timedelta(days=30)
SALT = "proofroom.favorites-link"


class LinkExpired(DomainError):
    status_code = 410


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
        {"p": photographer_id, "e": event.id, "c": contact.id,
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
        data = _serializer(secret).loads(token, max_age=int(LINK_LIFETIME.total_seconds()))
    except SignatureExpired:
        raise LinkExpired(
            "This download link has expired. Ask your photographer for a new one."
        ) from None
    except BadSignature:
        raise NotFound("This download link is not valid.") from None
    if not isinstance(data, dict) or not all(k in data for k in "peci"):
        raise NotFound("This download link is not valid.")
    return data


async def favorites_zip(session: AsyncSession, media: MediaStore, secret: str,
                        token: str) -> tuple[ZipStream, str]:
    data = read_link(secret, token)
    event = await session.scalar(
        select(Event).where(Event.id == data["e"], Event.photographer_id == data["p"])
    )
    if event is None:
        raise NotFound("This gallery no longer exists.")
    ids = [int(i) for i in data["i"]][:5000]
    images = list(await session.scalars(
        select(Image)
        .where(Image.id.in_(ids), Image.event_id == event.id, Image.state == "ready")
        .order_by(Image.position, Image.id)
    ))
    if not images:
        raise NotFound("These photos are no longer available.")
    stream = build_zip(media, event, images)
    session.add(Download(
        photographer_id=event.photographer_id, event_id=event.id, contact_id=data["c"],
        kind="bulk", scope="favorites", size=event.download_size, bytes=len(stream),
        file_count=len(images),
    ))
    await activity.record(
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
