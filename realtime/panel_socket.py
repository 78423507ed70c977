"""The photographer's live socket: authenticate → subscribe → replay → live.

Zulip's event-queue contract: the browser says the last seq it saw; we register with the
hub first (so nothing published from now on can be missed), then send everything newer
from the database, then stream live messages, dropping any seq already sent. A gap in the
live stream (Redis dropped a message) or a hub reconnect is filled from the database.
Too far behind: `resync`, and the page reloads its state.

The page's hello names the last seq it applied; a hello beyond the newest seq (a restored
database, another server) gets `resync` and then streams live from the newest. The hub's
heartbeat ({"type": "heartbeat", "seq": N}) reaches the page only after every event up to N:
a missing one is fetched first, so a push lost without any later event is still delivered.
"""

from __future__ import annotations

from starlette.websockets import WebSocket

from server import activity, throttle
from server.routes.common import current_session

from .hub import CATCH_UP, Hub
from .sockets import (
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
    origin_allowed,
    refuse,
    send_json,
    serve,
)

# Beyond this many missed events the page reloads its state instead (resync). Well above
# what an overflow drop loses (the hub's queue plus the bytes in flight, ~500-750 events),
# so a dashboard dropped for being slow recovers by replay.
MAX_REPLAY = 2000
__all__ = ["CLOSE_FORBIDDEN_ORIGIN", "CLOSE_UNAUTHORIZED", "MAX_REPLAY", "PanelStream",
           "panel_socket"]


class PanelStream:
    """One socket's delivery state: what it has sent, and how to fill gaps."""

    def __init__(self, websocket: WebSocket, photographer_id: int, last_seq: int) -> None:
        self.ws = websocket
        self.photographer_id = photographer_id
        self.last_seq = last_seq
        self.db = websocket.state.services.db

    async def send(self, message: dict) -> None:
        await send_json(self.ws, message)

    async def start(self) -> None:
        """After the hello: a last seq beyond the newest gets `resync` (then live from the
        newest); anything else replays what the page missed."""
        async with self.db.reader() as session:
            newest = await activity.latest_seq(session, self.photographer_id)
        if self.last_seq > newest:
            self.last_seq = newest
            await self.send({"type": "resync", "seq": newest})
            return
        await self.replay()

    async def replay(self) -> None:
        async with self.db.reader() as session:
            events = await activity.since(session, self.photographer_id, self.last_seq,
                                          limit=MAX_REPLAY + 1)
            if len(events) > MAX_REPLAY:
                newest = await activity.latest_seq(session, self.photographer_id)
                self.last_seq = newest
                await self.send({"type": "resync", "seq": newest})
                return
        for event in events:
            await self.send(event)
            self.last_seq = event["seq"]

    async def deliver(self, message: dict) -> None:
        if message is CATCH_UP:
            return await self.replay()
        kind = message.get("type")
        if kind == "heartbeat":
            if message["seq"] > self.last_seq:
                await self.replay()  # a push went missing: the database has it
            return await self.send(message)
        seq = message.get("seq")
        if kind != "activity" or seq is None:  # e.g. presence, an image finished processing
            return await self.send(message)
        if seq <= self.last_seq:
            return  # already sent by the replay
        if seq > self.last_seq + 1:
            await self.replay()  # Redis dropped something: the database has it
            if seq <= self.last_seq:
                return
        await self.send(message)
        self.last_seq = seq


async def panel_socket(websocket: WebSocket) -> None:
    hub: Hub = websocket.state.hub
    if not origin_allowed(websocket):
        await refuse(websocket, CLOSE_FORBIDDEN_ORIGIN)
        return
    found = await current_session(websocket)
    if found is None:
        await refuse(websocket, CLOSE_UNAUTHORIZED)
        return
    auth_session, photographer = found
    # Capped per login session and per address: 4429 beyond, the page waits a while.
    lease = await throttle.of(websocket).panel_socket(auth_session.id,
                                                      throttle.client_address(websocket))
    if lease is None:
        await refuse(websocket, CLOSE_TOO_MANY)
        return
    await websocket.accept()
    conn = hub.register_panel(photographer.id, auth_session.id)
    await serve(websocket, hub, conn,
                lambda last_seq: PanelStream(websocket, photographer.id, last_seq), lease)
