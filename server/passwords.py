"""Password hashing (argon2id, 19 MiB, 2 iterations) and failure throttling."""

from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import Throttled
from .models import LoginFailure, utcnow

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

MAX_FAILURES = 10
WINDOW = timedelta(minutes=15)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def check_throttle(session: AsyncSession, key: str) -> None:
    """Refuse before even checking the password when `key` failed too often recently."""
    since = utcnow() - WINDOW
    failures = await session.scalar(
        select(func.count()).where(LoginFailure.key == key, LoginFailure.at > since)
    )
    if failures >= MAX_FAILURES:
        raise Throttled("Too many wrong attempts. Wait a few minutes and try again.")


async def note_failure(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - WINDOW))
    session.add(LoginFailure(key=key))


async def clear_failures(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.key == key))
