"""The per-process hub: one Redis subscriber, a bounded queue per WebSocket, routed delivery.

The hub pattern-subscribes once to the deployment's namespace (channels `tenant:<id>`) and
hands each message only to the sockets that need it, so the work per event grows with the
sockets that receive it, never with the sockets open:

- panel connections are indexed by photographer: they get every message of the tenant;
- gallery connections are indexed by (photographer, gallery, contact): they get only the
  conversation events (server/events.py CONVERSATION_KINDS) of that gallery and contact.
  Finer rules (an unverified browser sees only its own threads) stay in the gallery stream.

Dispatch allocates nothing per socket: the same message dict goes into each receiving
queue. A full queue marks its connection as overflowed (the socket is closed and the
browser recovers by replay), so one slow browser never slows Redis reading, a client's
request, or another browser.

Supervision: the listener health-checks its Redis connection (a PING when idle; no answer
within seconds and the connection is dropped), reconnects with backoff, and on every
reconnect tells every connection to catch up from the database. Any other exception is
logged and the loop restarts. A second task, the heartbeat, reads in one query the latest
committed seq of every photographer with a panel socket here and offers it to those
sockets, which fill any gap from the database first: a push lost with no later event (a
web process died between COMMIT and publish) is noticed within HEARTBEAT_INTERVAL. A third,
the presence keeper, renews "viewing now" (server/presence.py) for every visible gallery
socket of this process in one Redis round trip every PRESENCE_BEAT seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from sqlalchemy import select

from server import presence
from server.events import CONVERSATION_KINDS, GALLERY_WIDE
from server.models import Photographer

from .bus import parse

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
CATCH_UP = {"type": "_catch_up"}  # internal: read the database, Redis may have dropped some
TENANT_PREFIX = "tenant:"
PANEL, GALLERY = "panel", "gallery"

HEARTBEAT_INTERVAL = 3.0  # the protocol promises a heartbeat at least every 5 s
READ_TIMEOUT = 1.0  # one wait of the listener for a message
PING_INTERVAL = 5.0  # idle this long: PING the subscription connection
PING_TIMEOUT = 5.0  # no PONG (nor anything else) this long after a PING: the link is dead
MAX_BACKOFF = 3.0


@dataclass(eq=False, slots=True)
class Connection:
    kind: str  # PANEL or GALLERY
    key: int | tuple[int, int, int]  # photographer id / (photographer, gallery, contact)
    photographer_id: int
    session_id: str | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    on_overflow: Callable[[], None] | None = None  # set by the socket's pump
    overflowed: bool = False
    verified: bool = False  # gallery: a browser proven to be the contact's (server/devices.py)
    visible: bool = True  # gallery: its tab is visible, so the visitor counts as viewing

    def offer(self, message: dict) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()


class Hub:
    def __init__(self, redis: Redis, namespace: str, origin: str | None = None,
                 db=None) -> None:
        self.redis = redis
        self.namespace = namespace
        self.origin = origin  # our own bus's: those messages were dispatched locally
        self.db = db  # server.db.Database, for the heartbeat (None: no heartbeat)
        self.panels: dict[int, set[Connection]] = {}
        self.galleries: dict[tuple[int, int, int], set[Connection]] = {}
        self.subscribed = asyncio.Event()
        self._renew_presence = asyncio.Event()  # Redis came back: renew now, not later
        self._tasks: list[asyncio.Task] = []
        self.pushed, self.replayed = {PANEL: 0, GALLERY: 0}, {PANEL: 0, GALLERY: 0}  # /metrics

    async def start(self, timeout: float = 5.0) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="realtime-hub"))
        if self.db is not None:
            self._tasks.append(asyncio.create_task(self._heartbeat(), name="realtime-heartbeat"))
        self._tasks.append(asyncio.create_task(self._keep_presence(), name="realtime-presence"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), timeout)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()

    # -- registry ---------------------------------------------------------------------

    def register_panel(self, photographer_id: int, session_id: str | None = None) -> Connection:
        conn = Connection(PANEL, photographer_id, photographer_id, session_id)
        self.panels.setdefault(photographer_id, set()).add(conn)
        return conn

    def register_gallery(self, photographer_id: int, event_id: int, contact_id: int | None,
                         verified: bool = False) -> Connection:
        """A gallery page's socket; contact None: a visitor not past the email gate yet."""
        key = (photographer_id, event_id, contact_id)
        conn = Connection(GALLERY, key, photographer_id, verified=verified)
        self.galleries.setdefault(key, set()).add(conn)
        return conn

    def unregister(self, conn: Connection) -> None:
        index = self.panels if conn.kind == PANEL else self.galleries
        conns = index.get(conn.key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del index[conn.key]

    def connection_count(self) -> int:
        return (sum(len(c) for c in self.panels.values())
                + sum(len(c) for c in self.galleries.values()))

    def connections(self) -> list[Connection]:
        return [conn for index in (self.panels, self.galleries)
                for conns in index.values() for conn in conns]

    # -- delivery ---------------------------------------------------------------------

    def dispatch(self, channel: str, message: dict) -> None:
        """Hand a message of `channel` (tenant:<id>) to the connections that need it."""
        if not channel.startswith(TENANT_PREFIX):
            return
        try:
            photographer_id = int(channel[len(TENANT_PREFIX):])
        except ValueError:
            return
        panels = self.panels.get(photographer_id)
        if panels:
            self.pushed[PANEL] += len(panels)
            for conn in panels:  # offer() never changes the set (overflow only cancels)
                conn.offer(message)
        if self.galleries and message.get("type") in GALLERY_WIDE:
            self._to_gallery(photographer_id, message)
        if (self.galleries and message.get("type") == "activity"
                and message.get("kind") in CONVERSATION_KINDS):
            galleries = self.galleries.get(
                (photographer_id, message.get("event_id"), message.get("contact_id")))
            if galleries:
                self.pushed[GALLERY] += len(galleries)
                for conn in galleries:
                    conn.offer(message)

    def _to_gallery(self, photographer_id: int, message: dict) -> None:
        """A gallery-wide message (its banners changed): every open page of that gallery,
        or of one visitor when it names a contact. Rare (a banner's start or end, an edit,
        a cart change in a gallery with banners), so a scan of the index will do."""
        event_id, contact_id = message.get("event_id"), message.get("contact_id")
        for (tenant, event, contact), conns in list(self.galleries.items()):
            if tenant == photographer_id and event == event_id and contact_id in (None,
                                                                                  contact):
                self.pushed[GALLERY] += len(conns)
                for conn in conns:
                    conn.offer(message)

    def catch_up_all(self) -> None:
        for conn in self.connections():
            conn.offer(CATCH_UP)
            self.replayed[conn.kind] += 1

    # -- the Redis listener, supervised ------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.namespace + "*")
                self.subscribed.set()
                if not first:  # anything published while we were away is in the database
                    self.catch_up_all()
                    self._renew_presence.set()  # and a restarted Redis forgot who is here
                backoff = 0.1
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("hub lost Redis (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except Exception:
                self.subscribed.clear()
                log.exception("hub failed; restarting in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                first = False  # any later subscription follows a gap
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _listen(self, pubsub) -> None:
        prefix = len(self.namespace)
        last_heard = time.monotonic()
        pinged = False
        while True:
            msg = await pubsub.get_message(timeout=READ_TIMEOUT)
            now = time.monotonic()
            if msg is None:
                if now - last_heard > PING_INTERVAL + (PING_TIMEOUT if pinged else 0):
                    if pinged:
                        raise RedisConnectionError(
                            f"no answer to PING within {PING_TIMEOUT:.0f}s")
                    await pubsub.ping()
                    pinged = True
                continue
            last_heard, pinged = now, False
            if msg.get("type") != "pmessage":
                continue  # a PONG (health check) or a subscription notice
            message = parse(msg["data"], self.origin)
            if message is None:  # our own (dispatched locally already) or not ours at all
                continue
            channel = msg["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            self.dispatch(channel[prefix:], message)

    # -- the heartbeat ---------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat failed; next try in %.0fs", HEARTBEAT_INTERVAL)

    async def _keep_presence(self) -> None:
        while True:
            # Not asyncio.wait_for: on 3.11 it can swallow a cancel that lands as the event
            # is set (hub.stop() would then wait on this task forever).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(presence.PRESENCE_BEAT):
                    await self._renew_presence.wait()
            self._renew_presence.clear()
            try:
                await presence.renew(self.redis, self.namespace, self.present())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("renewing presence failed; next try in %.0fs", presence.PRESENCE_BEAT)

    def present(self) -> set[tuple[int, int, int, bool]]:
        """(photographer, gallery, contact, verified) of every visible gallery socket here."""
        return {(*key, conn.verified) for key, conns in self.galleries.items()
                if key[2] is not None for conn in conns if conn.visible}

    async def beat(self) -> None:
        """Offer {"type": "heartbeat", "seq": N} to every panel connection of this process,
        N being its photographer's latest committed seq (one query for all of them)."""
        if not self.panels:
            return
        ids = list(self.panels)
        async with self.db.reader() as session:
            rows = (await session.execute(
                select(Photographer.id, Photographer.last_event_seq)
                .where(Photographer.id.in_(ids)))).all()
        for photographer_id, seq in rows:
            message = {"type": "heartbeat", "seq": int(seq or 0)}
            for conn in tuple(self.panels.get(photographer_id, ())):
                conn.offer(message)
