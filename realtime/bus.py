"""The bus: JSON messages over Redis pub/sub, one channel per photographer.

Publishing happens only from a flushed outbox (after COMMIT). Subscribing is the hub's job:
one subscriber per web process.

A web process hands its own messages to its hub directly (`local`) and marks what it sends
to Redis with its origin, so its hub skips the echo: the Redis round trip (and a JSON parse)
stays on the path only between processes, and a Redis outage no longer stalls this
process's own dashboards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from redis.asyncio import Redis

ORIGIN = "_from"  # the publishing process, stripped by the hub before anything is delivered


class RedisBus:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self.origin = uuid.uuid4().hex
        self.local: Callable[[str, dict], None] | None = None

    async def publish(self, channel: str, message: dict) -> None:
        if self.local is not None:
            self.local(channel, message)
        data = json.dumps({**message, ORIGIN: self.origin}, separators=(",", ":"))
        await self.redis.publish(self.namespace + channel, data)
