"""Photographer accounts and server-side sessions.

The browser holds a signed cookie with a session id; the row behind it is the truth, so
logout (and later a password change) ends the session everywhere. Ids rotate at login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import validation
from .errors import Invalid
from .events import tenant_channel
from .galleries import create_default_gallery_types
from .models import AuthSession, Photographer, utcnow
from .outbox import outbox_of
from .passwords import check_throttle, clear_failures, hash_password, note_failure, verify_password


async def sign_up(session: AsyncSession, *, email: str, name: str, password: str) -> Photographer:
    email = validation.email(email)
    name = validation.text(name, "Name", max_len=120)
    password = validation.password(password)
    taken = await session.scalar(select(Photographer.id).where(Photographer.email == email))
    if taken:
        raise Invalid("An account with that email already exists. Log in instead.", field="email")
    photographer = Photographer(email=email, name=name, password_hash=hash_password(password))
    session.add(photographer)
    await session.flush()
    await create_default_gallery_types(session, photographer.id)
    return photographer


async def authenticate(
    session: AsyncSession, *, email: str, password: str
) -> Photographer | None:
    """The photographer, or None after noting the failure (the caller commits either way,
    so the failure counts toward the throttle). Raises Throttled when locked out."""
    key = f"login:{(email or '').strip().lower()}"
    await check_throttle(session, key)
    photographer = await session.scalar(
        select(Photographer).where(Photographer.email == (email or "").strip().lower())
    )
    if photographer is None or not verify_password(photographer.password_hash, password or ""):
        await note_failure(session, key)
        return None
    await clear_failures(session, key)
    return photographer


@dataclass(frozen=True)
class SessionPolicy:
    """How long a login lasts: `idle` after the last request, never beyond `max_age` after
    the login. `expires_at` holds the earlier of the two, so one comparison checks both;
    it slides forward at most once per REFRESH_EVERY (a write per request would not do)."""

    idle: timedelta = timedelta(days=3)
    max_age: timedelta = timedelta(days=30)

    REFRESH_EVERY: ClassVar[timedelta] = timedelta(minutes=10)

    def expiry(self, created_at: datetime, now: datetime) -> datetime:
        return min(created_at + self.max_age, now + self.idle)

    def refresh_due(self, row: AuthSession, now: datetime) -> bool:
        return self.expiry(row.created_at, now) - row.expires_at >= self.REFRESH_EVERY


async def start_session(session: AsyncSession, photographer_id: int,
                        policy: SessionPolicy = SessionPolicy()) -> AuthSession:
    """A new session row with its own CSRF token (so logging in rotates both)."""
    now = utcnow()
    row = AuthSession(
        id=secrets.token_urlsafe(32),
        photographer_id=photographer_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=policy.expiry(now, now),
    )
    session.add(row)
    await session.flush()
    return row


async def extend_session(session: AsyncSession, row: AuthSession,
                         policy: SessionPolicy) -> None:
    """Slide an active session's idle expiry forward (capped by its absolute age)."""
    await session.execute(
        update(AuthSession).where(AuthSession.id == row.id)
        .values(expires_at=policy.expiry(row.created_at, utcnow()))
    )


async def end_other_sessions(session: AsyncSession, photographer_id: int,
                             keep_session_id: str | None) -> int:
    """End every session of the photographer but `keep_session_id` (a password change):
    after commit their live sockets are told to close. Returns how many ended."""
    ended = list(await session.scalars(
        delete(AuthSession).where(AuthSession.photographer_id == photographer_id,
                                  AuthSession.id != (keep_session_id or ""))
        .returning(AuthSession.id)
    ))
    for session_id in ended:
        outbox_of(session).publish(tenant_channel(photographer_id),
                                   {"type": "logout", "session": session_id})
    return len(ended)


async def end_session(session: AsyncSession, session_id: str) -> None:
    """Delete the session row; after commit, its live sockets are told to close."""
    photographer_id = await session.scalar(
        delete(AuthSession).where(AuthSession.id == session_id).returning(
            AuthSession.photographer_id)
    )
    if photographer_id is not None:
        outbox_of(session).publish(tenant_channel(photographer_id),
                                   {"type": "logout", "session": session_id})


async def load_session(
    session: AsyncSession, session_id: str
) -> tuple[AuthSession, Photographer] | None:
    row = (
        await session.execute(
            select(AuthSession, Photographer)
            .join(Photographer, Photographer.id == AuthSession.photographer_id)
            .where(AuthSession.id == session_id, AuthSession.expires_at > utcnow())
        )
    ).first()
    return (row[0], row[1]) if row else None


async def update_profile(session: AsyncSession, photographer_id: int, *, name: str,
                         business_name: str) -> Photographer:
    """The name the panel greets and the studio name clients see in galleries and emails."""
    photographer = await session.get(Photographer, photographer_id)
    photographer.name = validation.text(name, "Name", max_len=120)
    photographer.business_name = validation.text(business_name, "Studio name", max_len=120,
                                                 required=False)
    await session.flush()
    return photographer


async def set_password(session: AsyncSession, photographer_id: int, password_hash: str,
                       keep_session_id: str) -> int:
    """Store a new password hash (made outside the transaction: argon2 takes ~20 ms) and
    end every other session, which closes their live sockets. Returns how many ended."""
    await session.execute(
        update(Photographer).where(Photographer.id == photographer_id)
        .values(password_hash=password_hash)
    )
    return await end_other_sessions(session, photographer_id, keep_session_id)
