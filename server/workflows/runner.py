"""What an arq job does with one due ScheduledAction row (rule 6).

One unit of work claims the row with a conditional UPDATE (`state = 'pending'` and due),
so a duplicate job, a stale job of a moved time, or a second worker finds nothing and does
nothing; a job that got its row also claims other rows already due (a batch, whose own
jobs then find them done). Then, in the same unit, it decides and records each: a fan-out
row resolves its audience now and adds one row per contact (each with its own job); a
contact's row is sent (its email rendered and queued in the outbox, claimed by this job)
or skipped with a reason. Every send and skip is an ActivityEvent. After the commit the
job hands the emails to SMTP itself (mail.send_claimed); a crash there leaves them leased,
and reconcile sends them once the lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from .. import activity, mail
from ..models import Contact, Event, OutboundEmail, Photographer, Visit, utcnow
from ..smtp import SmtpPool
from ..store.models import Order
from . import banners, messages, planner
from .models import GALLERY_ANCHORS, GalleryClient, ScheduledAction, WorkflowStep

MAX_ATTEMPTS = 5
#: Rows one job claims and decides in one unit at most (see `execute`). Measured over
#: 1000 sends (no SMTP): 1.43 ms CPU each at 50, 1.72 at 20, 1.92 at 10; but on SQLite a
#: unit runs on the event loop, which the in-process worker shares with the web: 20 keeps
#: that pause near 30 ms.
BATCH = 20
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
    pool: SmtpPool | None = None  # the worker's open SMTP connections


def claimable(now: datetime):
    return and_(ScheduledAction.attempts < MAX_ATTEMPTS, or_(
        and_(WAITING, ScheduledAction.next_attempt_at <= now + EARLY),
        and_(LEASED, ScheduledAction.leased_until < now)))


async def run(db, mailer: Mailer, action_id: int, lease: timedelta) -> str:
    """The job's whole flow: one unit decides and records, then the emails leave."""
    outcome, emails = await db.write(execute, action_id, mailer, lease)
    await mail.send_claimed(db, mailer.smtp_url, mailer.sender, emails, mailer.pool)
    return outcome


def execute(session: Session, action_id: int, mailer: Mailer,
            lease: timedelta) -> tuple[str, list[OutboundEmail]]:
    """Claim the job's row and, with it, up to BATCH - 1 other due rows (their own jobs
    will find them done): when thousands fall due in one minute, one unit and one commit
    serve many. Returns the job's own row's outcome and the emails to hand to SMTP."""
    now = utcnow()
    claimed = session.execute(
        update(ScheduledAction).where(ScheduledAction.id == action_id, claimable(now))
        .values(state="claimed", attempts=ScheduledAction.attempts + 1,
                leased_until=now + lease))
    if not claimed.rowcount:
        return "skipped", []
    rows = [session.get(ScheduledAction, action_id), *_claim_more(session, action_id, now, lease)]
    batch = Batch(session, rows)
    outcomes, emails = [], []
    for row in rows:
        outcome, email = _decide(batch, row, mailer, lease, now)
        outcomes.append(outcome)
        if email is not None:
            emails.append(email)
    return outcomes[0], emails


def _claim_more(session: Session, action_id: int, now: datetime,
                lease: timedelta) -> list[ScheduledAction]:
    # Only rows waiting and due (an index search on state and due time); a row whose
    # lease ran out is reconcile's to take back.
    due_now = and_(WAITING, ScheduledAction.next_attempt_at <= now,
                   ScheduledAction.attempts < MAX_ATTEMPTS)
    due = (select(ScheduledAction.id)
           .where(ScheduledAction.id != action_id, due_now)
           .order_by(ScheduledAction.next_attempt_at).limit(BATCH - 1))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)  # another worker's batch: not ours
    ids = list(session.scalars(
        update(ScheduledAction).where(ScheduledAction.id.in_(due), due_now)
        .values(state="claimed", attempts=ScheduledAction.attempts + 1,
                leased_until=now + lease)
        .returning(ScheduledAction.id)))
    if not ids:
        return []
    return list(session.scalars(select(ScheduledAction).where(ScheduledAction.id.in_(ids))
                                .order_by(ScheduledAction.next_attempt_at)))


