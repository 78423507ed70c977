"""Devices: the browsers a contact used, and the one-time links that verify them.

Typing an email at the gate proves nothing: whoever types a known client's address gets a
NEW, unverified device of that contact. It counts for the contact (its favorites, comments
and downloads are the contact's) but sees only what it did itself, and it never renames
the contact. To see what the contact did before, the browser follows a one-time link
emailed to the address. The gate answers the same whether the email was known or not.

Tokens: `secrets.token_urlsafe(32)`, only their sha256 is stored; a link is consumed by
one conditional UPDATE (unused, unexpired, this gallery's), never by a GET (mail scanners
prefetch links).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import mail, validation
from .contacts import upsert
from .errors import DomainError
from .models import Contact, Device, DeviceFavorite, DeviceLink, Event, Photographer, utcnow
from .public import Guest, touch_visit
from .templating import EMAILS

LINK_TTL = timedelta(hours=24)
#: Typing the address again within this while sends no second email (the first link
#: verifies whichever browser follows it): the gate can't be used to flood an inbox.
RESEND_AFTER = timedelta(minutes=2)
USER_AGENT_MAX = 200


class LinkUnusable(DomainError):
    """Unknown, already used, expired, or another gallery's: nothing was changed."""

    status_code = 410


def mask_email(email: str) -> str:
    """'jane@example.com' -> 'j…@example.com': enough to recognise, not to harvest."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}…@{domain}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class GatePassed:
    guest: Guest
    #: What the gate answers, identical for a known and an unknown address.
    verify_sent_to: str


def _new_device(photographer_id: int, contact_id: int, name: str, user_agent: str, *,
                verified: bool) -> Device:
    now = utcnow()
    return Device(photographer_id=photographer_id, contact_id=contact_id, name=name,
                  verified_at=now if verified else None, created_at=now, last_seen_at=now,
                  user_agent=(user_agent or "")[:USER_AGENT_MAX])


def pass_gate(session: Session, event: Event, *, email: str, name: str,
              current: Guest | None, user_agent: str, base_url: str) -> GatePassed:
    """The email gate. A browser already holding a device of this contact keeps it (a
    verified one may correct the name); any other gets a new, unverified device. A contact
    that existed before is sent a link to verify it. The answer never tells which."""
    email = validation.email(email)
    name = validation.text(name, "Name", max_len=120)
    pid = event.photographer_id
    contact = session.scalar(
        select(Contact).where(Contact.photographer_id == pid, Contact.email == email))
    known = contact is not None
    if contact is None:
        contact = upsert(session, pid, email=email, name=name)
    device = None
    if current is not None and current.contact_id == contact.id:
        device = session.scalar(select(Device).where(
            Device.id == current.device_id, Device.photographer_id == pid,
            Device.contact_id == contact.id))
    if device is None:
        device = _new_device(pid, contact.id, name, user_agent, verified=False)
        session.add(device)
        session.flush()
    else:
        device.name = name
        if device.verified_at is not None and name != contact.name:
            contact.name = name  # only a verified browser speaks for the contact
    guest = Guest(pid, event.id, contact.id, device.id, device.verified_at is not None)
    # Every unverified browser is sent a link: a new client confirms their address (the
    # panel then stops marking them), a returning one brings their history to this device.
    if not guest.verified and not _recently_sent(session, event, contact):
        send_link(session, event, contact, base_url, first=not known)
    touch_visit(session, guest, force=True)
    return GatePassed(guest, mask_email(contact.email))


def _recently_sent(session: Session, event: Event, contact: Contact) -> bool:
    return session.scalar(select(DeviceLink.id).where(
        DeviceLink.photographer_id == contact.photographer_id,
        DeviceLink.contact_id == contact.id, DeviceLink.event_id == event.id,
        DeviceLink.used_at.is_(None), DeviceLink.created_at > utcnow() - RESEND_AFTER,
    ).limit(1)) is not None


def send_link(session: Session, event: Event, contact: Contact,
              base_url: str, *, first: bool = False) -> None:
    """Queue the "continue on this device" email with a fresh one-time link."""
    token = secrets.token_urlsafe(32)
    session.add(DeviceLink(photographer_id=contact.photographer_id, contact_id=contact.id,
                           event_id=event.id, token_hash=hash_token(token),
                           expires_at=utcnow() + LINK_TTL))
    photographer = session.get(Photographer, contact.photographer_id)
    studio = photographer.business_name or photographer.name
    context = {"contact": contact, "event": event, "photographer": photographer,
               "link": f"{base_url}/g/{event.slug}/verify/{token}", "hours": 24,
               "first": first}
    mail.queue(
        session, contact.photographer_id, kind="verify_device", recipient=contact.email,
        subject=(f"Confirm your email for {event.title} ({studio})" if first
                 else f"Continue on this device: {event.title} ({studio})"),
        body_text=EMAILS.get_template("email/verify_device.txt").render(context),
        body_html=EMAILS.get_template("email/verify_device.html").render(context),
        contact_id=contact.id, event_id=event.id,
    )


def _usable(event: Event, token: str):
    return (DeviceLink.token_hash == hash_token(token), DeviceLink.event_id == event.id,
            DeviceLink.photographer_id == event.photographer_id,
            DeviceLink.used_at.is_(None), DeviceLink.expires_at > utcnow())


async def link_is_usable(session: AsyncSession, event: Event, token: str) -> bool:
    """For the GET page: looks, changes nothing."""
    if not token or len(token) > 100:
        return False
    return await session.scalar(select(DeviceLink.id).where(*_usable(event, token))) is not None


def use_link(session: Session, event: Event, token: str, *, current: Guest | None,
             user_agent: str) -> Guest:
    """Consume the link (once: a conditional UPDATE) and verify the browser following it:
    its device of this contact, or a new verified one."""
    if not token or len(token) > 100:
        raise LinkUnusable("This link is not valid.")
    claimed = session.execute(
        update(DeviceLink).where(*_usable(event, token)).values(used_at=utcnow())
        .execution_options(synchronize_session=False))
    if not claimed.rowcount:
        raise LinkUnusable("This link has expired or was already used.")
    contact_id = session.scalar(
        select(DeviceLink.contact_id).where(DeviceLink.token_hash == hash_token(token)))
    pid = event.photographer_id
    device = None
    if current is not None and current.contact_id == contact_id:
        device = session.scalar(select(Device).where(
            Device.id == current.device_id, Device.photographer_id == pid,
            Device.contact_id == contact_id))
    if device is None:
        name = session.scalar(select(Contact.name).where(Contact.id == contact_id))
        device = _new_device(pid, contact_id, name or "", user_agent, verified=True)
        session.add(device)
        session.flush()
    elif device.verified_at is None:
        device.verified_at = utcnow()
        # It sees all of the contact's favorites now: its private hearts are moot.
        session.execute(delete(DeviceFavorite).where(DeviceFavorite.device_id == device.id))
    guest = Guest(pid, event.id, contact_id, device.id, True)
    touch_visit(session, guest, force=True, payload={"verified": True})
    return guest
