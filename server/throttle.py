"""Throttles: every rate limit and concurrency cap of the app, on atomic Redis counters.

Three primitives, each one Lua script (so a check and its count are one atomic step, and
thirty parallel requests cannot all slip past a limit of ten the way a read-then-write
count in the database let them):

- `take`: fixed-window counters (login failures, sign-ups, gate posts, wrong gallery
  passwords). A request *reserves* its slot before the slow check runs; a login that
  turns out right gives its slot back (`give_back`) or clears the account's count.
- `attempt`: growing lockouts (the 4-digit download PIN): `free` failures, then a lockout
  that doubles with each further failure.
- `lease`: a lease-based semaphore per owner (live sockets, bulk ZIP downloads): a ZSET
  of holder ids scored by lease expiry, cleaned in the same script, renewed while the
  holder lives; a crashed process's leases simply run out.

Keys live under the deployment's namespace (`settings.channel_namespace`), so two
deployments sharing one Redis never count each other. Limits are settings
(`server.config.Limits`, env `PROOFROOM_LIMIT_<NAME>`).

Redis down (or slow beyond `REDIS_TIMEOUT`): every check *fails open* (the request goes
through, a concurrency lease is a no-op) and a warning is logged; a throttle never turns
an outage into a 500 or locks every photographer out. The client address is
`request.client.host` (uvicorn rewrites it from X-Forwarded-For only for the proxies in
its FORWARDED_ALLOW_IPS, 127.0.0.1 by default); IPv6 addresses count per /64.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

from redis.exceptions import NoScriptError, RedisError
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .config import Limits, Lockout, Rate, Settings
from .errors import Throttled

log = logging.getLogger("proofroom.throttle")

REDIS_TIMEOUT = 2.0  # seconds; beyond it a check fails open
#: Seconds a live socket's slot lasts unless renewed (every third of it). Each open socket
#: renews its own: at 60 s, 5,000 open gallery sockets cost 250 Redis scripts a second; at
#: 180 s, 83. The price: the slots of a process that crashed come back after 3 minutes.
SOCKET_LEASE = 180
DOWNLOAD_LEASE = 120  # the same for a bulk download's slot
_WARN_EVERY = 10.0  # seconds between two "Redis is down" warnings


class Limited(Throttled):
    """A 429 with the seconds to wait, sent as Retry-After."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def json_429(handler: Callable[[Request], Awaitable[Response]]):
    """For JSON routes: a `Limited` becomes {"error": ...} with status 429 and Retry-After."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except Limited as exc:
            return JSONResponse({"error": exc.message}, status_code=429, headers=exc.headers)

    return wrapper


def client_address(conn: HTTPConnection) -> str:
    """Who is asking, for per-address limits. An IPv6 host gets a whole /64 from its
    provider, so its addresses count as one."""
    host = conn.client.host if conn.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def fingerprint(value: str | None) -> str:
    """A short, stable stand-in for a cookie or an email in a Redis key."""
    return hashlib.sha256((value or "").encode()).hexdigest()[:20] if value else "-"


def visitor_key(conn: HTTPConnection, *cookies: str) -> str:
    """One visitor: their address and the first of `cookies` their browser holds."""
    held = next((conn.cookies[name] for name in cookies if conn.cookies.get(name)), None)
    return f"{client_address(conn)}|{fingerprint(held)}"


def wait_text(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes" if minutes < 90 else f"{math.ceil(minutes / 60)} hours"


# Lua ------------------------------------------------------------------------------------

# KEYS: counters. ARGV: limit, window ms for each. Refuses (returns {index, ms left}) if
# any counter is at its limit; else counts one on every counter and returns {0, 0}.
_TAKE = """
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[2 * i])
      ttl = tonumber(ARGV[2 * i])
    end
    return {i, ttl}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return {0, 0}
