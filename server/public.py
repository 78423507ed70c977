"""The client's side of a gallery: finding it by slug, the password, visits.

A `Guest` is the browser (device) the signed gate cookie names and the contact it belongs
to; every client action service takes one and checks the image really belongs to that
gallery. An unverified device (`verified=False`) sees and changes only what it did itself
(server/devices.py makes and verifies devices).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import activity
from .contacts import insert_if_absent
from .errors import DomainError, NotFound
from .models import Contact, Device, Event, Image, Photographer, Visit, utcnow
from .passwords import verify_password
from .throttle import Throttle
from .validation import storable
from .workflows import planner

#: A returning visitor counts as a new visit (and a feed entry) after this long away.
VISIT_GAP = timedelta(minutes=30)


class GalleryClosed(DomainError):
    """Expired: the client gets a clear page saying so, in the studio's brand."""

    status_code = 410

    def __init__(self, message: str, studio_id: int | None = None) -> None:
        super().__init__(message)
        #: Whose gallery it was: the error page shows that studio's name, logo and contact.
        self.studio_id = studio_id


class GalleryUnpublished(NotFound):
    """A draft (or otherwise unreleased) gallery: a 404 like a missing one, but the page
    names the studio, whom the client can ask."""

    def __init__(self, message: str, studio_id: int) -> None:
        super().__init__(message)
        self.studio_id = studio_id


class GalleryCache:
    """Galleries by slug for a couple of seconds. Every client action needs its gallery;
    re-reading it each time costs a database round trip per request. A setting changed
    in the panel reaches clients within TTL seconds (across every web process alike)."""

    TTL = 2.0
    MAX = 5000

    def __init__(self, db) -> None:
        self.db = db
        self._items: dict[str, tuple[float, Event | None]] = {}
        self._loading: dict[str, asyncio.Future] = {}

    async def get(self, slug: str, *, expired_ok: bool = False) -> Event:
        """The released gallery of `slug` (`expired_ok`: also once it has expired)."""
        if not storable(slug):  # never a slug (and PostgreSQL refuses NUL in a query)
            return check_open(None)
        hit = self._items.get(slug)
        if hit is not None and hit[0] > time.monotonic():
            return check_open(hit[1], expired_ok)
        # One read per expiry, however many requests for this gallery arrive meanwhile.
        loading = self._loading.get(slug)
        if loading is None:
            loading = self._loading[slug] = asyncio.ensure_future(self._load(slug))
            loading.add_done_callback(lambda _: self._loading.pop(slug, None))
        return check_open(await asyncio.shield(loading), expired_ok)

    async def _load(self, slug: str) -> Event | None:
        async with self.db.reader() as session:
            event = await session.scalar(select(Event).where(Event.slug == slug))
        if len(self._items) >= self.MAX:
            self._items.clear()
        self._items[slug] = (time.monotonic() + self.TTL, event)
        return event


@dataclass(frozen=True)
class Guest:
    photographer_id: int
    event_id: int
    contact_id: int
    #: The browser. None only for code acting for the contact as a whole.
    device_id: int | None = None
    #: Whether that browser followed the emailed link. A cookie alone never says so:
    #: find_guest() reads it from the database.
    verified: bool = False


def device_marks(guest: Guest) -> dict:
    """What an ActivityEvent's payload says about the browser that acted."""
    if guest.device_id is None:
        return {}
    return {"device": guest.device_id} if guest.verified else {
        "device": guest.device_id, "unverified": True}


def find_guest(session: Session, guest: Guest | None) -> Guest | None:
    """The guest the cookie claims, checked against the database: the device exists, is
    this photographer's and belongs to that contact. None otherwise (not a guest)."""
    if guest is None or guest.device_id is None:
        return None
    row = session.execute(
        select(Device.contact_id, Device.verified_at).where(
            Device.id == guest.device_id, Device.photographer_id == guest.photographer_id)
    ).first()
    if row is None or row.contact_id != guest.contact_id:
        return None
    return replace(guest, verified=row.verified_at is not None)


@dataclass(frozen=True)
class Visitor:
    """Who a gallery page is for: the checked guest, their contact, what the page calls
    them, and whether this view counts as a visit (see touch_visit)."""

    guest: Guest
    contact: Contact
    name: str
    visit_due: bool


