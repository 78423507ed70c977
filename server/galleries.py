"""Events (client galleries) and gallery types: the photographer's side of a gallery.

Every function takes the photographer's id and filters on it: an id that belongs to
someone else is simply not found. The writes are plain (sync) units of work for
`db.write` (server/db.py).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import downloads, validation, watermark
from .errors import Invalid, NotFound
from .events import photos_changed
from .models import Event, GalleryType, Image, Photographer, utcnow
from .passwords import hash_password
from .store import catalog
from .workflows import planner
from .workflows.models import Workflow

DEFAULT_GALLERY_TYPES = ("Wedding", "Portrait", "School")
#: What the editor's size checkboxes offer (server/downloads.py), in their order.
DOWNLOAD_SIZES = downloads.SIZES


def add_default_gallery_types(session: Session, photographer_id: int) -> None:
    for name in DEFAULT_GALLERY_TYPES:
        session.add(GalleryType(photographer_id=photographer_id, name=name))
    session.flush()


async def gallery_types(session: AsyncSession, photographer_id: int) -> list[GalleryType]:
    rows = await session.scalars(
        select(GalleryType)
        .where(GalleryType.photographer_id == photographer_id)
        .order_by(GalleryType.name)
    )
    return list(rows)


def add_gallery_type(session: Session, photographer_id: int, name: str) -> GalleryType:
    name = validation.text(name, "Gallery type", max_len=60)
    exists = session.scalar(
        select(GalleryType.id).where(
            GalleryType.photographer_id == photographer_id,
            func.lower(GalleryType.name) == name.lower(),
        )
    )
    if exists:
        raise Invalid(f"You already have a gallery type called {name}.")
    row = GalleryType(photographer_id=photographer_id, name=name)
    session.add(row)
    session.flush()
    return row


def delete_gallery_type(session: Session, photographer_id: int, type_id: int) -> None:
    result = session.execute(
        delete(GalleryType).where(
            GalleryType.id == type_id, GalleryType.photographer_id == photographer_id
        )
    )
    if result.rowcount == 0:
        raise NotFound()


@dataclass
class EventForm:
    """What the event editor submits, already as strings from the form; a new gallery
    password arrives hashed (gallery_password_hash, before the transaction)."""

    title: str = ""
    gallery_type_id: str = ""
    event_date: str = ""
    expires_on: str = ""
    password_hash: str | None = None
    clear_password: bool = False
    download_single: bool = False
    download_bulk: bool = False
    #: The sizes clients may pick from (DOWNLOAD_SIZES keys); None leaves them as they are.
    download_sizes: list[str] | None = None
    download_pin: str = ""
    #: The store: None leaves it as it is (on for a new gallery).
    store_enabled: bool | None = None
    #: "" for the gallery type's default list, else a price list id; None leaves it.
    price_list_id: str | None = None
    #: The new gallery password as typed (the {password} merge field of workflow emails).
    client_password: str = ""
    #: Gallery Workflows: True opts the gallery out; None leaves it.
    workflows_off: bool | None = None
    #: "" to follow the gallery type's workflow, else a workflow id; None leaves it.
    workflow_id: str | None = None
    #: taken | filename | manual (PHOTO_ORDERS); None leaves it.
    photo_order: str | None = None
    #: The watermark fieldset (server/watermark.py): None leaves it as it is.
    watermark: bool | None = None
    watermark_text: str = ""
    watermark_position: str = "center"
    watermark_opacity: int = 35
    watermark_kind: str = "text"  # text | logo (watermark.KINDS)


async def gallery_password_hash(password: str) -> str | None:
    """The hash of a new gallery password (None when none was typed). Awaited before the
    write transaction opens: argon2 must not hold SQLite's writer lock."""
    if not password:
        return None
    return await hash_password(validation.text(password, "Gallery password", max_len=100))


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:50] or "gallery"
    # 64 random bits: an unprotected gallery is as private as its address is unguessable.
    return f"{base}-{secrets.token_hex(8)}"