"""

# KEYS: counters. Gives back one slot on each (never below zero).
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""

# KEYS: (failure count, lock) pairs. ARGV: free, first ms, longest ms, memory ms per pair.
# Refuses while any lock stands; else counts the attempt as a failure (a right answer
# takes it back) and, from the `free`-th on, locks for first * 2^(n - free) ms.
_ATTEMPT = """
local pairs_n = #KEYS / 2
for i = 1, pairs_n do
  local ttl = redis.call('PTTL', KEYS[2 * i])
  if ttl > 0 then return {i, ttl} end
end
for i = 1, pairs_n do
  local a = (i - 1) * 4
  local free = tonumber(ARGV[a + 1])
  local n = redis.call('INCR', KEYS[2 * i - 1])
  redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[a + 4])
  if n >= free then
    local ms = math.min(tonumber(ARGV[a + 2]) * 2 ^ (n - free), tonumber(ARGV[a + 3]))
    redis.call('SET', KEYS[2 * i], '1', 'PX', math.floor(ms))
  end
end
return {0, 0}
"""

# KEYS: (failure count, lock) pairs. ARGV: free per pair, then 1 to forget the pair
# entirely (this visitor got it right) or 0 to give back this attempt only.
_ATTEMPT_OK = """
local pairs_n = #KEYS / 2
for i = 1, pairs_n do
  if ARGV[pairs_n + i] == '1' then
    redis.call('DEL', KEYS[2 * i - 1], KEYS[2 * i])
  else
    local n = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
    if n > 0 then n = redis.call('DECR', KEYS[2 * i - 1]) end
    if n < tonumber(ARGV[i]) then redis.call('DEL', KEYS[2 * i]) end
  end
end
return 0
"""

# Both lease scripts: Redis's own clock (web processes' clocks don't matter), the lease in
# ms, and, last, holding (or renewing) a lease on every semaphore.
_NOW_AND_LEASE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
"""
_HOLD_ALL = """
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end
return 0
"""

# KEYS: semaphores (ZSET holder -> lease expiry ms). ARGV: holder, lease ms, then the cap
# of each. Drops expired leases; refuses (returns the index) if any is full; else holds
# a lease on all of them and returns 0.
_LEASE = _NOW_AND_LEASE + """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, ARGV[1])
      and redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
    return i
  end
end
""" + _HOLD_ALL

# KEYS: semaphores. ARGV: holder, lease ms. Renews (or re-takes) the holder's lease.
_RENEW = _NOW_AND_LEASE + _HOLD_ALL

_RELEASE = """
for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 0
"""

_SHA = {script: hashlib.sha1(script.encode()).hexdigest()
        for script in (_TAKE, _GIVE_BACK, _ATTEMPT, _ATTEMPT_OK, _LEASE, _RENEW, _RELEASE)}
_last_warning = [0.0]


def _warn(exc: BaseException) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= _WARN_EVERY:
        _last_warning[0] = now
        log.warning("throttle: Redis unavailable (%s: %s); failing open: limits are not "
                    "enforced until it is back", type(exc).__name__, exc)


class Lease:
    """A held slot in one or more semaphores. `keep_alive` renews it in the background;
    `release` gives it back (and is safe to call twice). A lease taken while Redis was
    down holds nothing."""

    def __init__(self, throttle: Throttle | None, keys: list[str], seconds: int) -> None:
        self.throttle = throttle
        self.keys = keys
        self.seconds = seconds
        self.holder = uuid.uuid4().hex
        self._renewer: asyncio.Task | None = None

    def keep_alive(self) -> None:
        if self.throttle is not None and self.keys and self._renewer is None:
            self._renewer = asyncio.create_task(self._renew(), name="throttle-lease")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            await self.throttle._run(_RENEW, self.keys, [self.holder, self.seconds * 1000])

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        if self.throttle is not None and self.keys:
            keys, self.keys = self.keys, []
            # Shielded: a cancelled caller (the client went away) still gives the slot back.
            await asyncio.shield(self.throttle._run(_RELEASE, keys, [self.holder]))


