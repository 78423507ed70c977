"""The per-process hub: one Redis subscriber, a bounded queue per WebSocket.

The hub pattern-subscribes once to the deployment's namespace and hands each message to the
queues of the sockets registered for its channel. A full queue marks its connection as
overflowed (the socket is closed and the browser recovers by replay), so one slow browser
never slows Redis reading, a client's request, or another browser. When the subscription
drops (Redis restarted), every connection is told to catch up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .bus import parse

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
CATCH_UP = {"type": "_catch_up"}  # internal: read the database, Redis may have dropped some


@dataclass(eq=False)
class Connection:
    channel: str
    session_id: str | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    on_overflow: Callable[[], None] | None = None  # set by the socket's pump
    overflowed: bool = False

    def offer(self, message: dict) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()


class Hub:
    def __init__(self, redis: Redis, namespace: str, origin: str | None = None) -> None:
        self.redis = redis
        self.namespace = namespace
        self.origin = origin  # our own bus's: those messages were dispatched locally
        self.channels: dict[str, set[Connection]] = defaultdict(set)
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self, timeout: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(), name="realtime-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), timeout)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    def register(self, channel: str, session_id: str | None = None) -> Connection:
        conn = Connection(channel, session_id)
        self.channels[channel].add(conn)
        return conn

    def unregister(self, conn: Connection) -> None:
        conns = self.channels.get(conn.channel)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.channels[conn.channel]

    def connection_count(self) -> int:
        return sum(len(c) for c in self.channels.values())

    def dispatch(self, channel: str, message: dict) -> None:
        for conn in tuple(self.channels.get(channel, ())):
            conn.offer(message)

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.namespace + "*")
                self.subscribed.set()
                if not first:  # anything published while we were away is in the database
                    for conns in tuple(self.channels.values()):
                        for conn in tuple(conns):
                            conn.offer(CATCH_UP)
                first, backoff = False, 0.1
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("hub lost Redis (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 3.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _listen(self, pubsub) -> None:
        prefix = len(self.namespace)
        while True:
            msg = await pubsub.get_message(timeout=30.0)
            if msg is None:
                continue
            if msg.get("type") != "pmessage":
                continue
            message = parse(msg["data"], self.origin)
            if message is None:  # our own (dispatched locally already) or not ours at all
                continue
            channel = msg["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            self.dispatch(channel[prefix:], message)
