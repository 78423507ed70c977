"""Uploads: accept an image into an event, and the job that makes its thumbnail and preview.

The request only validates and stores the original; resizing runs in an arq job (rule 5:
the job calls `process_image` here). The original file name is kept exactly as uploaded,
for Lightroom round trips, but never used for anything on disk.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import Invalid, NotFound
from .events import tenant_channel
from .galleries import get_event
from .imaging import check_upload, render_variant
from .media import PREVIEW_SIZE, THUMB_SIZE, MediaStore
from .models import Image
from .outbox import outbox_of

PROCESS_JOB = "process_image"


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


async def stage(media: MediaStore, *, filename: str, data: bytes, max_pixels: int) -> Staged:
    """Validate and store the original: slow work kept outside any transaction (on SQLite
    a write transaction holds the only writer, and every client action waits for it)."""
    filename = clean_filename(filename)
    checked = await asyncio.to_thread(check_upload, data, max_pixels)
    storage_key = f"{secrets.token_hex(16)}.{checked.extension}"
    await asyncio.to_thread(media.write, "original", storage_key, data)
    return Staged(filename, storage_key, checked.width, checked.height, len(data))


async def add_image(
    session: AsyncSession, photographer_id: int, event_id: int, staged: Staged
) -> Image:
    """Put a staged upload into the event; the caller removes the file if this raises."""
    event = await get_event(session, photographer_id, event_id)
    position = (
        await session.scalar(
            select(func.coalesce(func.max(Image.position), 0)).where(Image.event_id == event.id)
        )
    ) + 1
    image = Image(
        photographer_id=photographer_id,
        event_id=event.id,
        filename=staged.filename,
        storage_key=staged.storage_key,
        position=position,
        width=staged.width,
        height=staged.height,
        bytes=staged.size,
        state="processing",
    )
    session.add(image)
    await session.flush()
    # The job id names this upload, not just the row id: SQLite reuses the id of a deleted
    # last row, and arq would drop the new job while the old one's result is kept.
    outbox_of(session).enqueue(PROCESS_JOB, image.id,
                               job_id=f"process-image-{image.id}-{staged.storage_key}")
    return image


async def upload(db, media: MediaStore, photographer_id: int, event_id: int, *,
                 filename: str, data: bytes, max_pixels: int) -> Image:
    """Stage, then record in a short transaction; a failed record removes the file."""
    staged = await stage(media, filename=filename, data=data, max_pixels=max_pixels)
    try:
        async with db.transaction() as session:
            return await add_image(session, photographer_id, event_id, staged)
    except BaseException:
        media.remove(staged.storage_key)
        raise


async def process(db, media: MediaStore, image_id: int) -> str:
    """The derived-sizes job: read, render with no transaction open, then record.
    Idempotent: only an image still 'processing' is touched, and the final conditional
    update is the claim, so a duplicate job changes nothing."""
    async with db.reader() as session:
        image = await session.scalar(select(Image).where(Image.id == image_id))
    if image is None or image.state != "processing":
        return "skipped"
    try:
        await asyncio.to_thread(_render_all, media, image.storage_key)
    except Exception as exc:  # a file that passed the check but fails to render
        async with db.transaction() as session:
            await session.execute(
                update(Image).where(Image.id == image_id, Image.state == "processing")
                .values(state="failed", error=f"Could not process this image: {exc}"[:300])
            )
        return "failed"
    async with db.transaction() as session:
        claimed = await session.execute(
            update(Image)
            .where(Image.id == image_id, Image.state == "processing")
            .values(state="ready", error=None)
        )
        if claimed.rowcount:
            outbox_of(session).publish(
                tenant_channel(image.photographer_id),
                {"type": "image", "image_id": image.id, "event_id": image.event_id,
                 "state": "ready"},
            )
    return "ready" if claimed.rowcount else "skipped"


def _render_all(media: MediaStore, storage_key: str) -> None:
    data = media.variant_path("original", storage_key).read_bytes()
    key = media.derived_key(storage_key)
    media.write("thumb", key, render_variant(data, THUMB_SIZE)[0])
    media.write("preview", key, render_variant(data, PREVIEW_SIZE)[0])


async def list_images(
    session: AsyncSession, photographer_id: int, event_id: int, *, ready_only: bool = False
) -> list[Image]:
    query = select(Image).where(
        Image.event_id == event_id, Image.photographer_id == photographer_id
    )
    if ready_only:
        query = query.where(Image.state == "ready")
    return list(await session.scalars(query.order_by(Image.position, Image.id)))


async def delete_image(
    session: AsyncSession, media: MediaStore, photographer_id: int, image_id: int
) -> None:
    image = await session.scalar(
        select(Image).where(Image.id == image_id, Image.photographer_id == photographer_id)
    )
    if image is None:
        raise NotFound("No such image.")
    await session.delete(image)
    await session.flush()
    media.remove(image.storage_key)


async def get_image(session: AsyncSession, photographer_id: int, image_id: int) -> Image:
    image = await session.scalar(
        select(Image).where(Image.id == image_id, Image.photographer_id == photographer_id)
    )
    if image is None:
        raise NotFound("No such image.")
    return image
