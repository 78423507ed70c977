"""Photographer accounts and server-side sessions.

The browser holds a signed cookie with a session id; the row behind it is the truth, so
logout (and later a password change) ends the session everywhere. Ids rotate at login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import validation
from .errors import Invalid
from .events import tenant_channel
from .galleries import add_default_gallery_types
from .models import AuthSession, Photographer, utcnow
from .outbox import outbox_of
from .passwords import hash_password, verify_password
from .throttle import Throttle

if TYPE_CHECKING:
    from .db import Database


@dataclass(frozen=True)
class NewAccount:
    """A checked sign-up: sign_up's argument, its password already hashed."""

    email: str
    name: str
    password_hash: str


async def new_account(*, email: str, name: str, password: str) -> NewAccount:
    """A sign-up form checked, its password hashed in a thread: made before the write unit
    (argon2 must not run inside it: on SQLite that holds the single writer)."""
    return NewAccount(validation.email(email), validation.text(name, "Name", max_len=120),
                      await hash_password(validation.password(password)))


def sign_up(session: Session, account: NewAccount) -> Photographer:
    """A new account (unit of work), with its default gallery types."""
    taken = session.scalar(select(Photographer.id).where(Photographer.email == account.email))
    if taken:
        raise Invalid("An account with that email already exists. Log in instead.", field="email")
    photographer = Photographer(email=account.email, name=account.name,
                                password_hash=account.password_hash)
    session.add(photographer)
    session.flush()
    add_default_gallery_types(session, photographer.id)
    return photographer


async def create_account(db: Database, *, email: str, name: str, password: str) -> Photographer:
    """Sign up outside a request (the CLI, the demo, tests): hash first, then one unit."""
    return await db.write(sign_up, await new_account(email=email, name=name, password=password))


async def authenticate(db, throttle: Throttle, *, email: str, password: str,
                       address: str) -> Photographer | None:
    """The photographer, or None. A failure slot (per account, per address, server-wide)
    is reserved before the check, so parallel guesses cannot overrun the limit; a right
    password gives it back. Raises throttle.Limited when used up.

    An unknown email costs the same argon2 verification as a known one (against a dummy
    hash), in a thread, with no transaction open."""
    email = (email or "").strip().lower()
    await throttle.login_attempt(email, address)
    async with db.reader() as session:
        photographer = await session.scalar(select(Photographer).where(Photographer.email == email))
    known_hash = photographer.password_hash if photographer is not None else None
    if not await verify_password(known_hash, password or "") or photographer is None:
        return None
    await throttle.login_succeeded(email, address)
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


def start_session(session: Session, photographer_id: int,
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
    session.flush()
    return row


def sign_up_and_log_in(session: Session, account: NewAccount,
                       policy: SessionPolicy) -> AuthSession:
    """The sign-up form's unit: the new account and its first login, committed together."""
    return start_session(session, sign_up(session, account).id, policy)


def log_in(session: Session, photographer_id: int, previous: str | None,
           policy: SessionPolicy) -> AuthSession:
    """A new session (unit of work); the one this browser held, if any, ends with it
    (the id rotates at login)."""
    if previous:
        end_session(session, previous)
    return start_session(session, photographer_id, policy)


def extend_session(session: Session, row: AuthSession, policy: SessionPolicy) -> None:
    """Slide an active session's idle expiry forward (capped by its absolute age)."""
    session.execute(
        update(AuthSession).where(AuthSession.id == row.id)
        .values(expires_at=policy.expiry(row.created_at, utcnow()))
    )


def end_other_sessions(session: Session, photographer_id: int,
                       keep_session_id: str | None) -> int:
    """End every session of the photographer but `keep_session_id` (a password change):
    after commit their live sockets are told to close. Returns how many ended."""
    ended = list(session.scalars(
        delete(AuthSession).where(AuthSession.photographer_id == photographer_id,
                                  AuthSession.id != (keep_session_id or ""))
        .returning(AuthSession.id)
    ))
    for session_id in ended:
        outbox_of(session).publish(tenant_channel(photographer_id),
                                   {"type": "logout", "session": session_id})
    return len(ended)


def end_session(session: Session, session_id: str) -> None:
    """Delete the session row; after commit, its live sockets are told to close."""
    photographer_id = session.scalar(
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


def update_profile(session: Session, photographer_id: int, name: str,
                   business_name: str) -> Photographer:
    """The name the panel greets and the studio name clients see in galleries and emails."""
    photographer = session.get(Photographer, photographer_id)
    photographer.name = validation.text(name, "Name", max_len=120)
    photographer.business_name = validation.text(business_name, "Studio name", max_len=120,
                                                 required=False)
    session.flush()
    return photographer


def set_password(session: Session, photographer_id: int, password_hash: str,
                 keep_session_id: str) -> int:
    """Store a new password hash (made outside the transaction: argon2 takes ~20 ms) and
    end every other session, which closes their live sockets. Returns how many ended."""
    session.execute(
        update(Photographer).where(Photographer.id == photographer_id)
        .values(password_hash=password_hash)
    )
    return end_other_sessions(session, photographer_id, keep_session_id)
