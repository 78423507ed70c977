"""Contacts: one per (photographer, email), made at the email gate or by hand."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from . import validation
from .errors import NotFound
from .models import Contact


async def upsert_contact(
    session: AsyncSession, photographer_id: int, *, email: str, name: str, source: str = "gate"
) -> Contact:
    email = validation.email(email)
    name = validation.text(name, "Name", max_len=120)
    contact = await session.scalar(
        select(Contact).where(Contact.photographer_id == photographer_id, Contact.email == email)
    )
    if contact is None:
        contact = Contact(photographer_id=photographer_id, email=email, name=name, source=source)
        session.add(contact)
    elif name and contact.name != name:
        contact.name = name
    await session.flush()
    return contact


async def get_contact(session: AsyncSession, photographer_id: int, contact_id: int) -> Contact:
    contact = await session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.photographer_id == photographer_id)
    )
    if contact is None:
        raise NotFound("No such contact.")
    return contact


async def list_contacts(session: AsyncSession, photographer_id: int) -> list[Contact]:
    rows = await session.scalars(
        select(Contact)
        .where(Contact.photographer_id == photographer_id)
        .order_by(Contact.created_at.desc())
    )
    return list(rows)
