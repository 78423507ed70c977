"""The push protocol: channel names and the envelope every pushed message uses.

An envelope is what a WebSocket client receives for an ActivityEvent; replay from the
database and live delivery from Redis produce the very same dict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from .models import ActivityEvent
from .outbox import outbox_of

#: Kinds of ActivityEvent, documented here (a test checks every kind written is listed).
KINDS: dict[str, str] = {
    "visit": "A named visitor opened a gallery (first access, or back after a break).",
    "favorite_added": "The client marked an image as a favorite.",
    "favorite_removed": "The client removed an image from their favorites.",
    "comment_added": "The client commented on an image.",
    "comment_replied": "The photographer replied in a comment thread.",
    "download_single": "The client downloaded one image.",
    "download_bulk": "The client downloaded a ZIP of the gallery, of a set or of their favorites.",
    "cart_updated": "The client's cart changed: items, value and checkout stage (SAVED CART).",
    "order_placed": "The client placed an order.",
    "order_updated": "The photographer moved an order on (paid, shipped, cancelled …).",
    "workflow_email_sent": "A Gallery Workflow emailed the client (a reminder, an announcement …).",
    "workflow_skipped": "A Gallery Workflow email was not sent to the client, with the reason.",
}


#: Kinds the photographer causes: they do not move the client's LAST SAVED or counters.
PHOTOGRAPHER_KINDS = frozenset({"comment_replied", "order_updated", "workflow_email_sent",
                                "workflow_skipped"})

#: Kinds a client's own gallery socket receives (their conversation): the hub routes only
#: these to the gallery sockets of the event's (gallery, contact).
CONVERSATION_KINDS = frozenset({"comment_added", "comment_replied"})


#: Message types every open page of one gallery hears (its banners changed, its photos
#: changed). They carry no seq and are not replayed: the page fetches what they name.
GALLERY_WIDE = frozenset({"banners", "photos"})


def tenant_channel(photographer_id: int) -> str:
    """Logical channel; the bus prefixes it with the deployment's namespace."""
    return f"tenant:{photographer_id}"


def photos_changed(session: Session, photographer_id: int, event_id: int) -> None:
    """Tell the gallery's open pages, after the commit, that what it shows changed (a
    photo ready or deleted, a new order, a set made, renamed or moved into): each page
    offers the visitor the new version instead of changing under their finger."""
    outbox_of(session).publish(tenant_channel(photographer_id),
                               {"type": "photos", "event_id": event_id})


class Logged(NamedTuple):
    """An event as appended: what its envelope needs, without building an ORM object."""

    seq: int
    kind: str
    event_id: int | None
    contact_id: int | None
    payload: dict[str, Any]
    at: datetime


def envelope(
    activity: ActivityEvent | Logged,
    *,
    contact_name: str | None = None,
    contact_email: str | None = None,
    event_title: str | None = None,
) -> dict[str, Any]:
    """What the dashboard receives, the same dict live and replayed. Names ride along so
    the feed renders without a fetch; a page applies the event by its kind (favorites ±1,
    comments +1, downloads +1, LAST SAVED = `at` for the client's kinds)."""
    return {
        "type": "activity",
        "seq": activity.seq,
        "kind": activity.kind,
        "event_id": activity.event_id,
        "contact_id": activity.contact_id,
        "contact_name": contact_name or "",
        "contact_email": contact_email or "",
        "event_title": event_title or "",
        "payload": activity.payload,
        "at": activity.at.isoformat(),
    }