async def find_visitor(session: AsyncSession, claimed: Guest | None) -> Visitor | None:
    """find_guest(), the contact, the name and whether a visit is due, in one read: a
    gallery view asks all four, and each query costs about as much as the page's work."""
    if claimed is None or claimed.device_id is None:
        return None
    row = (await session.execute(
        select(Device.verified_at, Device.name, Contact, Visit.last_at)
        .join(Contact, Contact.id == Device.contact_id)
        .outerjoin(Visit, (Visit.event_id == claimed.event_id)
                   & (Visit.contact_id == Device.contact_id))
        .where(Device.id == claimed.device_id,
               Device.photographer_id == claimed.photographer_id,
               Device.contact_id == claimed.contact_id,
               Contact.photographer_id == claimed.photographer_id)
    )).first()
    if row is None:
        return None
    verified, contact = row.verified_at is not None, row.Contact
    # A verified browser is the contact; an unverified one only the name typed in it.
    name = (contact.name if verified else row.name) or contact.email
    return Visitor(replace(claimed, verified=verified), contact, name,
                   row.last_at is None or utcnow() - row.last_at >= VISIT_GAP)


async def find_gallery(session: AsyncSession, slug: str) -> Event:
    if not storable(slug):  # never a slug (and PostgreSQL refuses NUL in a query)
        return check_open(None)
    return check_open(await session.scalar(select(Event).where(Event.slug == slug)))


async def gallery_and_owner(session: AsyncSession, slug: str) -> tuple[Event, Photographer]:
    """find_gallery() and its photographer in one read (a gallery view needs both)."""
    if not storable(slug):
        return check_open(None)
    row = (await session.execute(
        select(Event, Photographer).join(Photographer, Photographer.id == Event.photographer_id)
        .where(Event.slug == slug))).first()
    return check_open(row and row.Event), row.Photographer


def check_open(event: Event | None, expired_ok: bool = False) -> Event:
    if event is None:
        raise NotFound("This gallery does not exist or is not published yet.")
    if event.status != "released":
        raise GalleryUnpublished("This gallery does not exist or is not published yet.",
                                 event.photographer_id)
    if event.is_expired() and not expired_ok:
        raise GalleryClosed(
            "This gallery has expired. Contact your photographer if you still need it.",
            event.photographer_id,
        )
    return event


async def unlock(throttle: Throttle, event: Event, password: str, address: str) -> bool:
    """Check the gallery password (argon2 in a thread; no transaction is open, none is
    needed). A failure slot per gallery+address and per gallery is reserved first, so
    parallel guesses cannot overrun the limit; raises throttle.Limited when used up."""
    await throttle.unlock_attempt(event.id, address)
    if await verify_password(event.password_hash, password or ""):
        await throttle.unlock_succeeded(event.id, address)
        return True
    return False


def touch_visit(session: Session, guest: Guest, *, force: bool = False,
                      payload: dict | None = None) -> bool:
    """Record access: CREATED on the first, LAST SAVED on later ones. Writes (and logs a
    'visit', saying which browser) only on the first access or after VISIT_GAP, so page
    views stay cheap. `payload` adds to the logged event's."""
    now = utcnow()
    visit = session.scalar(
        select(Visit).where(Visit.event_id == guest.event_id, Visit.contact_id == guest.contact_id)
    )
    if visit is None:
        made = session.execute(insert_if_absent(Visit, {
            "photographer_id": guest.photographer_id, "event_id": guest.event_id,
            "contact_id": guest.contact_id, "first_at": now, "last_at": now, "count": 1,
        }, ("event_id", "contact_id"), session.get_bind().dialect.name))
        if made.first() is None:
            return False  # a concurrent request just made it: that is this very visit
        first = True
    elif force or now - visit.last_at >= VISIT_GAP:
        visit.last_at = now
        visit.count += 1
        first = False
    else:
        return False
    if guest.device_id is not None:
        device = session.get(Device, guest.device_id)
        if device is not None:
            device.last_seen_at = now
    session.flush()
    activity.record(
        session,
        guest.photographer_id,
        "visit",
        event_id=guest.event_id,
        contact_id=guest.contact_id,
        payload={"first": first, **device_marks(guest), **(payload or {})},
    )
    if first:
        planner.visitor_acted(session, guest.event_id, guest.contact_id, "first_visit")
    return True


def gallery_image(session: Session, event: Event, image_id: int) -> Image:
    image = session.scalar(
        select(Image).where(
            Image.id == image_id, Image.event_id == event.id, Image.state == "ready"
        )
    )
    if image is None:
        raise NotFound("No such image in this gallery.")
    return image


async def photographer_of(session: AsyncSession, event: Event) -> Photographer:
    return await session.get(Photographer, event.photographer_id)
