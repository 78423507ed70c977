"""Contacts: one per (photographer, email), made at the email gate or by hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import validation
from .errors import NotFound
from .models import Contact


def insert_if_absent(model: type, values: dict[str, Any], keys: tuple[str, ...],
                     dialect: str):
    """`INSERT … ON CONFLICT (keys) DO NOTHING RETURNING id` for a row with a natural key.

    Two requests that both found no row (two tabs at the email gate, two web processes)
    then both insert: a plain INSERT would fail the second with an IntegrityError (a 500).
    This one leaves the first request's row and returns no id; the caller then selects
    it (on PostgreSQL the INSERT waits for the first transaction, so the row is there).
    Same statement on SQLite and PostgreSQL."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__
    return (insert(table).values(**values)
            .on_conflict_do_nothing(index_elements=[table.c[k] for k in keys])
            .returning(table.c.id))


def upsert(session: Session, photographer_id: int, *, email: str, name: str,
           source: str = "gate") -> Contact:
    """The contact of this email, made if new (race-safe: one row, never an error)."""
    email = validation.email(email)
    name = validation.text(name, "Name", max_len=120)
    mine = (Contact.photographer_id == photographer_id, Contact.email == email)
    contact = session.scalar(select(Contact).where(*mine))
    if contact is None:
        session.execute(insert_if_absent(
            Contact, {"photographer_id": photographer_id, "email": email, "name": name,
                      "source": source},
            ("photographer_id", "email"), session.get_bind().dialect.name))
        contact = session.scalar(select(Contact).where(*mine))
    if name and contact.name != name:
        contact.name = name
    session.flush()
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