def _parse_day(value: str, label: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{label} must be a date like 2026-06-30.") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _apply_form(session: Session, event: Event, form: EventForm) -> None:
    event.title = validation.text(form.title, "Title", max_len=200)
    type_id = None
    if form.gallery_type_id:
        try:
            type_id = int(form.gallery_type_id)
        except ValueError:
            raise Invalid("Pick a gallery type from the list.") from None
        owned = session.scalar(
            select(GalleryType.id).where(
                GalleryType.id == type_id, GalleryType.photographer_id == event.photographer_id
            )
        )
        if not owned:
            raise Invalid("Pick a gallery type from the list.")
    event.gallery_type_id = type_id
    event.event_date = _parse_day(form.event_date, "Event date")
    event.expires_at = _parse_day(form.expires_on, "Expiry date")
    if form.password_hash:
        event.password_hash = form.password_hash
        event.client_password = form.client_password or None
    elif form.clear_password:
        event.password_hash = event.client_password = None
    event.download_single = form.download_single
    event.download_bulk = form.download_bulk
    if form.download_sizes is not None:
        _apply_sizes(event, form.download_sizes)
    pin = (form.download_pin or "").strip()
    if pin and not re.fullmatch(r"\d{4}", pin):
        raise Invalid("The download PIN must be exactly 4 digits.", field="download_pin")
    event.download_pin = pin or None
    if form.store_enabled is not None:
        event.store_enabled = form.store_enabled
    if form.price_list_id is not None:
        event.price_list_id = catalog.chosen_price_list(session, event.photographer_id,
                                                        form.price_list_id)
    _apply_photos(session, event, form)
    _apply_workflow(session, event, form)


def _apply_sizes(event: Event, sizes: list[str]) -> None:
    """The download sizes clients may pick from: at least one, each a known one."""
    if not sizes:
        raise Invalid("Pick at least one download size.", field="download_sizes")
    if any(size not in DOWNLOAD_SIZES for size in sizes):
        raise Invalid("Pick the download sizes from the list.", field="download_sizes")
    event.download_sizes = downloads.sizes_value(sizes)
    # The legacy single size, for an older Proofroom reading this database.
    event.download_size = "web" if event.download_sizes == "web" else "original"


def _apply_photos(session: Session, event: Event, form: EventForm) -> None:
    """How the gallery orders and marks its photos."""
    if form.watermark is not None:
        studio = session.get(Photographer, event.photographer_id)
        for name, value in watermark.checked(form.watermark, form.watermark_text,
                                             form.watermark_position,
                                             form.watermark_opacity, form.watermark_kind,
                                             bool((studio.brand or {}).get("logo"))).items():
            setattr(event, name, value)
    if form.photo_order is not None and event.id is not None:
        if form.photo_order != event.photo_order:
            set_photo_order(session, event.photographer_id, event.id, form.photo_order)
    elif form.photo_order is not None:
        if form.photo_order not in PHOTO_ORDERS:
            raise Invalid("Pick capture time, file name or your own order.", field="order")
        event.photo_order = form.photo_order


def _apply_workflow(session: Session, event: Event, form: EventForm) -> None:
    """The gallery's workflow choice (update_event re-plans right after)."""
    if form.workflows_off is not None:
        event.workflows_off = form.workflows_off
    if form.workflow_id is None:
        return
    picked = None
    if form.workflow_id:
        if form.workflow_id.isdigit():  # only the photographer's own workflow is theirs
            picked = session.scalar(select(Workflow.id).where(
                Workflow.id == int(form.workflow_id),
                Workflow.photographer_id == event.photographer_id))
        if picked is None:
            raise Invalid("Pick a workflow from the list.", field="workflow_id")
    event.workflow_id = picked


def new_event(session: Session, photographer_id: int, form: EventForm) -> Event:
    event = Event(photographer_id=photographer_id, status="draft")
    _apply_form(session, event, form)
    event.slug = slugify(event.title)
    session.add(event)
    session.flush()
    planner.plan(session, event)
    return event


def update_event(session: Session, photographer_id: int, event_id: int,
                 form: EventForm) -> Event:
    event = find_event(session, photographer_id, event_id)
    _apply_form(session, event, form)
    event.updated_at = utcnow()
    session.flush()
    # A new expiry, type or workflow moves the schedule in this same transaction.
    planner.plan(session, event)
    return event


def find_event(session: Session, photographer_id: int, event_id: int) -> Event:
    """The photographer's gallery, or NotFound. Sync, so units of work use it; readers
    call it through `await session.run_sync(find_event, ...)`."""
    event = session.scalar(
        select(Event).where(Event.id == event_id, Event.photographer_id == photographer_id)
    )
    if event is None:
        raise NotFound("No such gallery.")
    return event


async def get_event(session: AsyncSession, photographer_id: int, event_id: int) -> Event:
    """The old async form of find_event, for callers not yet converted (delivery)."""
    return await session.run_sync(find_event, photographer_id, event_id)


async def list_events(session: AsyncSession, photographer_id: int) -> list[dict]:
    """Events with image counts and cover ids, newest first, in two queries."""
    events = list(
        await session.scalars(
            select(Event)
            .where(Event.photographer_id == photographer_id)
            .order_by(Event.created_at.desc(), Event.id.desc())
        )
    )
    counts = dict(
        (
            await session.execute(
                select(Image.event_id, func.count())
                .where(Image.photographer_id == photographer_id)
                .group_by(Image.event_id)
            )
        ).all()
    )
    covers = await cover_ids(session, photographer_id, events)
    return [
        {"event": e, "image_count": counts.get(e.id, 0), "cover_id": covers.get(e.id)}
        for e in events
    ]


async def cover_ids(
    session: AsyncSession, photographer_id: int, events: list[Event]
) -> dict[int, int]:
    """Image id of each event's cover: the chosen one, else its first ready image."""
    if not events:
        return {}
    ids = [e.id for e in events]
    first = (
        select(Image.event_id, func.min(Image.position).label("pos"))
        .where(Image.event_id.in_(ids), Image.state == "ready")
        .group_by(Image.event_id)
        .subquery()
    )
    rows = await session.execute(
        select(Image.event_id, Image.id).join(
            first, (first.c.event_id == Image.event_id) & (first.c.pos == Image.position)
        )
    )
    keys = {event_id: key for event_id, key in rows}
    chosen = [e.cover_image_id for e in events if e.cover_image_id]
    if chosen:
        rows = await session.execute(
            select(Image.event_id, Image.id).where(
                Image.id.in_(chosen),
                Image.photographer_id == photographer_id,
                Image.state == "ready",
            )
        )
        keys.update(dict(rows.all()))
    return keys


def delete_event(session: Session, photographer_id: int, event_id: int) -> list[str]:
    """Delete the event and its rows; returns the image storage keys for file clean-up
    (the caller's, once the unit has committed)."""
    event = find_event(session, photographer_id, event_id)
    keys = list(session.scalars(select(Image.storage_key).where(Image.event_id == event.id)))
    session.delete(event)
    session.flush()
    return keys


def change_status(session: Session, photographer_id: int, event_id: int, status: str) -> Event:
    event = find_event(session, photographer_id, event_id)
    if status not in ("draft", "released"):
        raise Invalid("Unknown status.")
    if status == "released" and event.status != "released":
        event.released_at = utcnow()
    event.status = status
    session.flush()
    planner.plan(session, event)
    return event


def set_cover(session: Session, photographer_id: int, event_id: int, image_id: int) -> Event:
    event = find_event(session, photographer_id, event_id)
    owned = session.scalar(
        select(Image.id).where(Image.id == image_id, Image.event_id == event.id)
    )
    if not owned:
        raise NotFound("No such image in this gallery.")
    event.cover_image_id = image_id
    session.flush()
    return event


# --- photo order ---------------------------------------------------------------------------

PHOTO_ORDERS = {"taken": "Capture time", "filename": "File name", "manual": "My own order"}


def photo_order(order: str | None) -> tuple:
    """ORDER BY for a gallery's photos: capture time (photos without one after, by file
    name), file name, or the photographer's own (position). Ties: upload order."""
    if order == "manual":
        return (Image.position, Image.id)
    by_name = (Image.filename, Image.position, Image.id)
    if order == "filename":
        return by_name
    return (case((Image.taken_at.is_(None), 1), else_=0), Image.taken_at, *by_name)


def set_photo_order(session: Session, photographer_id: int, event_id: int,
                    order: str, image_ids: list[int] | None = None) -> Event:
    """Order the gallery by capture time or file name, or by hand: `image_ids` (every
    photo of the gallery, each once) in their new order; going manual without them keeps
    the order shown now as the starting point."""
    event = find_event(session, photographer_id, event_id)  # another's: 404 before all
    if order not in PHOTO_ORDERS:
        raise Invalid("Pick capture time, file name or your own order.", field="order")
    current = list(session.scalars(select(Image.id).where(
        Image.event_id == event.id, Image.photographer_id == photographer_id)
        .order_by(*photo_order(event.photo_order))))
    if image_ids is not None:
        if order != "manual" or sorted(image_ids) != sorted(current):
            raise Invalid("The order must list every photo of this gallery once.",
                          field="ids")
        current = image_ids
    if order == "manual":
        for position, image_id in enumerate(current, 1):
            session.execute(update(Image).where(Image.id == image_id,
                                                Image.event_id == event.id)
                            .values(position=position)
                            .execution_options(synchronize_session=False))
    event.photo_order = order
    session.flush()
    photos_changed(session, photographer_id, event.id)
    return event
