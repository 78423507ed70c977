"""The client gallery's grid: which photos it holds and what its page embeds of them.

The page renders only the first FIRST_PAGE tiles as HTML. Every photo (id, file name, pixel
size, set) is in the gallery's photos.json, which gallery.js fetches as the page loads and
builds the rest of the tiles from as the visitor scrolls; the database writes that JSON
itself (one text value, in the gallery's order), so Python handles no per-photo row or
object. So the page's first byte costs the same at 50 or 5,000 photos, and the HTML is one
page of tiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Text, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from .galleries import photo_order
from .image_sets import SetInfo
from .media import PREVIEW_SIZE, THUMB_SIZE
from .models import Event, Image, ImageSet

# Tiles rendered in the page's HTML: two screens or more under the cover at any width, and
# no more, since rendering them is a third of a view's cost (bench/gallery_page.py: 60 tiles
# cost 43 ms of CPU per view at 2,000 photos on the test machine, 30 cost 35 ms).
FIRST_PAGE = 30

@dataclass
class Grid:
    first_page: list[Row]  # (id, filename, width, height) of the tiles rendered as HTML
    count: int
    cover_id: int | None   # the hero's photo: the chosen cover if it shows, else the first
    #: The sets the client sees (non-empty, in order) and the one the page opens on (?set=):
    #: then the first page is that set's; every photo's set is its JSON's "s".
    sets: list[SetInfo] = field(default_factory=list)
    set_id: int | None = None


def _ready(event: Event):
    # "+ 0": the tenant check stays, but the planner must not pick the photographer's
    # index (all their galleries' photos) over the gallery's.
    return (Image.event_id == event.id, Image.photographer_id + 0 == event.photographer_id,
            Image.state == "ready")


def _as_object(columns) -> tuple:
    """json_object's / json_build_object's arguments: keys inlined (PostgreSQL cannot type
    a bound key), then the columns."""
    keys = [literal_column(f"'{key}'") for key in ("id", "filename", "w", "h", "s")]
    return tuple(x for pair in zip(keys, columns, strict=True) for x in pair)


async def photos_json(session: AsyncSession, event: Event) -> str:
    """Every ready photo of the gallery, in its order, as a JSON array of
    {"id", "filename", "w", "h", "s"} (s: its set), written by the database."""
    order = photo_order(event.photo_order)
    if session.get_bind().dialect.name == "postgresql":
        # As text: the driver would decode json into Python objects, only to re-encode.
        query = select(cast(func.json_agg(aggregate_order_by(
            func.json_build_object(*_as_object(
                (Image.id, Image.filename, Image.width, Image.height, Image.set_id))),
            *order)), Text)
        ).where(*_ready(event))
    else:
        # SQLite aggregates an ordered subquery in its order (it is not flattened).
        rows = (select(Image.id, Image.filename, Image.width, Image.height, Image.set_id)
                .where(*_ready(event)).order_by(*order).subquery())
        query = select(func.json_group_array(
            func.json_object(*_as_object((rows.c.id, rows.c.filename, rows.c.width,
                                          rows.c.height, rows.c.set_id))), type_=Text))
    return await session.scalar(query) or "[]"


async def grid(session: AsyncSession, event: Event, set_key: str | None = None) -> Grid:
    """The gallery's ready photos in its order: the first page as rows, all as JSON.
    `set_key` (the page's ?set=): a set of this gallery the page opens on, else ignored."""
    order = photo_order(event.photo_order)  # the event was read in this session
    count, cover_id, sets = await _summary(session, event)
    set_id = next((s.id for s in sets if str(s.id) == set_key), None)
    in_set = () if set_id is None else (Image.set_id == set_id,)
    first = list(await session.execute(
        select(Image.id, Image.filename, Image.width, Image.height)
        .where(*_ready(event), *in_set).order_by(*order).limit(FIRST_PAGE)))
    return Grid(first, count,
                cover_id or (first[0].id if first else None), sets, set_id)


async def _summary(session: AsyncSession, event: Event
                   ) -> tuple[int, int | None, list[SetInfo]]:
    """How many photos show, the chosen cover if it is one of them, and the sets a client
    sees (those with a ready photo, in the photographer's order), in one read: each query
    costs a gallery view about as much as its SQL."""
    groups = (select(Image.set_id, func.count().label("n"), func.max(
                  case((Image.id == (event.cover_image_id or 0), Image.id))).label("cover"))
              .where(*_ready(event)).group_by(Image.set_id).subquery())
    rows = (await session.execute(
        select(groups.c.n, groups.c.cover, ImageSet.id, ImageSet.name)
        .outerjoin(ImageSet, (ImageSet.id == groups.c.set_id)
                   & (ImageSet.event_id == event.id)
                   & (ImageSet.photographer_id == event.photographer_id))
        .order_by(ImageSet.position, ImageSet.id))).all()
    sets = [SetInfo(row.id, row.name, row.n) for row in rows if row.id is not None]
    cover = next((row.cover for row in rows if row.cover is not None), None)
    return sum(row.n for row in rows), cover, sets


class Tile(NamedTuple):
    """One tile of the page's HTML, its numbers worked out here (see gallery.html)."""

    id: int
    filename: str
    w: int
    h: int
    ar: str         # CSS --ar, width / height
    thumb_w: int    # srcset widths of the thumb and the preview
    preview_w: int
    sizes: str
    fav: bool
    threads: int
    unread: bool


def tiles(rows: list[Row], favs: set[int], threads: dict[int, int],
          unread: set[int]) -> list[Tile]:
    out = []
    for row in rows:
        # A photo not measured yet (0 x 0) keeps a landscape tile's space.
        w, h = (row.width, row.height) if row.width and row.height else (3, 2)
        ratio, long = w / h, max(w, h)
        out.append(Tile(
            row.id, row.filename, w, h, f"{ratio:.4f}", round(w * THUMB_SIZE / long),
            round(w * PREVIEW_SIZE / long),
            f"(max-width: 600px) {round(ratio * 160)}px, {round(ratio * 300)}px",
            row.id in favs, threads.get(row.id, 0), row.id in unread))
    return out


def grid_context(grid: Grid, favs: set[int], threads: dict[int, int],
                 unread: set[int]) -> dict[str, Any]:
    """gallery.html's grid: the first page of tiles, and every photo and this visitor's
    marks on them (favorites, comment counts, unread replies) for the page's JSON."""
    return {
        "tiles": tiles(grid.first_page, favs, threads, unread), "image_count": grid.count,
        "cover_id": grid.cover_id, "favorites": favs,
        "sets": grid.sets, "set_id": grid.set_id,
        "state_json": {"favorites": sorted(favs), "threads": threads,
                       "unread": sorted(unread), "page": FIRST_PAGE, "set": grid.set_id,
                       "sizes": {"thumb": THUMB_SIZE, "preview": PREVIEW_SIZE}},
    }