class Batch:
    """What deciding the rows needs, loaded once for the whole batch: their steps,
    galleries, contacts and studios, each (gallery, contact)'s Visit row (favorites, cart
    stage) and orders, and each gallery's current steps."""

    def __init__(self, session: Session, rows: list[ScheduledAction]) -> None:
        self.session = session
        self.steps = _by_id(session, WorkflowStep, {r.step_id for r in rows})
        self.events = _by_id(session, Event, {r.event_id for r in rows})
        self.contacts = _by_id(session, Contact, {r.contact_id for r in rows})
        self.studios = _by_id(session, Photographer,
                              {e.photographer_id for e in self.events.values()})
        pairs = {(r.event_id, r.contact_id) for r in rows if r.contact_id is not None}
        events, contacts = {e for e, _ in pairs}, {c for _, c in pairs}
        self.visits = {(v.event_id, v.contact_id): v for v in session.scalars(
            select(Visit).where(Visit.event_id.in_(events), Visit.contact_id.in_(contacts)))
            } if pairs else {}
        self.ordered = set(session.execute(
            select(Order.event_id, Order.contact_id).where(
                Order.event_id.in_(events), Order.contact_id.in_(contacts),
                Order.state != "cancelled")).tuples()) if pairs else set()
        self.current_steps = planner.current_steps(session, set(self.events))

    def favorites(self, event: Event, contact: Contact) -> int:
        visit = self.visits.get((event.id, contact.id))
        return visit.favorites if visit else 0

    def cart_stage(self, event: Event, contact: Contact) -> str:
        visit = self.visits.get((event.id, contact.id))
        return visit.cart_stage if visit else ""


def _by_id(session: Session, model, ids: set) -> dict:
    ids.discard(None)
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))
            } if ids else {}


def _decide(batch: Batch, row: ScheduledAction, mailer: Mailer, lease: timedelta,
            now: datetime) -> tuple[str, OutboundEmail | None]:
    session = batch.session
    step, event = batch.steps.get(row.step_id), batch.events[row.event_id]
    if step is None or step.id not in batch.current_steps[event.id]:
        return _end(session, row, "cancelled", "The step is no longer in this gallery's "
                    "workflow."), None
    if step.kind != "email":
        return _end(session, row, "sent", banners.edge_reached(session, row, step, event)), None
    if row.contact_id is None:
        return _fan_out(session, row, step, event, now), None
    contact = batch.contacts[row.contact_id]
    reason = _why_not(batch, step, event, contact, now)
    if reason:
        _end(session, row, "skipped", reason)
        planner._log_skip(session, event, contact.id, step, reason)
        return "skipped", None
    return "sent", _send(batch, row, step, event, contact, mailer, lease, now)


def _end(session: Session, row: ScheduledAction, state: str, reason: str | None) -> str:
    row.state, row.reason, row.leased_until, row.done_at = state, reason, None, utcnow()
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
        if name in ("favorites", "favorites_no_order"):
            query = query.where(Visit.favorites > 0)
        if name == "open_cart":
            query = query.where(Visit.cart_stage.in_(planner.OPEN_CART))
        if name in ("no_order", "favorites_no_order"):
            query = query.where(Visit.contact_id.not_in(
                select(Order.contact_id).where(Order.event_id == event.id,
                                               Order.state != "cancelled")))
    return sorted(set(session.scalars(query)))


def _why_not(batch: Batch, step: WorkflowStep, event: Event, contact: Contact,
             now: datetime) -> str | None:
    """Why this contact's email must not leave now, or None."""
    if contact.unsubscribed_at is not None:
        return "They unsubscribed from these emails."
    if step.anchor != "event_date" and event.status != "released":
        return "The gallery is not released."
    if event.is_expired(now) and not (step.anchor == "expiry" and step.offset_seconds > 0):
        return "The gallery has expired."
    favorites = batch.favorites(event, contact)
    ordered = (event.id, contact.id) in batch.ordered
    if step.anchor == "first_visit" and favorites:
        return "They have chosen favorites since."
    if step.anchor in ("first_favorite", "cart_change") and ordered:
        return "They placed an order."
    if step.anchor in GALLERY_ANCHORS or step.audience == "clients":
        return None
    if step.audience in ("favorites", "favorites_no_order") and not favorites:
        return "They have no favorites."
    if step.audience in ("no_order", "favorites_no_order") and ordered:
        return "They placed an order."
    if step.audience == "open_cart" and batch.cart_stage(event, contact) not in \
            planner.OPEN_CART:
        return "Their cart is not open."
    return None


def _send(batch: Batch, row: ScheduledAction, step: WorkflowStep, event: Event,
          contact: Contact, mailer: Mailer, lease: timedelta, now: datetime) -> OutboundEmail:
    session = batch.session
    rendered = messages.render(step.content, event=event, contact=contact,
                               photographer=batch.studios[event.photographer_id],
                               base_url=mailer.base_url, secret=mailer.secret,
                               favorites=batch.favorites(event, contact), now=now)
    email = mail.queue(session, event.photographer_id, kind="workflow", recipient=contact.email,
                       subject=rendered.subject, body_text=rendered.text,
                       body_html=rendered.html, contact_id=contact.id, event_id=event.id,
                       lease=lease)
    row.email_id = email.id
    _end(session, row, "sent", None)
    activity.record(session, event.photographer_id, "workflow_email_sent", event_id=event.id,
                    contact_id=contact.id, payload={
                        "step": planner.label(step), "subject": rendered.subject,
                        "email_id": email.id},
                    names={"contact_name": contact.name, "contact_email": contact.email,
                           "event_title": event.title})
    return email
