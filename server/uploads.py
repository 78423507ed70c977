"""Uploads: accept an image into an event, and the job that makes its thumbnail and preview.

The request only validates and stores the original; resizing runs in an arq job (rule 5:
the job calls `process_image` here). The original file name is kept exactly as uploaded,
for Lightroom round trips, but never used for anything on disk.
"""

from __future__ import annotations

import asyncio
import secrets

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


async def add_image(
    session: AsyncSession,
    media: MediaStore,
    photographer_id: int,
    event_id: int,
    *,
    filename: str,
    data: bytes,
    max_pixels: int,
) -> Image:
    event = await get_event(session, photographer_id, event_id)
    filename = clean_filename(filename)
    checked = await asyncio.to_thread(check_upload, data, max_pixels)
    storage_key = f"{secrets.token_hex(16)}.{checked.extension}"
    position = (
        await session.scalar(
            select(func.coalesce(func.max(Image.position), 0)).where(Image.event_id == event.id)
        )
    ) + 1
    await asyncio.to_thread(media.write, "original", storage_key, data)
    image = Image(
        photographer_id=photographer_id,
        event_id=event.id,
        filename=filename,
        storage_key=storage_key,
        position=position,
        width=checked.width,
        height=checked.height,
        bytes=len(data),
        state="processing",
    )
    session.add(image)
    try:
        await session.flush()
    except Exception:
        media.remove(storage_key)
        raise
    # The job id names this upload, not just the row id: SQLite reuses the id of a deleted
    # last row, and arq would drop the new job while the old one's result is kept.
    outbox_of(session).enqueue(PROCESS_JOB, image.id,
                               job_id=f"process-image-{image.id}-{storage_key}")
    return image


async def process_image(session: AsyncSession, media: MediaStore, image_id: int) -> str:
    """Make the derived sizes. Idempotent: only an image still 'processing' is touched."""
    image = await session.scalar(select(Image).where(Image.id == image_id))
    if image is None or image.state != "processing":
        return "skipped"
    original = media.variant_path("original", image.storage_key)
    try:
        data = await asyncio.to_thread(original.read_bytes)
        thumb, _, _ = await asyncio.to_thread(render_variant, data, THUMB_SIZE)
        preview, pw, ph = await asyncio.to_thread(render_variant, data, PREVIEW_SIZE)
    except Exception as exc:  # a file that passed the check but fails to render
        image.state, image.error = "failed", f"Could not process this image: {exc}"[:300]
        await session.flush()
        return "failed"
    key = media.derived_key(image.storage_key)
    await asyncio.to_thread(media.write, "thumb", key, thumb)
    await asyncio.to_thread(media.write, "preview", key, preview)
    # The conditional update is the claim: a duplicate job that got here too changes nothing.
    claimed = await session.execute(
        update(Image)
        .where(Image.id == image.id, Image.state == "processing")
        .values(state="ready", error=None)
    )
    if claimed.rowcount:
        outbox_of(session).publish(
            tenant_channel(image.photographer_id),
            {"type": "image", "image_id": image.id, "event_id": image.event_id, "state": "ready"},
        )
    return "ready"


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
