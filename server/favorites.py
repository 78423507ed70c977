"""Favorites: a client marks images they love; the photographer sees and exports them.

A favorite belongs to the contact and remembers the device (browser) that set it. A
verified device sees and changes all of the contact's favorites; an unverified one only
those it set itself. When it hearts an image the contact already favorited elsewhere, the
contact's favorites stay as they are and the heart is kept for that device alone
(DeviceFavorite): to that browser it looks exactly like a fresh favorite.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import activity
from .contacts import insert_if_absent
from .db import Database
from .errors import NotFound
from .models import Contact, Device, DeviceFavorite, Event, Favorite, Image, utcnow
from .outbox import outbox_of
from .public import Guest, device_marks
from .workflows import planner

_images, _favs, _contacts = Image.__table__, Favorite.__table__, Contact.__table__
_devices, _claims = Device.__table__, DeviceFavorite.__table__
# Built once (see activity.py): one query answers everything the toggle needs to know,
# including that the cookie's device is this photographer's, of this contact.
_FIND = (
    select(_images.c.id, _images.c.filename, _favs.c.id, _contacts.c.name, _contacts.c.email,
           _devices.c.verified_at, _favs.c.device_id, _claims.c.image_id)
    .select_from(_images)
    .join(_contacts, (_contacts.c.id == bindparam("cid"))
          & (_contacts.c.photographer_id == bindparam("pid")))
    .join(_devices, (_devices.c.id == bindparam("did")) & (_devices.c.contact_id == _contacts.c.id)
          & (_devices.c.photographer_id == _contacts.c.photographer_id))
    .outerjoin(_favs, (_favs.c.image_id == _images.c.id) & (_favs.c.contact_id == bindparam("cid")))
    .outerjoin(_claims, (_claims.c.device_id == _devices.c.id)
               & (_claims.c.image_id == _images.c.id))
    .where(_images.c.id == bindparam("iid"), _images.c.event_id == bindparam("eid"),
           _images.c.state == "ready")
)
# Race-safe: two toggles of the same image at once (two web processes) make one row.
_ADD = {dialect: insert_if_absent(Favorite, {}, ("image_id", "contact_id"), dialect)
        for dialect in ("sqlite", "postgresql")}
_REMOVE = delete(_favs).where(_favs.c.id == bindparam("fid"))
_UNCLAIM = delete(_claims).where(_claims.c.device_id == bindparam("did"),
                                 _claims.c.image_id == bindparam("iid"))


def _claim(conn: Connection, device_id: int, image_id: int) -> None:
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(make(_claims).values(device_id=device_id, image_id=image_id)
                 .on_conflict_do_nothing())


def toggle(session: Session, event_id: int, event_title: str, guest: Guest, image_id: int,
           on: bool) -> bool:
    """Make the favorite state `on`; returns whether anything changed (and was logged).

    The hottest client action, written as a plain (sync) unit of work so it runs
    whole in one step (Database.write). One query checks the image is a ready one of this
    gallery, whether it is already a favorite, and who the contact is (their name rides
    along in the pushed event)."""
    conn, outbox = session.connection(), outbox_of(session)
    found = conn.execute(_FIND, {
        "cid": guest.contact_id, "pid": guest.photographer_id, "iid": image_id,
        "eid": event_id, "did": guest.device_id,
    }).first()
    if found is None:
        raise NotFound("No such image in this gallery.")
    image_id, filename, existing, name, email, verified_at, setter, claimed = found
    guest = Guest(guest.photographer_id, guest.event_id, guest.contact_id, guest.device_id,
                  verified_at is not None)
    if not guest.verified and existing and setter != guest.device_id:
        # The contact's favorite, set elsewhere: not this browser's to see or remove.
        if on and not claimed:
            _claim(conn, guest.device_id, image_id)
        elif not on and claimed:
            conn.execute(_UNCLAIM, {"did": guest.device_id, "iid": image_id})
        return False
    if claimed and not on:
        conn.execute(_UNCLAIM, {"did": guest.device_id, "iid": image_id})
    if on == bool(existing):
        return False
    if on:
        added = conn.execute(_ADD[conn.dialect.name], {
            "photographer_id": guest.photographer_id, "event_id": event_id, "image_id": image_id,
            "contact_id": guest.contact_id, "note": "", "created_at": utcnow(),
            "device_id": guest.device_id,
        })
        if added.first() is None:
            return False  # a concurrent request just added it
    else:
        conn.execute(_REMOVE, {"fid": existing})
    activity.append(
        conn, outbox, guest.photographer_id, "favorite_added" if on else "favorite_removed",
        event_id=event_id, contact_id=guest.contact_id,
        payload={"image_id": image_id, "filename": filename, **device_marks(guest)},
        names={"contact_name": name, "contact_email": email, "event_title": event_title},
    )
    if on:
        planner.visitor_acted(session, event_id, guest.contact_id, "first_favorite")
    return True


async def set_favorite(db: Database, event: Event, guest: Guest, image_id: int,
                       on: bool) -> bool:
    """The favorite toggle as routes call it: one unit of work, published after commit."""
    return await db.write(toggle, event.id, event.title, guest, image_id, on,
                          tenant=guest.photographer_id)


def own_favorites(guest: Guest):
    """The condition on Favorite rows this guest's browser may see (see the module doc);
    DeviceFavorite hearts come on top for an unverified one (claimed_image_ids)."""
    if guest.verified:
        return Favorite.contact_id == guest.contact_id
    return (Favorite.contact_id == guest.contact_id) & (Favorite.device_id == guest.device_id)


def claimed_image_ids(guest: Guest):
    return select(DeviceFavorite.image_id).where(DeviceFavorite.device_id == guest.device_id)


async def favorite_ids(session: AsyncSession, guest: Guest) -> set[int]:
    """The images this guest's browser shows as favorites in their gallery."""
    query = select(Favorite.image_id).where(Favorite.event_id == guest.event_id,
                                            own_favorites(guest))
    if not guest.verified:  # one read either way: a gallery view asks every time
        query = query.union(select(Image.id).where(Image.event_id == guest.event_id,
                                                   Image.id.in_(claimed_image_ids(guest))))
    return set(await session.scalars(query))


def favorites_scope(guest: Guest):
    """Images of a "favorites" download: the same set favorite_ids() shows."""
    if guest.verified:
        return Image.id.in_(select(Favorite.image_id).where(own_favorites(guest)))
    return or_(Image.id.in_(select(Favorite.image_id).where(own_favorites(guest))),
               Image.id.in_(claimed_image_ids(guest)))
