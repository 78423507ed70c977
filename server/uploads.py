"""Uploads: accept an image into an event, and the job that makes its thumbnail and preview.

The request only validates and stores the original; resizing runs in an arq job (rule 5:
the job calls `process` here). The original file name is kept exactly as uploaded,
for Lightroom round trips, but never used for anything on disk.

The image row is the job's truth (server/reconcile.py). A `processing` row without a
lease waits for a job; the job leases it with one conditional UPDATE (so a duplicate job
does nothing), and ends it `ready`, or `failed` with the reason the gallery editor shows.
A lease that ran out belonged to a worker that died: the row is taken back and tried
again, up to MAX_ATTEMPTS claims.

Each write (the upload's rows, the claim, the outcome) is a plain (sync) unit of work run
by `db.write` (server/db.py); decoding and resizing stay outside any of them.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .errors import Invalid, NotFound
from .events import photos_changed, tenant_channel
from .galleries import find_event, photo_order
from .imaging import check_upload, oriented_size, render_variant
from .media import LARGE_SIZE, PREVIEW_SIZE, THUMB_SIZE, MediaStore
from .models import Event, Image, utcnow
from .outbox import outbox_of

PROCESS_JOB = "process_image"
MAX_ATTEMPTS = 5
#: How long a claim holds an image; the worker cancels a job after two thirds of it.
LEASE = timedelta(minutes=3)
#: Wait before attempt 2, 3, 4, 5 after an error that may pass (a shared volume away).
RETRY_DELAYS = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2),
                timedelta(minutes=10))

#: Rows that need a job (reconcile enqueues them), and rows a job holds.
WAITING = and_(Image.state == "processing", Image.leased_until.is_(None))
LEASED = and_(Image.state == "processing", Image.leased_until.is_not(None))


def job_id(image: Image) -> str:
    """One id per attempt. It names the upload, not just the row: SQLite reuses the id of
    a deleted last row, and arq would drop the new job while the old one's result is kept."""
    return f"process-image-{image.id}-{image.storage_key}-{image.attempts + 1}"