class LeasedStreamingResponse(StreamingResponse):
    """A streaming response that holds `lease` while it streams and releases it when the
    stream ends, fails or the client goes away."""

    def __init__(self, lease: Lease, content: Iterable[bytes], **kwargs) -> None:
        super().__init__(iterate_in_threadpool(iter(content)), **kwargs)
        self.lease = lease

    async def __call__(self, scope, receive, send) -> None:
        self.lease.keep_alive()
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.lease.release()


class Throttle:
    def __init__(self, redis, settings: Settings) -> None:
        self.redis = redis
        self.limits: Limits = settings.limits
        self.prefix = f"{settings.channel_namespace}throttle:"

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    async def _run(self, script: str, keys: list[str], args: list) -> object | None:
        """Run a script (by its SHA, loading it on first use); None when Redis failed."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                try:
                    return await self.redis.evalsha(_SHA[script], len(keys), *keys, *args)
                except NoScriptError:
                    return await self.redis.eval(script, len(keys), *keys, *args)
        except (RedisError, OSError, TimeoutError) as exc:
            _warn(exc)
            return None

    # Primitives -------------------------------------------------------------------------

    async def take(self, rules: list[tuple[str, Rate]], message: str) -> None:
        """Count one on every key, or raise Limited (counting nothing) if any is full.
        `message` may name the wait as {wait}."""
        args = [n for _, rate in rules for n in (rate.count, rate.seconds * 1000)]
        found = await self._run(_TAKE, [key for key, _ in rules], args)
        if found and int(found[0]):
            seconds = int(found[1]) / 1000
            raise Limited(message.format(wait=wait_text(seconds)), seconds)

    async def give_back(self, *keys: str) -> None:
        await self._run(_GIVE_BACK, list(keys), [])

    async def forget(self, *keys: str) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self.redis.delete(*keys)

    async def attempt(self, rules: list[tuple[str, Lockout]], message: str) -> None:
        keys, args = [], []
        for key, rule in rules:
            keys += [f"{key}:n", f"{key}:lock"]
            args += [rule.free, rule.first * 1000, rule.longest * 1000, rule.memory * 1000]
        found = await self._run(_ATTEMPT, keys, args)
        if found and int(found[0]):
            seconds = int(found[1]) / 1000
            raise Limited(message.format(wait=wait_text(seconds)), seconds)

    async def attempt_ok(self, rules: list[tuple[str, Lockout, bool]]) -> None:
        """The attempt was right: forget the rules marked True, give back the others."""
        keys = [k for key, _, _ in rules for k in (f"{key}:n", f"{key}:lock")]
        args = [rule.free for _, rule, _ in rules] + ["1" if f else "0" for _, _, f in rules]
        await self._run(_ATTEMPT_OK, keys, args)

    async def lease(self, caps: list[tuple[str, int]], seconds: int) -> tuple[Lease, int]:
        """Try to hold a slot in every semaphore: (the lease, 0), or (an empty lease, the
        1-based index of the first full one)."""
        lease = Lease(self, [key for key, _ in caps], seconds)
        found = await self._run(_LEASE, lease.keys,
                                [lease.holder, seconds * 1000, *(cap for _, cap in caps)])
        if found is None:
            return Lease(None, [], seconds), 0  # Redis down: fail open, hold nothing
        if int(found):
            return Lease(None, [], seconds), int(found)
        return lease, 0

    # What the routes use ----------------------------------------------------------------

    def _login_keys(self, email: str, address: str) -> list[tuple[str, Rate]]:
        return [(self.key("login", "account", fingerprint(email)), self.limits.login_per_account),
                (self.key("login", "address", address), self.limits.login_per_address),
                (self.key("login", "all"), self.limits.login_global)]

    async def login_attempt(self, email: str, address: str) -> None:
        """Reserve a failure slot per account, per address and server-wide before the
        password is checked; raises Limited when any is used up (even for the right
        password: a locked account stays locked for its window)."""
        await self.take(self._login_keys(email, address),
                        "Too many wrong attempts. Try again in {wait}.")

    async def login_succeeded(self, email: str, address: str) -> None:
        account, address_key, everyone = (key for key, _ in self._login_keys(email, address))
        await self.forget(account)
        await self.give_back(address_key, everyone)

    async def signup(self, address: str) -> None:
        await self.take([(self.key("signup", address), self.limits.signup_per_address)],
                        "Too many sign-ups from your network. Try again in {wait}.")

    async def gate(self, event_id: int, address: str) -> None:
        await self.take([(self.key("gate", "address", address), self.limits.gate_per_address),
                         (self.key("gate", "gallery", event_id), self.limits.gate_per_gallery)],
                        "Too many visitors signed in from here just now. "
                        "Try again in {wait}.")

    def _unlock_keys(self, event_id: int, address: str) -> list[tuple[str, Rate]]:
        return [(self.key("unlock", event_id, address), self.limits.unlock_per_visitor),
                (self.key("unlock", event_id), self.limits.unlock_per_gallery)]

    async def unlock_attempt(self, event_id: int, address: str) -> None:
        await self.take(self._unlock_keys(event_id, address),
                        "Too many wrong passwords. Try again in {wait}.")

    async def unlock_succeeded(self, event_id: int, address: str) -> None:
        visitor, gallery = (key for key, _ in self._unlock_keys(event_id, address))
        await self.forget(visitor)
        await self.give_back(gallery)

    def _pin_rules(self, event_id: int, visitor: str) -> list[tuple[str, Lockout]]:
        return [(self.key("pin", event_id, visitor), self.limits.pin_per_visitor),
                (self.key("pin", event_id), self.limits.pin_per_gallery)]

    async def pin_attempt(self, event_id: int, visitor: str) -> None:
        await self.attempt(self._pin_rules(event_id, visitor),
                           "Too many wrong PINs. Try again in {wait}.")

    async def pin_succeeded(self, event_id: int, visitor: str) -> None:
        (v_key, v_rule), (g_key, g_rule) = self._pin_rules(event_id, visitor)
        await self.attempt_ok([(v_key, v_rule, True), (g_key, g_rule, False)])

    async def gallery_socket(self, visitor_cookie: str | None, address: str) -> Lease | None:
        """A slot for a live gallery socket per gate cookie (device) and per address, or
        None when either is full. A visitor with no cookie yet counts per address only."""
        slots = [(self.key("ws", "address", address), self.limits.sockets_per_address)]
        if visitor_cookie:
            slots.append((self.key("ws", "visitor", fingerprint(visitor_cookie)),
                          self.limits.sockets_per_visitor))
        lease, full = await self.lease(slots, SOCKET_LEASE)
        return None if full else lease

    async def panel_socket(self, session_id: str, address: str) -> Lease | None:
        """A slot for a live panel socket per login session and per address, or None."""
        lease, full = await self.lease(
            [(self.key("ws", "session", fingerprint(session_id)),
              self.limits.sockets_per_session),
             (self.key("ws", "address", address), self.limits.sockets_per_address)],
            SOCKET_LEASE)
        return None if full else lease

    async def bulk_download(self, event_id: int, visitor: str) -> Lease:
        """A slot for one bulk ZIP per visitor and per gallery; raises Limited when full."""
        visitor_cap = self.limits.zips_per_visitor
        lease, full = await self.lease(
            [(self.key("zip", "visitor", visitor), visitor_cap),
             (self.key("zip", "gallery", event_id), self.limits.zips_per_gallery)],
            DOWNLOAD_LEASE)
        if full == 1:
            raise Limited(f"You already have {visitor_cap} downloads running. Let one finish, "
                          "then try again.", 30)
        if full == 2:
            raise Limited("This gallery has too many downloads running right now. Try again "
                          "in a minute.", 60)
        return lease


def of(conn: HTTPConnection) -> Throttle:
    """The throttle of the app serving this request or socket."""
    services = conn.state.services
    return Throttle(services.redis, services.settings)
