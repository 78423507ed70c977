"""The bus (realtime/bus.py): pushes to this process's hub at once, to Redis in the background.

`RedisBus.publish(channel, message)` never waits: it hands the message to the local hub
(`bus.local`) synchronously and queues it for Redis, where the sender started by
`bus.start()` sends everything queued, in order. While Redis is unreachable the queue is
kept and sent when it is back; `await bus.stop()` sends what is still queued first.
On Redis a payload is `origin|json`, and `parse()` lets a hub skip its own process's echo.

These tests use the Redis at 127.0.0.1:6379, each on channels of its own namespace, and a
private redis-server for the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from realtime.bus import RedisBus, parse

REDIS_URL = "redis://127.0.0.1:6379/0"


def new_namespace() -> str:
    return f"test-bus-{uuid.uuid4().hex}:"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def new_bus(redis) -> AsyncIterator[Callable[..., RedisBus]]:
    """Factory for buses (on the shared Redis unless given a client); stopped at the end."""
    made: list[RedisBus] = []

    def make(namespace: str, client: aioredis.Redis | None = None) -> RedisBus:
        made.append(RedisBus(client or redis, namespace))
        return made[-1]

    yield make
    for bus in made:
        with contextlib.suppress(TimeoutError):  # a stop() that hangs fails its own test
            await asyncio.wait_for(bus.stop(timeout=0.5), 5)


@contextlib.asynccontextmanager
async def subscribed(client: aioredis.Redis, *channels: str) -> AsyncIterator[PubSub]:
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(*channels)
        for _ in channels:
            confirmation = await pubsub.get_message(timeout=5)
            assert confirmation is not None and confirmation["type"] == "subscribe"
        yield pubsub
    finally:
        await pubsub.aclose()


async def receive(pubsub: PubSub, count: int, timeout: float = 10.0,
                  quiet: float = 0.3) -> list[bytes]:
    """Raw payloads: until `count` arrived (or `timeout`), then whatever else arrives
    within `quiet` seconds (so a duplicate would show)."""
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    for until, wanted in ((loop.time() + timeout, count), (None, None)):
        if until is None:
            until = loop.time() + quiet
        while loop.time() < until and (wanted is None or len(got) < wanted):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None:
                got.append(message["data"])
    return got


def numbers(payloads: list[bytes]) -> list[int]:
    return [parse(payload, own_origin=None)["n"] for payload in payloads]


async def test_a_burst_reaches_the_local_hub_at_once_and_redis_in_order_once_each(
        redis, new_bus):
    namespace = new_namespace()
    bus = new_bus(namespace)
    local: list[tuple[str, int]] = []
    bus.local = lambda channel, message: local.append((channel, message["n"]))
    channels = ["tenant:1", "tenant:2"]
    async with subscribed(redis, *(namespace + c for c in channels)) as pubsub:
        bus.start()
        for n in range(200):
            bus.publish(channels[n % 2], {"type": "activity", "n": n})
        # No await yet: the local hub already has every message, in order.
        assert local == [(channels[n % 2], n) for n in range(200)]

        payloads = await receive(pubsub, 200)
    assert numbers(payloads) == list(range(200))
    assert all(payload.startswith(bus.origin.encode() + b"|") for payload in payloads)


async def test_parse_skips_our_own_echo_and_reads_another_processes_message(redis, new_bus):
    namespace = new_namespace()
    ours, theirs = new_bus(namespace), new_bus(namespace)
    message = {"type": "activity", "seq": 3, "text": "a|b “quoted” ✓", "nested": {"x": [1, None]}}
    async with subscribed(redis, namespace + "tenant:7") as pubsub:
        ours.start()
        theirs.start()
        ours.publish("tenant:7", message)
        theirs.publish("tenant:7", {"type": "activity", "seq": 4})
        payloads = await receive(pubsub, 2)
    assert len(payloads) == 2
    (from_us,) = [p for p in payloads if p.startswith(ours.origin.encode())]

    assert parse(from_us, own_origin=ours.origin) is None
    assert parse(from_us, own_origin=theirs.origin) == message
    assert parse(from_us.decode(), own_origin=theirs.origin) == message  # str works too
    assert sorted(m["seq"] for p in payloads if (m := parse(p, own_origin=ours.origin))) == [4]


@pytest.mark.parametrize("data", [
    b"", b"no separator at all", b"origin|", b"origin|not json", b"origin|{\"half\": ",
    b"origin|[1, 2]", b"origin|\"text\"", b"origin|42", b"origin|null",
    b"origin|{\"bad utf-8\": \"\xff\"}", "origin|[]",
])
def test_parse_returns_none_for_a_malformed_payload(data):
    assert parse(data, own_origin="mine") is None


def test_parse_returns_the_message_of_a_well_formed_payload():
    assert parse(b'other|{"n": 1, "s": "x|y"}', own_origin="mine") == {"n": 1, "s": "x|y"}
    assert parse('other|{}', own_origin=None) == {}


async def test_stop_sends_what_is_still_queued(redis, new_bus):
    namespace = new_namespace()
    bus = new_bus(namespace)
    async with subscribed(redis, namespace + "tenant:1") as pubsub:
        bus.start()
        for n in range(50):
            bus.publish("tenant:1", {"n": n})
        await bus.stop()  # the sender has not run yet: all 50 are still queued here
        payloads = await receive(pubsub, 50, timeout=2)
    assert numbers(payloads) == list(range(50))


async def test_stop_gives_up_after_its_timeout_while_redis_is_unreachable(new_bus):
    unreachable = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    try:
        bus = new_bus(new_namespace(), unreachable)
        bus.start()
        bus.publish("tenant:1", {"n": 0})
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(bus.stop(timeout=0.3), 5)
        assert loop.time() - started < 2
    finally:
        await unreachable.aclose()


async def start_private_redis(port: int, publish: bool = False) -> asyncio.subprocess.Process:
    """A throwaway redis-server. Without `publish` its default user may not PUBLISH (yet):
    the test allows it once its subscriber is in place (`allow_publish`), so the bus cannot
    get through before anyone listens."""
    proc = await asyncio.create_subprocess_exec(
        shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--daemonize", "no",
        "--user", "default", "on", "nopass", "~*", "&*", "+@all",
        "+publish" if publish else "-publish",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    probe = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            try:
                await probe.ping()
                return proc
            except RedisError:
                if proc.returncode is not None or loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await probe.aclose()


async def allow_publish(client: aioredis.Redis) -> None:
    await client.execute_command("ACL", "SETUSER", "default", "+publish")


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not on PATH")
async def test_messages_published_while_redis_is_unreachable_are_sent_once_it_is_back(
        caplog):
    port = free_port()
    namespace = new_namespace()
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    bus = RedisBus(client, namespace)
    proc = None
    try:
        local: list[int] = []
        bus.local = lambda _channel, message: local.append(message["n"])
        bus.start()
        with caplog.at_level(logging.WARNING, logger="realtime.bus"):
            for n in range(5):  # nothing listens on the port yet
                bus.publish("tenant:1", {"n": n})
            for _ in range(100):
                if any(r.name == "realtime.bus" for r in caplog.records):
                    break  # the sender tried, failed, and kept them
                await asyncio.sleep(0.05)
            assert any(r.name == "realtime.bus" for r in caplog.records)
        assert local == list(range(5))

        proc = await start_private_redis(port)
        listener = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            async with subscribed(listener, namespace + "tenant:1") as pubsub:
                for n in range(5, 10):  # Redis is up, but still refuses the bus
                    bus.publish("tenant:1", {"n": n})
                await asyncio.sleep(0.2)
                await allow_publish(listener)
                for n in range(10, 15):
                    bus.publish("tenant:1", {"n": n})
                payloads = await receive(pubsub, 15, timeout=15)
        finally:
            await listener.aclose()
        assert numbers(payloads) == list(range(15))
        assert local == list(range(15))
    finally:
        await bus.stop(timeout=0.5)
        if proc is not None:
            await stop_process(proc)
        await client.aclose()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not on PATH")
async def test_a_send_cut_off_by_a_redis_crash_is_retried_ahead_of_what_queued_since():
    """Redis stops answering mid-send, then dies and comes back: nothing is lost, nothing
    is sent twice, and the interrupted batch still leaves before the messages queued
    behind it."""
    port = free_port()
    namespace = new_namespace()
    channel = namespace + "tenant:1"
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    bus = RedisBus(client, namespace)
    procs: list[asyncio.subprocess.Process] = []
    try:
        procs.append(await start_private_redis(port, publish=True))
        first = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            async with subscribed(first, channel) as pubsub:
                bus.start()
                bus.publish("tenant:1", {"n": 0})
                assert numbers(await receive(pubsub, 1, quiet=0)) == [0]

                procs[0].send_signal(signal.SIGSTOP)  # up, but no longer answering
                for n in range(1, 5):
                    bus.publish("tenant:1", {"n": n})
                await asyncio.sleep(0.3)  # the sender has written 1-4 and awaits the reply
                for n in range(5, 10):
                    bus.publish("tenant:1", {"n": n})
                await stop_process(procs[0])  # the reply never comes: the send fails
        finally:
            await first.aclose()

        for n in range(10, 15):  # nothing listens on the port now
            bus.publish("tenant:1", {"n": n})
        await asyncio.sleep(0.3)
        procs.append(await start_private_redis(port))
        second = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            async with subscribed(second, channel) as pubsub:
                await allow_publish(second)
                for n in range(15, 20):
                    bus.publish("tenant:1", {"n": n})
                payloads = await receive(pubsub, 19, timeout=15)
        finally:
            await second.aclose()
        assert numbers(payloads) == list(range(1, 20))
    finally:
        await bus.stop(timeout=0.5)
        for proc in procs:
            await stop_process(proc)
        await client.aclose()
