"""Password hashing: argon2id, 19 MiB, 2 iterations, always in a worker thread.

Hashing and verifying take ~20 ms of CPU each, so the only public functions are
awaitables that run argon2 through asyncio.to_thread, never on the event loop. Callers
await them before opening a write transaction (on SQLite a write transaction holds the
single writer lock; 20 ms inside it stalls every other write): check first, then write.
Throttling failures is server/throttle.py's job.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

#: Verified against when there is no real hash (an unknown email), so that path does the
#: same argon2 work as a real one and answers in the same time: timing cannot tell
#: which emails have accounts.
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(24))


async def hash_password(password: str) -> str:
    """The argon2id hash of `password`, computed in a worker thread."""
    return await asyncio.to_thread(_hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`, checked in a worker thread. Always one
    argon2 verification: against DUMMY_HASH (and then False) when there is no hash."""
    return await asyncio.to_thread(_verify, password_hash, password)


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        ok = _hasher.verify(password_hash or DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return False
    return ok and bool(password_hash)
