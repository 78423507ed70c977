"""Favorites: a client marks images they love; the photographer sees and exports them."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import activity
from .db import Database
from .errors import NotFound
from .models import Contact, Event, Favorite, Image, utcnow
from .outbox import Outbox
from .prepared import Prepared
from .public import Guest

_images, _favs, _contacts = Image.__table__, Favorite.__table__, Contact.__table__
# Built once (see activity.py): one query answers everything the toggle needs to know.
_FIND = Prepared(
    select(_images.c.id, _images.c.filename, _favs.c.id, _contacts.c.name, _contacts.c.email)
    .select_from(_images)
    .join(_contacts, (_contacts.c.id == bindparam("cid"))
          & (_contacts.c.photographer_id == bindparam("pid")))
    .outerjoin(_favs, (_favs.c.image_id == _images.c.id) & (_favs.c.contact_id == bindparam("cid")))
    .where(_images.c.id == bindparam("iid"), _images.c.event_id == bindparam("eid"),
           _images.c.state == "ready")
)
_ADD = Prepared(insert(_favs))
_REMOVE = Prepared(delete(_favs).where(_favs.c.id == bindparam("fid")))


def toggle(conn: Connection, outbox: Outbox, event_id: int, event_title: str, guest: Guest,
           image_id: int, on: bool) -> bool:
    """Make the favorite state `on`; returns whether anything changed (and was logged).

    The hottest client action, written as a plain-connection unit of work so it runs
    whole in one step (Database.write). One query checks the image is a ready one of this
    gallery, whether it is already a favorite, and who the contact is (their name rides
    along in the pushed event)."""
    found = _FIND.run(conn, {
        "cid": guest.contact_id, "pid": guest.photographer_id, "iid": image_id,
        "eid": event_id,
    }).first()
    if found is None:
        raise NotFound("No such image in this gallery.")
    image_id, filename, existing, name, email = found
    if on == bool(existing):
        return False
    if on:
        _ADD.run(conn, {
            "photographer_id": guest.photographer_id, "event_id": event_id, "image_id": image_id,
            "contact_id": guest.contact_id, "note": "", "created_at": utcnow(),
        })
    else:
        _REMOVE.run(conn, {"fid": existing})
    activity.append(
        conn, outbox, guest.photographer_id, "favorite_added" if on else "favorite_removed",
        event_id=event_id, contact_id=guest.contact_id,
        payload={"image_id": image_id, "filename": filename},
        names={"contact_name": name, "contact_email": email, "event_title": event_title},
    )
    return True


async def set_favorite(db: Database, event: Event, guest: Guest, image_id: int,
                       on: bool) -> bool:
    """The favorite toggle as routes call it: one unit of work, published after commit."""
    return await db.write(toggle, event.id, event.title, guest, image_id, on,
                          tenant=guest.photographer_id)


async def favorite_ids(session: AsyncSession, guest: Guest) -> set[int]:
    rows = await session.scalars(
        select(Favorite.image_id).where(
            Favorite.event_id == guest.event_id, Favorite.contact_id == guest.contact_id
        )
    )
    return set(rows)
