"""The client gallery's grid: which photos it holds and what its page embeds of them.

The page renders only the first FIRST_PAGE tiles as HTML; every photo (id, file name, pixel
size) and the visitor's marks on them go in its JSON, from which gallery.js builds the rest
of the tiles as the visitor scrolls. So a view costs about the same at 50 or 5,000 photos:
the database writes the photos' JSON itself (one text value, in the gallery's order), so
Python handles no per-photo row or object, and the HTML is one page of tiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import Text, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from .galleries import photo_order
from .media import PREVIEW_SIZE, THUMB_SIZE
from .models import Event, Image

# Tiles rendered in the page's HTML (a screenful or three at any width).
FIRST_PAGE = 60

# In a <script> element: nothing in the JSON may close it or start a comment/entity.
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"})


@dataclass
class Grid:
    first_page: list[Row]  # (id, filename, width, height) of the tiles rendered as HTML
    count: int
    images_json: Markup    # [{"id", "filename", "w", "h"}, …] of every photo, HTML-safe
    cover_id: int | None   # the hero's photo: the chosen cover if it shows, else the first


def _ready(event: Event):
    # "+ 0": the tenant check stays, but the planner must not pick the photographer's
    # index (all their galleries' photos) over the gallery's.
    return (Image.event_id == event.id, Image.photographer_id + 0 == event.photographer_id,
            Image.state == "ready")


def _as_object(columns) -> tuple:
    """json_object's / json_build_object's arguments: keys inlined (PostgreSQL cannot type
    a bound key), then the columns."""
    keys = [literal_column(f"'{key}'") for key in ("id", "filename", "w", "h")]
    return tuple(x for pair in zip(keys, columns, strict=True) for x in pair)


async def _all_as_json(session: AsyncSession, event: Event, order: tuple) -> tuple[int, str]:
    """(how many, their JSON array in `order`), written by the database."""
    if session.get_bind().dialect.name == "postgresql":
        # As text: the driver would decode json into Python objects, only to re-encode.
        query = select(func.count(), cast(func.json_agg(aggregate_order_by(
            func.json_build_object(*_as_object(
                (Image.id, Image.filename, Image.width, Image.height))), *order)), Text)
        ).where(*_ready(event))
    else:
        # SQLite aggregates an ordered subquery in its order (it is not flattened).
        rows = (select(Image.id, Image.filename, Image.width, Image.height)
                .where(*_ready(event)).order_by(*order).subquery())
        query = select(func.count(), func.json_group_array(
            func.json_object(*_as_object((rows.c.id, rows.c.filename, rows.c.width,
                                          rows.c.height))), type_=Text))
    count, text = (await session.execute(query)).one()
    return count, text or "[]"


async def grid(session: AsyncSession, event: Event) -> Grid:
    """The gallery's ready photos in its order: the first page as rows, all as JSON."""
    order = photo_order(await session.scalar(
        select(Event.photo_order).where(Event.id == event.id)))
    first = list(await session.execute(
        select(Image.id, Image.filename, Image.width, Image.height)
        .where(*_ready(event)).order_by(*order).limit(FIRST_PAGE)))
    count, text = await _all_as_json(session, event, order)
    cover_id = event.cover_image_id and await session.scalar(
        select(Image.id).where(Image.id == event.cover_image_id, *_ready(event)))
    return Grid(first, count, Markup(text.translate(_HTML_SAFE)),
                cover_id or (first[0].id if first else None))


def grid_context(grid: Grid, favs: set[int], threads: dict[int, int],
                 unread: set[int]) -> dict[str, Any]:
    """gallery.html's grid: the first page of tiles, and every photo and this visitor's
    marks on them (favorites, comment counts, unread replies) for the page's JSON."""
    return {
        "images": grid.first_page, "image_count": grid.count, "cover_id": grid.cover_id,
        "favorites": favs, "threads": threads, "unread_replies": unread,
        "images_json": grid.images_json,
        "state_json": {"favorites": sorted(favs), "threads": threads,
                       "unread": sorted(unread), "page": FIRST_PAGE,
                       "sizes": {"thumb": THUMB_SIZE, "preview": PREVIEW_SIZE}},
    }
