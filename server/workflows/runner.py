"""What an arq job does with one due ScheduledAction row (rule 6).

One unit of work claims the row with a conditional UPDATE (`state = 'pending'` and due),
so a duplicate job, a stale job of a moved time, or a second worker finds nothing and does
nothing; then, in the same unit, it decides and records: a fan-out row resolves its
audience now and adds one row per contact (each with its own job); a contact's row is
sent (its email rendered and queued in the outbox, claimed by this job) or skipped with a
reason. Every send and skip is an ActivityEvent. After the commit the job hands the email
to SMTP itself (mail.send_claimed); a crash there leaves the email leased, and reconcile
sends it once the lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from .. import activity, mail
from ..models import Contact, Event, OutboundEmail, Photographer, Visit, utcnow
from ..store.models import Order
from . import messages, planner
from .models import GALLERY_ANCHORS, GalleryClient, ScheduledAction, WorkflowStep

MAX_ATTEMPTS = 5
#: arq stores a job's time in whole milliseconds and may start it a hair before the row's
#: own due time: a claim accepts rows due this soon.
EARLY = timedelta(seconds=1)
WAITING = ScheduledAction.state == "pending"
LEASED = ScheduledAction.state == "claimed"


@dataclass(frozen=True)
class Mailer:
    """What rendering and sending need from the settings."""

    base_url: str
    secret: str
    smtp_url: str = ""
    sender: str = ""


def claimable(now: datetime):
    return and_(ScheduledAction.attempts < MAX_ATTEMPTS, or_(
        and_(WAITING, ScheduledAction.next_attempt_at <= now + EARLY),
        and_(LEASED, ScheduledAction.leased_until < now)))


async def run(db, mailer: Mailer, action_id: int, lease: timedelta) -> str:
    """The job's whole flow: one unit decides and records, then the email leaves."""
    outcome, email = await db.write(execute, action_id, mailer, lease)
    if email is not None:
        await mail.send_claimed(db, mailer.smtp_url, mailer.sender, email)
    return outcome


def execute(session: Session, action_id: int, mailer: Mailer,
            lease: timedelta) -> tuple[str, OutboundEmail | None]:
    now = utcnow()
    claimed = session.execute(
        update(ScheduledAction).where(ScheduledAction.id == action_id, claimable(now))
        .values(state="claimed", attempts=ScheduledAction.attempts + 1,
                leased_until=now + lease))
    if not claimed.rowcount:
        return "skipped", None
    row = session.get(ScheduledAction, action_id)
    step = session.get(WorkflowStep, row.step_id) if row.step_id else None
    event = session.get(Event, row.event_id)
    if step is None or step.id not in {s.id for s in planner.email_steps(session, event.id)}:
        return _end(session, row, "cancelled", "The step is no longer in this gallery's "
                    "workflow."), None
    if row.contact_id is None:
        return _fan_out(session, row, step, event, now), None
    contact = session.get(Contact, row.contact_id)
    reason = _why_not(session, step, event, contact, now)
    if reason:
        _end(session, row, "skipped", reason)
        planner._log_skip(session, event, contact.id, step, reason)
        return "skipped", None
    return "sent", _send(session, row, step, event, contact, mailer, lease, now)


def _end(session: Session, row: ScheduledAction, state: str, reason: str | None) -> str:
    row.state, row.reason, row.leased_until, row.done_at = state, reason, None, utcnow()
    session.flush()
    return state


def _fan_out(session: Session, row: ScheduledAction, step: WorkflowStep, event: Event,
             now: datetime) -> str:
    """The step's audience as of now, one row each (due now, each with its own job)."""
    contacts = audience(session, event, step.audience)
    for contact_id in contacts:
        planner._insert(session, event, planner.key(event.id, step.id, contact_id),
                        planner.Wanted(step, contact_id, now), None, now)
    plural = "" if len(contacts) == 1 else "s"
    return _end(session, row, "sent", f"Planned for {len(contacts)} recipient{plural}.")


def audience(session: Session, event: Event, name: str) -> list[int]:
    """The contact ids a gallery-anchored step goes to, decided when it comes due."""
    if name == "clients":
        query = select(GalleryClient.contact_id).where(GalleryClient.event_id == event.id)
    else:
        query = select(Visit.contact_id).where(Visit.event_id == event.id)
        if name == "favorites":
            query = query.where(Visit.favorites > 0)
        elif name == "open_cart":
            query = query.where(Visit.cart_stage.in_(planner.OPEN_CART))
        elif name == "no_order":
            query = query.where(Visit.contact_id.not_in(_ordered(event)))
    return sorted(set(session.scalars(query)))


def _ordered(event: Event):
    return select(Order.contact_id).where(Order.event_id == event.id,
                                          Order.state != "cancelled")


def _why_not(session: Session, step: WorkflowStep, event: Event, contact: Contact,
             now: datetime) -> str | None:
    """Why this contact's email must not leave now, or None."""
    if contact.unsubscribed_at is not None:
        return "They unsubscribed from these emails."
    if step.anchor != "event_date" and event.status != "released":
        return "The gallery is not released."
    if event.is_expired(now) and not (step.anchor == "expiry" and step.offset_seconds > 0):
        return "The gallery has expired."
    favorites = _favorites(session, event, contact)
    ordered = session.scalar(select(func.count()).select_from(
        _ordered(event).where(Order.contact_id == contact.id).subquery()))
    if step.anchor == "first_visit" and favorites:
        return "They have chosen favorites since."
    if step.anchor in ("first_favorite", "cart_change") and ordered:
        return "They placed an order."
    if step.anchor not in GALLERY_ANCHORS and step.audience != "clients":
        return _audience_miss(session, step.audience, event, contact, favorites, ordered)
    return None


def _audience_miss(session: Session, name: str, event: Event, contact: Contact,
                   favorites: int, ordered: int) -> str | None:
    if name == "favorites" and not favorites:
        return "They have no favorites."
    if name == "no_order" and ordered:
        return "They placed an order."
    if name == "open_cart" and session.scalar(select(Visit.cart_stage).where(
            Visit.event_id == event.id, Visit.contact_id == contact.id)) not in planner.OPEN_CART:
        return "Their cart is not open."
    return None


def _favorites(session: Session, event: Event, contact: Contact) -> int:
    return session.scalar(select(Visit.favorites).where(
        Visit.event_id == event.id, Visit.contact_id == contact.id)) or 0


def _send(session: Session, row: ScheduledAction, step: WorkflowStep, event: Event,
          contact: Contact, mailer: Mailer, lease: timedelta, now: datetime) -> OutboundEmail:
    photographer = session.get(Photographer, event.photographer_id)
    rendered = messages.render(step.content, event=event, contact=contact,
                               photographer=photographer, base_url=mailer.base_url,
                               secret=mailer.secret, favorites=_favorites(session, event, contact),
                               now=now)
    email = mail.queue(session, event.photographer_id, kind="workflow", recipient=contact.email,
                       subject=rendered.subject, body_text=rendered.text,
                       body_html=rendered.html, contact_id=contact.id, event_id=event.id,
                       lease=lease)
    row.email_id = email.id
    _end(session, row, "sent", None)
    activity.record(session, event.photographer_id, "workflow_email_sent", event_id=event.id,
                    contact_id=contact.id, payload={
                        "step": planner.label(step), "subject": rendered.subject,
                        "email_id": email.id})
    return email