def clean_filename(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("The file has no name.")
    if len(name) > 255 or any(ord(c) < 32 for c in name):
        raise Invalid("The file name is too long or contains control characters.")
    return name


@dataclass
class Staged:
    """An upload checked and written to the media root, not yet in the database."""

    filename: str
    storage_key: str
    width: int
    height: int
    size: int
    taken_at: datetime | None = None


async def stage(media: MediaStore, *, filename: str, data: bytes, max_pixels: int) -> Staged:
    """Validate and store the original: slow work kept outside any transaction (on SQLite
    a write transaction holds the only writer, and every client action waits for it)."""
    filename = clean_filename(filename)
    checked = await asyncio.to_thread(check_upload, data, max_pixels)
    storage_key = f"{secrets.token_hex(16)}.{checked.extension}"
    await asyncio.to_thread(media.write, "original", storage_key, data)
    return Staged(filename, storage_key, checked.width, checked.height, len(data),
                  checked.taken_at)


def add_images(session: Session, photographer_id: int, event_id: int,
               staged: list[Staged]) -> list[Image]:
    """Put a request's staged uploads into the event, in order, each with its processing
    job; the caller removes the files if this raises."""
    event = find_event(session, photographer_id, event_id)
    last = session.scalar(
        select(func.coalesce(func.max(Image.position), 0)).where(Image.event_id == event.id)
    )
    images = [
        Image(photographer_id=photographer_id, event_id=event.id, filename=s.filename,
              storage_key=s.storage_key, position=last + n, width=s.width, height=s.height,
              bytes=s.size, taken_at=s.taken_at, state="processing", attempts=0)
        for n, s in enumerate(staged, 1)
    ]
    session.add_all(images)
    session.flush()
    for image in images:
        outbox_of(session).enqueue(PROCESS_JOB, image.id, job_id=job_id(image))
    return images


async def upload(db, media: MediaStore, photographer_id: int, event_id: int, *,
                 filename: str, data: bytes, max_pixels: int) -> Image:
    """Stage, then record in a short unit of work; a failed record removes the file."""
    staged = await stage(media, filename=filename, data=data, max_pixels=max_pixels)
    try:
        (image,) = await db.write(add_images, photographer_id, event_id, [staged])
    except BaseException:
        media.remove(staged.storage_key)
        raise
    return image


def claim(session: Session, image_id: int, lease: timedelta = LEASE) -> Image | None:
    """Lease a processing image that waits (and is due) or whose lease ran out; None if
    it is not claimable (done, deleted, or another job holds it)."""
    now = utcnow()
    due = or_(Image.next_attempt_at.is_(None), Image.next_attempt_at <= now)
    claimed = session.execute(
        update(Image)
        .where(Image.id == image_id, Image.state == "processing",
               Image.attempts < MAX_ATTEMPTS,
               or_(and_(Image.leased_until.is_(None), due), Image.leased_until < now))
        .values(leased_until=now + lease, attempts=Image.attempts + 1, next_attempt_at=None)
    )
    if not claimed.rowcount:
        return None
    return session.scalar(select(Image).where(Image.id == image_id))


async def process(db, media: MediaStore, image_id: int, lease: timedelta = LEASE) -> str:
    """The derived-sizes job: claim, render with no transaction open, then record.
    Idempotent: only a claimable image is touched, and the final update requires the row
    to be still 'processing', so a duplicate job changes nothing."""
    image = await db.write(claim, image_id, lease)
    if image is None:
        return "skipped"
    try:
        await asyncio.to_thread(_render_all, media, image.storage_key)
    except (FileNotFoundError, PermissionError) as exc:  # a shared volume away: may pass
        if image.attempts < MAX_ATTEMPTS:
            return await _retry_later(db, image, exc)
        return await _finish(db, image, "failed", f"Could not read this image: {exc}")
    except Exception as exc:  # a file that passed the upload check but fails to render
        return await _finish(db, image, "failed", f"Could not process this image: {exc}")
    return await _finish(db, image, "ready", None)


def record_outcome(session: Session, image: Image, state: str, error: str | None) -> bool:
    """End the job's row `state` (ready or failed) and tell the panel; False if the row
    is no longer processing (deleted, or a duplicate job got there first)."""
    claimed = session.execute(
        update(Image)
        .where(Image.id == image.id, Image.state == "processing")
        .values(state=state, error=error and error[:300], leased_until=None)
    )
    if not claimed.rowcount:
        return False
    outbox_of(session).publish(
        tenant_channel(image.photographer_id),
        {"type": "image", "image_id": image.id, "event_id": image.event_id, "state": state},
    )
    if state == "ready":
        photos_changed(session, image.photographer_id, image.event_id)
    return True


async def _finish(db, image: Image, state: str, error: str | None) -> str:
    return state if await db.write(record_outcome, image, state, error) else "skipped"


def record_retry(session: Session, image: Image, due: datetime, error: str) -> None:
    """Give the row back, due again at `due`, with the job that will try it then."""
    session.execute(
        update(Image).where(Image.id == image.id, Image.state == "processing")
        .values(leased_until=None, next_attempt_at=due, error=error[:300]))
    outbox_of(session).enqueue(PROCESS_JOB, image.id, job_id=job_id(image), defer_until=due)


async def _retry_later(db, image: Image, exc: Exception) -> str:
    delay = RETRY_DELAYS[min(image.attempts, len(RETRY_DELAYS)) - 1]
    await db.write(record_retry, image, utcnow() + delay,
                   f"Attempt {image.attempts} failed, trying again: {exc}")
    return "retrying"


def _render_all(media: MediaStore, storage_key: str) -> None:
    data = media.variant_path("original", storage_key).read_bytes()
    key = media.derived_key(storage_key)
    media.write("thumb", key, render_variant(data, THUMB_SIZE)[0])
    media.write("preview", key, render_variant(data, PREVIEW_SIZE)[0])
    # The high-res download (server/downloads.py): a copy of its own only when the
    # original is larger; a smaller one is served as it is. The size is read from the header.
    if max(oriented_size(data)) > LARGE_SIZE:
        media.write("large", key, render_variant(data, LARGE_SIZE)[0])


async def list_images(
    session: AsyncSession, photographer_id: int, event_id: int, *, ready_only: bool = False
) -> list[Image]:
    query = select(Image).where(
        Image.event_id == event_id, Image.photographer_id == photographer_id
    )
    if ready_only:
        query = query.where(Image.state == "ready")
    order = await session.scalar(select(Event.photo_order).where(Event.id == event_id))
    return list(await session.scalars(query.order_by(*photo_order(order))))


def delete_image(session: Session, media: MediaStore, photographer_id: int,
                 image_id: int) -> None:
    image = get_image(session, photographer_id, image_id)
    session.delete(image)
    session.flush()
    photos_changed(session, photographer_id, image.event_id)
    key = image.storage_key
    outbox_of(session).after_commit(lambda: media.remove(key))  # never on rollback


def get_image(session: Session, photographer_id: int, image_id: int) -> Image:
    """The photographer's image, or NotFound. Sync: readers call it through
    `await session.run_sync(get_image, ...)`."""
    image = session.scalar(
        select(Image).where(Image.id == image_id, Image.photographer_id == photographer_id)
    )
    if image is None:
        raise NotFound("No such image.")
    return image
