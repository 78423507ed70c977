"""The client's live socket on a gallery page: their own conversation, both directions.

Same contract as the panel's (subscribe → replay → live), narrowed to one visitor: only
comment events of this gallery and this contact pass, so a client never sees another
client's thread. A verified browser gets the contact's whole conversation; an unverified
one (server/devices.py) only its own messages and the replies in threads it wrote in,
after its first message there: the same rule as comments.visible_to(). Sequence numbers
are per photographer, so this stream has gaps by nature; it relies on the hub's catch-up
after a Redis outage and on replay at reconnect.

The hub routes to this socket only the conversation events of its (gallery, contact), so an
event costs nothing to the other visitors' sockets. Replay sends the newest MAX_REPLAY
missed events, oldest first; if more were missed it sends `{"type": "resync", "seq": N}`
instead (the page refetches what it shows). A hello beyond the newest seq gets `resync`.

The socket is also the visitor's presence ("viewing now", server/presence.py): it beats when
it opens, the hub renews it while it is open, and the page says `{"visible": false}` /
`{"visible": true}` when its tab is hidden or shown again. Gallery-wide messages (its
banners or its photos changed, server/events.GALLERY_WIDE) reach every page of the gallery.
"""

from __future__ import annotations

import json
import time

from starlette.websockets import WebSocket

from server import activity, comments, presence, public, throttle
from server.errors import DomainError
from server.events import CONVERSATION_KINDS, GALLERY_WIDE
from server.outbox import Outbox
from server.public import Guest
from server.routes.visitor import GUEST_COOKIE, guest_of, unlocked

from .hub import CATCH_UP, Connection, Hub
from .sockets import (
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_GALLERY_CLOSED,
    CLOSE_TOO_MANY,
    origin_allowed,
    refuse,
    send_json,
    send_text,
    serve,
)
from .sockets import CLOSE_UNAUTHORIZED as CLOSE_NO_GUEST

#: At most this many missed events are replayed (the newest); more: `resync`.
MAX_REPLAY = 500
#: A tab shown again beats at once, but at most this often (seconds): a page flipping
#: `visible` in a loop costs at most a Redis round trip per this interval.
MIN_BEAT_GAP = 5.0
__all__ = ["CLOSE_FORBIDDEN_ORIGIN", "CLOSE_GALLERY_CLOSED", "CLOSE_NO_GUEST",
           "CONVERSATION_KINDS", "GalleryStream", "gallery_socket"]


def client_view(envelope: dict) -> dict:
    """Only what the client needs about their own message, nothing about anyone else."""
    payload = envelope.get("payload") or {}
    return {
        "type": "comment", "seq": envelope["seq"], "kind": envelope["kind"],
        "author": "photographer" if envelope["kind"] == "comment_replied" else "client",
        "image_id": payload.get("image_id"), "comment_id": payload.get("comment_id"),
        "body": payload.get("body", ""), "at": envelope["at"],
    }


