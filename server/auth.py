"""Photographer accounts and server-side sessions.

The browser holds a signed cookie with a session id; the row behind it is the truth, so
logout (and later a password change) ends the session everywhere. Ids rotate at login.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import validation
from .errors import Invalid
from .events import tenant_channel
from .galleries import create_default_gallery_types
from .models import AuthSession, Photographer, utcnow
from .outbox import outbox_of
from .passwords import check_throttle, clear_failures, hash_password, note_failure, verify_password

SESSION_LIFETIME = timedelta(days=14)


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


async def start_session(session: AsyncSession, photographer_id: int) -> AuthSession:
    row = AuthSession(
        id=secrets.token_urlsafe(32),
        photographer_id=photographer_id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + SESSION_LIFETIME,
    )
    session.add(row)
    await session.flush()
    return row


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
