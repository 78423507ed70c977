"""A gallery's timeline: every ScheduledAction of the gallery read as what was sent to whom
and when, what will be sent when (in the studio's time zone), and what was skipped,
cancelled or failed and why; and the photographer's two actions on a single pending item:
cancel it, or send it now.

Both actions are one conditional UPDATE (`state = 'pending'`, the photographer's row), so
an item a job claimed meanwhile is left alone and reported as no longer pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..errors import Invalid, NotFound
from ..galleries import find_event
from ..models import Contact, Event, GalleryType, OutboundEmail, utcnow
from . import planner
from .models import ScheduledAction, Workflow, WorkflowStep

CANCELLED_BY_YOU = planner.CANCELLED_BY_HAND
#: The most rows a timeline shows (a gallery with every visitor in an abandoned-cart step
#: can have many): the newest history is what matters.
MAX_ROWS = 500
AUDIENCE_WORDS = {
    "clients": "the gallery's clients",
    "visitors": "every registered visitor",
    "favorites": "visitors with favorites",
    "favorites_no_order": "visitors with favorites and no order",
    "open_cart": "visitors with an open cart",
    "no_order": "visitors who have not ordered",
}
UPCOMING = ("pending", "claimed")


@dataclass(frozen=True)
class Item:
    """One row of the timeline."""

    id: int
    state: str
    label: str
    when: datetime  # in the studio's time zone
    fan_out: bool
    audience: str  # a fan-out's audience, in words
    name: str
    email: str
    reason: str | None
    email_id: int | None
    subject: str | None
    email_state: str | None
    edge: str = ""  # a banner's "start" or "end" (not an email)

    @property
    def who(self) -> str:
        return self.name or self.email


@dataclass
class Timeline:
    event: Event
    workflow: Workflow | None
    why_none: str  # when no workflow applies: why, in words
    zone: str
    upcoming: list[Item] = field(default_factory=list)
    history: list[Item] = field(default_factory=list)


def gallery_timeline(session: Session, photographer_id: int, event_id: int) -> Timeline:
    """The gallery's timeline (NotFound for someone else's). Sync: readers run_sync it."""
    event = find_event(session, photographer_id, event_id)
    rules = planner.rules_of(session, photographer_id)
    # Its own statement: inside a query on Workflow the subquery would correlate away.
    workflow_id = session.scalar(select(planner.effective_workflow(event.id)))
    workflow = session.get(Workflow, workflow_id) if workflow_id else None
    found = Timeline(event, workflow, _why_none(session, event) if workflow is None else "",
                     rules.timezone)
    done_at = func.coalesce(ScheduledAction.done_at, ScheduledAction.next_attempt_at)
    rows = session.execute(
        select(ScheduledAction, Contact.name, Contact.email, OutboundEmail.subject,
               OutboundEmail.state, WorkflowStep.audience)
        .outerjoin(Contact, Contact.id == ScheduledAction.contact_id)
        .outerjoin(OutboundEmail, OutboundEmail.id == ScheduledAction.email_id)
        .outerjoin(WorkflowStep, WorkflowStep.id == ScheduledAction.step_id)
        .where(ScheduledAction.event_id == event.id,
               ScheduledAction.photographer_id == photographer_id)
        .order_by(done_at.desc(), ScheduledAction.id.desc()).limit(MAX_ROWS))
    for row, name, email, subject, email_state, audience in rows:
        item = Item(row.id, row.state, row.label or "Email",
                    (row.done_at if row.state not in UPCOMING and row.done_at
                     else row.next_attempt_at).astimezone(rules.zone),
                    row.contact_id is None, AUDIENCE_WORDS.get(audience or "", "its audience"),
                    name or "", email or "", row.reason or row.error, row.email_id, subject,
                    email_state, row.key.rsplit(":", 1)[1] if row.key.endswith(
                        (":start", ":end")) else "")
        (found.upcoming if row.state in UPCOMING else found.history).append(item)
    found.upcoming.reverse()  # soonest first
    return found


def _why_none(session: Session, event: Event) -> str:
    if event.workflows_off:
        return "This gallery is set to follow no workflow."
    if event.workflow_id is not None:
        return "The workflow picked for this gallery is not active."
    if event.gallery_type_id is None:
        return "This gallery has no gallery type, so it follows no workflow."
    type_name = session.scalar(select(GalleryType.name).where(
        GalleryType.id == event.gallery_type_id)) or "its type"
    return f"No workflow is active for {type_name} galleries."


def cancel(session: Session, photographer_id: int, action_id: int) -> int:
    """Cancel one pending item; returns its gallery's id."""
    now = utcnow()
    done = session.execute(
        update(ScheduledAction)
        .where(ScheduledAction.id == action_id,
               ScheduledAction.photographer_id == photographer_id,
               ScheduledAction.state == "pending")
        .values(state="cancelled", reason=CANCELLED_BY_YOU, done_at=now)
        .execution_options(synchronize_session=False))
    return _event_of(session, photographer_id, action_id, bool(done.rowcount))


def send_now(session: Session, photographer_id: int, action_id: int) -> int:
    """Make one pending item due now and queue its job; returns its gallery's id."""
    now = utcnow()
    done = session.execute(
        update(ScheduledAction)
        .where(ScheduledAction.id == action_id,
               ScheduledAction.photographer_id == photographer_id,
               ScheduledAction.state == "pending")
        .values(next_attempt_at=now)
        .returning(ScheduledAction.attempts)
        .execution_options(synchronize_session=False)).first()
    if done is not None:
        planner.enqueue(session, action_id, now, done[0])
    return _event_of(session, photographer_id, action_id, done is not None)


def _event_of(session: Session, photographer_id: int, action_id: int, changed: bool) -> int:
    """The item's gallery; NotFound when it is someone else's, Invalid when it was no
    longer pending (sent, claimed by a job or changed meanwhile)."""
    event_id = session.scalar(select(ScheduledAction.event_id).where(
        ScheduledAction.id == action_id, ScheduledAction.photographer_id == photographer_id))
    if event_id is None:
        raise NotFound("No such scheduled email.")
    if not changed:
        raise Invalid("This email is no longer waiting: it was sent, skipped or changed "
                      "meanwhile.")
    return event_id