class GalleryStream:
    def __init__(self, websocket: WebSocket, guest: Guest, last_seq: int,
                 conn: Connection) -> None:
        self.ws = websocket
        self.guest = guest
        self.conn = conn
        self.last_beat = float("-inf")
        self.ids = (guest.photographer_id, guest.event_id, guest.contact_id)
        self.last_seq = last_seq
        self.db = websocket.state.services.db
        #: Unverified browser: image id -> id of its first comment there (None: verified).
        self.first_own: dict[int, int] | None = None if guest.verified else {}

    def visible(self, envelope: dict) -> bool:
        if self.first_own is None:
            return True
        payload = envelope.get("payload") or {}
        image_id, comment_id = payload.get("image_id"), payload.get("comment_id")
        if not isinstance(image_id, int) or not isinstance(comment_id, int):
            return False
        if envelope["kind"] == "comment_added":
            if payload.get("device") != self.guest.device_id:
                return False
            first = self.first_own.get(image_id)
            self.first_own[image_id] = comment_id if first is None else min(first, comment_id)
            return True
        first = self.first_own.get(image_id)
        return first is not None and comment_id > first

    async def send(self, envelope: dict) -> None:
        await send_text(self.ws, json.dumps(client_view(envelope), separators=(",", ":")))
        self.last_seq = max(self.last_seq, envelope["seq"])

    async def start(self) -> None:
        """After the hello: beyond the newest seq, `resync` and live from the newest;
        otherwise replay what the page missed."""
        async with self.db.reader() as session:
            newest = await activity.latest_seq(session, self.ids[0])
        if self.last_seq > newest:
            self.last_seq = newest
            await send_json(self.ws, {"type": "resync", "seq": newest})
        else:
            await self.replay()
        await self.beat()

    async def beat(self) -> None:
        """Mark the visitor present now (Redis down: presence is unknown, nothing to do)."""
        self.last_beat = time.monotonic()
        outbox = Outbox()
        photographer_id, event_id, contact_id = self.ids
        services = self.ws.state.services
        if await presence.beat(services.redis, services.settings.channel_namespace,
                               photographer_id, event_id, contact_id, outbox,
                               verified=self.guest.verified):
            await self.db.dispatcher.flush(outbox)

    async def receive(self, text: str) -> None:
        """The page's only message after its hello: `{"visible": bool}`."""
        try:
            visible = json.loads(text).get("visible")
        except (TypeError, ValueError, AttributeError):
            return
        if type(visible) is not bool:
            return
        was_visible, self.conn.visible = self.conn.visible, visible
        if visible and not was_visible and time.monotonic() - self.last_beat >= MIN_BEAT_GAP:
            await self.beat()

    async def replay(self) -> None:
        async with self.db.reader() as session:
            events = await activity.since_for_contact(session, *self.ids, self.last_seq,
                                                      CONVERSATION_KINDS,
                                                      limit=MAX_REPLAY + 1)
            if self.first_own is not None:
                self.first_own = await comments.first_own_comment_ids(session, self.guest)
        if len(events) > MAX_REPLAY:  # more missed than we replay: the page refetches
            newest = events[-1]["seq"]
            self.last_seq = max(self.last_seq, newest)
            await send_json(self.ws, {"type": "resync", "seq": newest})
            return
        for event in events:
            if self.visible(event):
                await self.send(event)

    async def deliver(self, message: dict) -> None:
        if message is CATCH_UP:
            return await self.replay()
        _, event_id, contact_id = self.ids
        if message.get("type") in GALLERY_WIDE:  # no seq: fetched, not replayed
            if message.get("event_id") == event_id:
                await send_json(self.ws, gallery_message(message))
            return
        if (message.get("type") != "activity" or message.get("kind") not in CONVERSATION_KINDS
                or message.get("event_id") != event_id
                or message.get("contact_id") != contact_id
                or message["seq"] <= self.last_seq or not self.visible(message)):
            return
        await self.send(message)


def gallery_message(message: dict) -> dict:
    """What a page hears of a gallery-wide change: its type, and for banners the list
    itself when it is the same for every visitor (server/workflows/banners.push)."""
    return {key: message[key] for key in ("type", "now", "banners") if key in message}


class BannerStream:
    """The socket of a visitor who has not given their name: it hears only that its
    gallery's banners or photos changed (a start, an end, an edit; a photo added, moved or
    removed), so a page open before the email gate hears them too. No replay (both are
    fetched, not replayed), no presence (nobody to show as viewing)."""

    def __init__(self, websocket: WebSocket, event_id: int) -> None:
        self.ws = websocket
        self.event_id = event_id

    async def start(self) -> None:
        pass

    async def deliver(self, message: dict) -> None:
        if message.get("type") in GALLERY_WIDE and message.get("event_id") == self.event_id:
            await send_json(self.ws, gallery_message(message))


async def gallery_socket(websocket: WebSocket) -> None:
    hub: Hub = websocket.state.hub
    if not origin_allowed(websocket):
        await refuse(websocket, CLOSE_FORBIDDEN_ORIGIN)
        return
    try:
        event = await websocket.state.services.gallery_cache.get(
            websocket.path_params["slug"])
    except DomainError:
        await refuse(websocket, CLOSE_GALLERY_CLOSED)
        return
    if not unlocked(websocket, event):
        await refuse(websocket, CLOSE_NO_GUEST)
        return
    guest = guest_of(websocket, event)
    if guest is not None:
        async with websocket.state.services.db.reader() as session:
            guest = await session.run_sync(public.find_guest, guest)
    # Capped per gate cookie (device) and per address: 4429 beyond, the page waits a while.
    lease = await throttle.of(websocket).gallery_socket(websocket.cookies.get(GUEST_COOKIE),
                                                        throttle.client_address(websocket))
    if lease is None:
        await refuse(websocket, CLOSE_TOO_MANY)
        return
    await websocket.accept()
    if guest is None:  # not past the email gate: gallery-wide news, nothing else
        conn = hub.register_gallery(event.photographer_id, event.id, None)
        await serve(websocket, hub, conn, lambda _: BannerStream(websocket, event.id), lease)
        return
    conn = hub.register_gallery(event.photographer_id, event.id, guest.contact_id,
                                verified=guest.verified)
    await serve(websocket, hub, conn,
                lambda last_seq: GalleryStream(websocket, guest, last_seq, conn), lease)
