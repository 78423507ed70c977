"""Favorites: a client marks images they love; the photographer sees and exports them."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import activity
from .models import Event, Favorite
from .public import Guest, gallery_image


async def set_favorite(session: AsyncSession, event: Event, guest: Guest, image_id: int,
                       on: bool) -> bool:
    """Make the favorite state `on`; returns whether anything changed (and was logged)."""
    image = await gallery_image(session, event, image_id)
    existing = await session.scalar(
        select(Favorite.id).where(
            Favorite.image_id == image.id, Favorite.contact_id == guest.contact_id
        )
    )
    if on == bool(existing):
        return False
    if on:
        session.add(
            Favorite(
                photographer_id=guest.photographer_id,
                event_id=event.id,
                image_id=image.id,
                contact_id=guest.contact_id,
            )
        )
    else:
        await session.execute(delete(Favorite).where(Favorite.id == existing))
    await session.flush()
    await activity.record(
        session,
        guest.photographer_id,
        "favorite_added" if on else "favorite_removed",
        event_id=event.id,
        contact_id=guest.contact_id,
        payload={"image_id": image.id, "filename": image.filename},
    )
    return True


async def favorite_ids(session: AsyncSession, guest: Guest) -> set[int]:
    rows = await session.scalars(
        select(Favorite.image_id).where(
            Favorite.event_id == guest.event_id, Favorite.contact_id == guest.contact_id
        )
    )
    return set(rows)
