"""Sets: a gallery's photos grouped as Ceremony, Reception, Portraits … (Pixieset's sets,
Pic-Time's scenes). The photographer makes, renames, orders and deletes them and moves
photos in and out; the client gallery shows each non-empty set as a tab.

A set only filters: within it the photos keep the gallery's own order (capture time, file
name or the photographer's), so nothing here touches Image.position. A photo is in one set
or none; deleting a set leaves its photos in the gallery, in no set.

Every function takes the photographer's id and filters on it: another photographer's set,
gallery or photo is simply not found, and a request naming one changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import validation
from .errors import Invalid, NotFound
from .events import photos_changed
from .models import Event, Favorite, Image, ImageSet

#: Enough for any wedding's chapters; a tab bar longer than this helps nobody.
MAX_SETS = 50
NAME_MAX = 60
#: Photos moved in one request (a gallery's worth).
MAX_MOVE = 20_000
#: A ZIP download's scope for set N is "set:N" (downloads.images_for_scope); the Download
#: row and its activity say "set", with the set's id and name in the payload.
SCOPE_PREFIX = "set:"


@dataclass(frozen=True)
class SetInfo:
    id: int
    name: str
    count: int  # its photos (the panel: all of them; the client gallery: ready ones)


def _gallery_id(session: Session, photographer_id: int, event_id: int) -> int:
    """The id of the photographer's gallery `event_id`, or NotFound: another's gallery is a
    404 before anything else. Its row is locked (PostgreSQL; SQLite has one writer) so two
    edits of one gallery's sets cannot both pass the name and count checks. (Only the id
    is needed; galleries.find_event is not imported: galleries imports downloads, which
    imports this module.)"""
    found = session.scalar(select(Event.id).where(
        Event.id == event_id, Event.photographer_id == photographer_id).with_for_update())
    if found is None:
        raise NotFound("No such gallery.")
    return found


def find_set(session: Session, photographer_id: int, set_id: int) -> ImageSet:
    found = session.scalar(select(ImageSet).where(
        ImageSet.id == set_id, ImageSet.photographer_id == photographer_id))
    if found is None:
        raise NotFound("No such set.")
    return found


def _clean_name(session: Session, event_id: int, name: str | None,
                keep: int | None = None) -> str:
    """The name as stored: trimmed, required, at most NAME_MAX characters, not the name of
    another set of this gallery in any letter case (two "Ceremony" tabs confuse clients)."""
    name = validation.text(name, "Set name", max_len=NAME_MAX)
    taken = session.scalar(select(ImageSet.id).where(
        ImageSet.event_id == event_id, func.lower(ImageSet.name) == name.lower(),
        *([ImageSet.id != keep] if keep is not None else [])))
    if taken is not None:
        raise Invalid(f"This gallery already has a set called {name}.", field="name")
    return name


def create_set(session: Session, photographer_id: int, event_id: int,
               name: str | None) -> ImageSet:
    """A new, empty set at the end of the gallery's sets."""
    gallery = _gallery_id(session, photographer_id, event_id)
    count, last = session.execute(select(func.count(), func.max(ImageSet.position)).where(
        ImageSet.event_id == gallery)).one()
    if count >= MAX_SETS:
        raise Invalid(f"A gallery has at most {MAX_SETS} sets.", field="name")
    row = ImageSet(photographer_id=photographer_id, event_id=gallery,
                   name=_clean_name(session, gallery, name), position=(last or 0) + 1)
    session.add(row)
    session.flush()
    return row


def rename_set(session: Session, photographer_id: int, set_id: int,
               name: str | None) -> ImageSet:
    row = find_set(session, photographer_id, set_id)
    _gallery_id(session, photographer_id, row.event_id)  # the lock
    row.name = _clean_name(session, row.event_id, name, keep=row.id)
    session.flush()
    photos_changed(session, photographer_id, row.event_id)
    return row


def reorder_sets(session: Session, photographer_id: int, event_id: int,
                 set_ids: list[int]) -> None:
    """The gallery's sets in a new order: every set id of this gallery, each once (a
    partial or forged list is refused whole)."""
    gallery = _gallery_id(session, photographer_id, event_id)
    current = list(session.scalars(select(ImageSet.id).where(
        ImageSet.event_id == gallery, ImageSet.photographer_id == photographer_id)))
    if sorted(set_ids) != sorted(current):
        raise Invalid("The order must list every set of this gallery once.", field="ids")
    for position, set_id in enumerate(set_ids, 1):
        session.execute(update(ImageSet).where(ImageSet.id == set_id)
                        .values(position=position)
                        .execution_options(synchronize_session=False))
    photos_changed(session, photographer_id, gallery)


