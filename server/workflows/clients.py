"""A gallery's client contacts (the couple, the parents: the "clients" audience of its
workflow emails), the workflows a gallery's settings offer, and the unsubscribe that
every workflow email's link leads to.

Like every panel service, each function takes the photographer's id and filters on it: a
gallery or contact of someone else is NotFound and nothing changes. A change of a
gallery's clients re-plans the gallery in the same unit of work (rule: pending
ScheduledAction rows move with the change that moved them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .. import contacts, validation
from ..errors import Invalid, NotFound
from ..galleries import find_event
from ..models import Contact, Event, Photographer, utcnow
from . import planner
from .models import GALLERY_ANCHORS, GalleryClient, ScheduledAction, Workflow, WorkflowStep

#: A gallery's clients are the people it was shot for, not a mailing list.
MAX_CLIENTS = 50
NO_LONGER_CLIENT = "No longer a client of this gallery."


@dataclass(frozen=True)
class Client:
    """One client contact of a gallery, as the gallery page lists it."""

    contact_id: int
    name: str
    email: str
    unsubscribed_at: datetime | None
    added_at: datetime


def list_clients(session: Session, photographer_id: int, event_id: int) -> list[Client]:
    """The gallery's clients, oldest first. Sync: readers call it through run_sync."""
    find_event(session, photographer_id, event_id)
    rows = session.execute(
        select(Contact.id, Contact.name, Contact.email, Contact.unsubscribed_at,
               GalleryClient.created_at)
        .join(GalleryClient, GalleryClient.contact_id == Contact.id)
        .where(GalleryClient.event_id == event_id,
               GalleryClient.photographer_id == photographer_id,
               Contact.photographer_id == photographer_id)
        .order_by(GalleryClient.created_at, Contact.id))
    return [Client(*row) for row in rows]


def add_client(session: Session, photographer_id: int, event_id: int, *, name: str,
               email: str) -> Contact:
    """Make (or find) the contact of this email and link it to the gallery. Adding a
    client twice changes nothing (their name is updated to the one typed)."""
    event = find_event(session, photographer_id, event_id)
    name = validation.text(name, "Name", max_len=120)
    contact = contacts.upsert(session, photographer_id, email=email, name=name,
                              source="manual")
    if _linked(session, event_id, contact.id):
        return contact
    count = session.scalar(select(func.count()).select_from(GalleryClient).where(
        GalleryClient.event_id == event_id))
    if count >= MAX_CLIENTS:
        raise Invalid(f"A gallery can have at most {MAX_CLIENTS} clients.", field="email")
    _link(session, event, contact.id)
    planner.plan(session, event)
    return contact


def remove_client(session: Session, photographer_id: int, event_id: int,
                  contact_id: int) -> None:
    """Unlink a client from the gallery (the contact itself stays)."""
    event = find_event(session, photographer_id, event_id)
    gone = session.execute(delete(GalleryClient).where(
        GalleryClient.event_id == event_id, GalleryClient.contact_id == contact_id,
        GalleryClient.photographer_id == photographer_id))
    if not gone.rowcount:
        raise NotFound("This person is not a client of this gallery.")
    _cancel_waiting(session, event, contact_id)
    planner.plan(session, event)


def _cancel_waiting(session: Session, event: Event, contact_id: int) -> None:
    """Their emails of "clients" steps not sent yet (a fan-out's rows, due as it ran): the
    plan never revisits those rows, so the removal cancels them itself."""
    clients_steps = select(WorkflowStep.id).where(
        WorkflowStep.photographer_id == event.photographer_id,
        WorkflowStep.audience == "clients", WorkflowStep.anchor.in_(GALLERY_ANCHORS))
    session.execute(
        update(ScheduledAction)
        .where(ScheduledAction.event_id == event.id, ScheduledAction.contact_id == contact_id,
               ScheduledAction.state == "pending", ScheduledAction.step_id.in_(clients_steps))
        .values(state="cancelled", reason=NO_LONGER_CLIENT, done_at=utcnow())
        .execution_options(synchronize_session=False))


def _linked(session: Session, event_id: int, contact_id: int) -> bool:
    return session.scalar(select(GalleryClient.contact_id).where(
        GalleryClient.event_id == event_id, GalleryClient.contact_id == contact_id)) is not None


def _link(session: Session, event: Event, contact_id: int) -> None:
    """INSERT … ON CONFLICT DO NOTHING: two tabs adding the same client make one row."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(GalleryClient).values(
        event_id=event.id, contact_id=contact_id, photographer_id=event.photographer_id,
        created_at=utcnow()).on_conflict_do_nothing(index_elements=["event_id", "contact_id"]))


# --- the gallery's workflow choice ----------------------------------------------------------


@dataclass(frozen=True)
class WorkflowChoice:
    id: int
    name: str
    active: bool
    gallery_type_id: int | None


def workflow_choices(session: Session, photographer_id: int) -> list[WorkflowChoice]:
    """The photographer's workflows, for the gallery settings' "Use another workflow"."""
    rows = session.execute(select(Workflow.id, Workflow.name, Workflow.active,
                                  Workflow.gallery_type_id)
                           .where(Workflow.photographer_id == photographer_id)
                           .order_by(Workflow.name, Workflow.id))
    return [WorkflowChoice(*row) for row in rows]


def type_workflows(choices: list[WorkflowChoice]) -> dict[str, str]:
    """Gallery type id (as the form's text) -> the name of its active workflow. Like the
    planner (effective_workflow), the newest active one wins should there be two."""
    found: dict[str, tuple[int, str]] = {}
    for choice in choices:
        key = str(choice.gallery_type_id)
        if choice.active and choice.gallery_type_id and choice.id > found.get(key, (0, ""))[0]:
            found[key] = (choice.id, choice.name)
    return {key: name for key, (_, name) in found.items()}


# --- unsubscribe ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsubscribe:
    """What the unsubscribe page shows: whose emails, and whether it is done already."""

    studio: str
    email: str
    done: bool


def unsubscribe_view(session: Session, photographer_id: int,
                     contact_id: int) -> Unsubscribe:
    contact = _contact(session, photographer_id, contact_id)
    return Unsubscribe(_studio(session, photographer_id), contact.email,
                       contact.unsubscribed_at is not None)


def unsubscribe(session: Session, photographer_id: int, contact_id: int) -> Unsubscribe:
    """Stop every later workflow email to this contact (the runner skips them with the
    reason). Idempotent: the first time is the one remembered."""
    contact = _contact(session, photographer_id, contact_id)
    if contact.unsubscribed_at is None:
        contact.unsubscribed_at = utcnow()
        session.flush()
    return Unsubscribe(_studio(session, photographer_id), contact.email, True)


def _contact(session: Session, photographer_id: int, contact_id: int) -> Contact:
    contact = session.scalar(select(Contact).where(
        Contact.id == contact_id, Contact.photographer_id == photographer_id))
    if contact is None:
        raise NotFound("This link is not valid.")
    return contact


def _studio(session: Session, photographer_id: int) -> str:
    studio = session.get(Photographer, photographer_id)
    return (studio.business_name or studio.name) if studio else ""
