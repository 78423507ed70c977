"""The bus: JSON messages over Redis pub/sub, one channel per photographer.

Publishing happens only from a flushed outbox (after COMMIT). Subscribing is the hub's job:
one subscriber per web process.
"""

from __future__ import annotations

import json

from redis.asyncio import Redis


class RedisBus:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace

    async def publish(self, channel: str, message: dict) -> None:
        data = json.dumps(message, separators=(",", ":"))
        await self.redis.publish(self.namespace + channel, data)