def delete_set(session: Session, photographer_id: int, set_id: int) -> int:
    """Delete a set; its photos stay in the gallery, in no set. Returns its gallery's id."""
    row = find_set(session, photographer_id, set_id)
    # Explicit rather than left to ON DELETE SET NULL: the same on every connection.
    session.execute(update(Image).where(Image.set_id == row.id, Image.event_id == row.event_id)
                    .values(set_id=None).execution_options(synchronize_session=False))
    event_id = row.event_id
    session.delete(row)
    session.flush()
    photos_changed(session, photographer_id, event_id)
    return event_id


def move_images(session: Session, photographer_id: int, event_id: int,
                image_ids: list[int], set_id: int | None) -> int:
    """Put photos of this gallery in set `set_id` (None: in no set; 0: a malformed one, a
    400 once the gallery is found). Every id must be a photo of this gallery and the set a
    set of it, else nothing moves. Returns how many."""
    gallery = _gallery_id(session, photographer_id, event_id)
    if set_id is not None and set_id <= 0:
        raise Invalid("Pick a set to move the photos to.", field="set_id")
    if set_id is not None:
        target = find_set(session, photographer_id, set_id)
        if target.event_id != gallery:
            raise NotFound("No such set.")
    wanted = set(image_ids)
    if not wanted or len(wanted) > MAX_MOVE:
        raise Invalid("Select the photos to move first.", field="ids")
    found = set(session.scalars(select(Image.id).where(
        Image.id.in_(wanted), Image.event_id == gallery,
        Image.photographer_id == photographer_id)))
    if found != wanted:
        raise Invalid("Some of those photos are not in this gallery.", field="ids")
    session.execute(update(Image).where(Image.id.in_(wanted), Image.event_id == gallery)
                    .values(set_id=set_id).execution_options(synchronize_session=False))
    photos_changed(session, photographer_id, gallery)
    return len(wanted)


# --- reads -------------------------------------------------------------------------------

async def panel_sets(session: AsyncSession, photographer_id: int,
                     event_id: int) -> list[SetInfo]:
    """The gallery's sets in their order, each with how many photos it holds (any state:
    the panel shows photos still processing too)."""
    counts = (select(Image.set_id, func.count().label("n"))
              .where(Image.event_id == event_id, Image.photographer_id == photographer_id,
                     Image.set_id.is_not(None))
              .group_by(Image.set_id).subquery())
    rows = await session.execute(
        select(ImageSet.id, ImageSet.name, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.set_id == ImageSet.id)
        .where(ImageSet.event_id == event_id, ImageSet.photographer_id == photographer_id)
        .order_by(ImageSet.position, ImageSet.id))
    return [SetInfo(*row) for row in rows]


def gallery_set(session: Session, event: Event, set_id: int | None) -> ImageSet:
    """A set of this gallery, for a client's ZIP of it (anything else: not found)."""
    found = set_id is not None and session.scalar(select(ImageSet).where(
        ImageSet.id == set_id, ImageSet.event_id == event.id,
        ImageSet.photographer_id == event.photographer_id))
    if not found:
        raise NotFound("No such set in this gallery.")
    return found


def scope_set(session: Session, event: Event, scope: str) -> ImageSet | None:
    """The set a download scope names ("set:N", see SCOPE_PREFIX), checked to be this
    gallery's; None for the other scopes."""
    if not scope.startswith(SCOPE_PREFIX):
        return None
    key = scope[len(SCOPE_PREFIX):]
    number = int(key) if key.isdigit() and len(key) < 12 else 0
    return gallery_set(session, event, number if 0 < number < 2**31 else None)


async def favorites_by_set(session: AsyncSession, photographer_id: int, event_id: int,
                           contact_id: int) -> list[tuple[str, int]]:
    """A contact's favorites in a gallery counted per set, in the sets' order ("No set"
    last), for the activity report. Empty when the gallery has no sets."""
    rows = (await session.execute(
        select(ImageSet.name, func.count(Favorite.id))
        .select_from(Favorite)
        .join(Image, Image.id == Favorite.image_id)
        .outerjoin(ImageSet, ImageSet.id == Image.set_id)
        .where(Favorite.photographer_id == photographer_id, Favorite.event_id == event_id,
               Favorite.contact_id == contact_id)
        .group_by(ImageSet.id, ImageSet.name, ImageSet.position)
        .order_by(ImageSet.position.is_(None), ImageSet.position, ImageSet.id))).all()
    if all(name is None for name, _ in rows):
        return []
    return [(name or "No set", count) for name, count in rows]


async def set_names(session: AsyncSession, photographer_id: int,
                    event_id: int) -> dict[int, str]:
    """{set id: name} of a gallery's sets (the favorites export's column)."""
    rows = await session.execute(select(ImageSet.id, ImageSet.name).where(
        ImageSet.event_id == event_id, ImageSet.photographer_id == photographer_id))
    return dict(rows.tuples().all())
