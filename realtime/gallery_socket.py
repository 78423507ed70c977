"""The client's live socket on a gallery page: their own conversation, both directions.

Same contract as the panel's (subscribe → replay → live), narrowed to one visitor: only
comment events of this gallery and this contact pass, so a client never sees another
client's thread. Sequence numbers are per photographer, so this stream has gaps by
nature; it relies on the hub's catch-up after a Redis outage and on replay at reconnect.
"""

from __future__ import annotations

import json

from starlette.websockets import WebSocket

from server import activity
from server.errors import DomainError
from server.events import tenant_channel
from server.routes.visitor import guest_of, unlocked

from .hub import CATCH_UP, Hub
from .sockets import origin_allowed, refuse, serve

CONVERSATION_KINDS = frozenset({"comment_added", "comment_replied"})
CLOSE_NO_GUEST = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_GALLERY_CLOSED = 4404


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
    def __init__(self, websocket: WebSocket, photographer_id: int, event_id: int,
                 contact_id: int, last_seq: int) -> None:
        self.ws = websocket
        self.ids = (photographer_id, event_id, contact_id)
        self.last_seq = last_seq
        self.db = websocket.state.services.db

    async def send(self, envelope: dict) -> None:
        await self.ws.send_text(json.dumps(client_view(envelope), separators=(",", ":")))
        self.last_seq = max(self.last_seq, envelope["seq"])

    async def replay(self) -> None:
        async with self.db.reader() as session:
            events = await activity.since_for_contact(session, *self.ids, self.last_seq,
                                                      CONVERSATION_KINDS)
        for event in events:
            await self.send(event)

    async def deliver(self, message: dict) -> None:
        if message is CATCH_UP:
            return await self.replay()
        _, event_id, contact_id = self.ids
        if (message.get("type") != "activity" or message.get("kind") not in CONVERSATION_KINDS
                or message.get("event_id") != event_id
                or message.get("contact_id") != contact_id
                or message["seq"] <= self.last_seq):
            return
        await self.send(message)


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
    guest = guest_of(websocket, event)
    if not unlocked(websocket, event) or guest is None:
        await refuse(websocket, CLOSE_NO_GUEST)
        return
    await websocket.accept()
    conn = hub.register(tenant_channel(event.photographer_id))
    await serve(websocket, hub, conn, lambda last_seq: GalleryStream(
        websocket, event.photographer_id, event.id, guest.contact_id, last_seq))
