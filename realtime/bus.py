"""The bus: JSON messages over Redis pub/sub, one channel per photographer.

Publishing happens only from a flushed outbox (after COMMIT). Subscribing is the hub's job:
one subscriber per web process.

`publish` never waits. It hands the message to this process's hub at once (`local`) and
queues it for Redis, where one background sender (`run`) pipelines everything queued
since its last round trip, in order. A client's request therefore waits for neither Redis
nor a busy pub/sub connection, and a Redis outage stalls no dashboard of this process.
Each payload starts with its process's origin, so the hub skips its own echo without
parsing it; other processes get it from Redis.

While Redis is unreachable the sender keeps the queue (up to MAX_PENDING messages) and
PINGs every RETRY_EVERY seconds, sending the moment Redis answers again (no backoff to wait
out). Its kept connection is health-checked: PINGed before reuse after an error or when idle
beyond IDLE_CHECK, and a send that hangs longer than SEND_TIMEOUT (a half-open link) drops
it, so the next attempt dials afresh. What it has to drop, a dashboard of another process
still gets: the hub's catch-up after its own reconnect, and the gap check of every stream,
read the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger(__name__)

SEPARATOR = "|"  # between the origin and the JSON body of a payload on Redis
MAX_PENDING = 10_000
RETRY_EVERY = 0.2  # seconds between two PINGs while Redis is away
PING_TIMEOUT = 1.0  # no PONG within this: the link is dead
SEND_TIMEOUT = 5.0  # a send waiting longer: the connection is presumed dead
IDLE_CHECK = 15.0  # kept connection unused this long: PING before reusing it
MAX_BACKOFF = 2.0  # between retries when Redis answers PING but refuses the send
_WARN_EVERY = 10.0  # seconds between two "cannot reach Redis" warnings


class RedisBus:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        # The sender's own connection, kept: no pool checkout (and its health check) a send.
        self._sender = Redis(connection_pool=redis.connection_pool,
                             single_connection_client=True)
        self.namespace = namespace
        self.origin = uuid.uuid4().hex
        self.local: Callable[[str, dict], None] | None = None
        self._prefix = self.origin + SEPARATOR
        self._pending: list[tuple[str, str]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sending = False
        self._last_ok = time.monotonic()  # the kept connection last worked then
        self._suspect = False  # an error since: PING it before sending again
        self._warned = 0.0

    def publish(self, channel: str, message: dict) -> None:
        if self.local is not None:
            self.local(channel, message)
        data = self._prefix + json.dumps(message, separators=(",", ":"))
        self._pending.append((self.namespace + channel, data))
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - MAX_PENDING]
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="bus-sender")

    async def stop(self, timeout: float = 2.0) -> None:
        """Send what is queued (for a moment at most), then stop the sender."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._pending or self._sending:
                    await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        with contextlib.suppress(Exception):
            await self._sender.aclose()

    async def run(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending
                self._pending = []
                self._sending = True
                try:
                    checked = self._suspect or time.monotonic() - self._last_ok > IDLE_CHECK
                    if checked and not await self._ping():
                        raise RedisConnectionError("no answer to PING")
                    async with asyncio.timeout(SEND_TIMEOUT):
                        await self._send(batch)
                    self._last_ok, self._suspect, backoff = time.monotonic(), False, 0.05
                except Exception as exc:  # Redis away (or worse): keep them, never die
                    self._pending[:0] = batch  # retried first: order is kept
                    del self._pending[: max(0, len(self._pending) - MAX_PENDING)]
                    self._suspect = True
                    await self._drop_connection()
                    self._warn(exc)
                    if await self._ping():  # Redis answers: not the link; don't spin
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, MAX_BACKOFF)
                    else:  # away: send the moment it answers again
                        while not await self._ping():
                            await asyncio.sleep(RETRY_EVERY)
                finally:
                    self._sending = False

    async def _ping(self) -> bool:
        """Whether Redis answers on the kept connection (dropped if not)."""
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                await self._sender.ping()
            return True
        except Exception:
            await self._drop_connection()
            return False

    async def _drop_connection(self) -> None:
        """Close the kept connection; the next command dials a new one."""
        conn = self._sender.connection
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY:
            self._warned = now
            log.warning("bus could not reach Redis (%s: %s); %d pushes kept, retrying",
                        type(exc).__name__, exc, len(self._pending))

    async def _send(self, batch: list[tuple[str, str]]) -> None:
        if len(batch) == 1:
            await self._sender.publish(*batch[0])
            return
        async with self._sender.pipeline(transaction=False) as pipe:
            for channel, data in batch:
                pipe.publish(channel, data)
            await pipe.execute()


def parse(data: bytes | str, own_origin: str | None) -> dict | None:
    """The message of a payload from Redis, or None for our own echo or a malformed one."""
    if isinstance(data, str):
        data = data.encode()
    origin, sep, body = data.partition(SEPARATOR.encode())
    if not sep or origin.decode("ascii", "replace") == own_origin:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
