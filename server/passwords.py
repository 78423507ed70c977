"""Password hashing: argon2id, 19 MiB, 2 iterations.

Hashing and verifying take ~20 ms of CPU each: the async helpers run them in a thread,
never on the event loop, and callers run them outside any write transaction (on SQLite a
write transaction holds the single writer lock). Throttling failures is
server/throttle.py's job.
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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Always one argon2 verification: against DUMMY_HASH (and then False) when there is
    no hash to check."""
    try:
        ok = _hasher.verify(password_hash or DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return False
    return ok and bool(password_hash)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def check_password(password_hash: str | None, password: str) -> bool:
    """verify_password in a worker thread."""
    return await asyncio.to_thread(verify_password, password_hash, password)
