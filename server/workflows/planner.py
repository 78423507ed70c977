"""The plan: which ScheduledAction rows a gallery's workflow wants, kept in step with the
gallery, the workflow and its visitors, in the same transaction as the change.

`plan()` computes the rows the gallery's effective workflow wants now (one fan-out row
per gallery-anchored email step, one row per visitor for visitor-anchored ones) and makes
the table agree: a new time is inserted (pending, or skipped with its reason), a moved
time is moved (and its job enqueued under a new id: the old job finds nothing due and
does nothing), a time no longer wanted is cancelled with the reason. Rows that were sent,
claimed or failed are never touched: a step sends at most once per contact per gallery.
Services call it after they change a gallery (release, expiry, workflow), a workflow or
step (builder), or when a visitor acts (`visitor_acted`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from .. import activity
from ..contacts import insert_if_absent
from ..models import Event, Favorite, Visit, utcnow
from ..outbox import outbox_of
from ..store.models import Cart, Order
from . import timing
from .models import (
    ANCHORS,
    GALLERY_ANCHORS,
    ScheduledAction,
    SendingRules,
    Workflow,
    WorkflowStep,
)

RUN_JOB = "run_scheduled_action"
OPEN_CART = ("cart", "details", "review")
NOT_WANTED = "No longer planned: the gallery, its workflow or the step changed."
#: The reason of a row the photographer cancelled on the timeline: final.
CANCELLED_BY_HAND = "Cancelled by you"


def job_id(row: ScheduledAction) -> str:
    """The row, its due time and its claims: a moved or retried row gets a new job; a
    stale job of an old time finds the row not due and does nothing."""
    return f"action-{row.id}-{int(row.next_attempt_at.timestamp())}-{row.attempts}"


def enqueue(session: Session, row_id: int, due: datetime, attempts: int = 0) -> None:
    outbox_of(session).enqueue(RUN_JOB, row_id, defer_until=due,
                               job_id=f"action-{row_id}-{int(due.timestamp())}-{attempts}")


def rules_of(session: Session, photographer_id: int) -> timing.Rules:
    row = session.get(SendingRules, photographer_id)
    if row is None:
        return timing.Rules()
    return timing.Rules(row.timezone, row.send_minute, row.quiet_start, row.quiet_end)


def followed_by(event=Event):
    """The id of the workflow a gallery (a row of `event`) follows, as a scalar subquery:
    none when it opted out; its own pick, else its gallery type's active workflow."""
    return (
        select(Workflow.id)
        .where(Workflow.photographer_id == event.photographer_id,
               Workflow.active, ~event.workflows_off,
               or_(Workflow.id == event.workflow_id,
                   and_(event.workflow_id.is_(None),
                        Workflow.gallery_type_id == event.gallery_type_id)))
        .order_by(Workflow.id.desc()).limit(1).scalar_subquery()
    )


def effective_workflow(event_id: int):
    """followed_by() for one gallery, by id."""
    mine = aliased(Event)
    return (select(followed_by(mine)).where(mine.id == event_id).scalar_subquery())


def current_steps(session: Session, event_ids: set[int]) -> dict[int, set[int]]:
    """The steps (of every kind) each gallery follows now, by gallery: one query for a
    batch."""
    found: dict[int, set[int]] = {event_id: set() for event_id in event_ids}
    rows = session.execute(
        select(Event.id, WorkflowStep.id)
        .join(WorkflowStep, WorkflowStep.workflow_id == followed_by())
        .where(Event.id.in_(event_ids)))
    for event_id, step_id in rows:
        found[event_id].add(step_id)
    return found


def email_steps(session: Session, event_id: int, anchors=ANCHORS) -> list[WorkflowStep]:
    return list(session.scalars(
        select(WorkflowStep)
        .where(WorkflowStep.workflow_id == effective_workflow(event_id),
               WorkflowStep.kind == "email", WorkflowStep.anchor.in_(anchors))
        .order_by(WorkflowStep.position, WorkflowStep.id)))


def key(event_id: int, step_id: int, contact_id: int | None) -> str:
    return f"{event_id}:{step_id}:{'*' if contact_id is None else contact_id}"


def label(step: WorkflowStep) -> str:
    return step.name or step.content.get("subject") or "Email"


@dataclass
class Wanted:
    step: WorkflowStep
    contact_id: int | None
    due: datetime


def plan(session: Session, event: Event, *, contact_id: int | None = None,
         anchors: tuple[str, ...] = ANCHORS, now: datetime | None = None) -> None:
    """Make the event's rows agree with its workflow (see the module docstring). With
    `contact_id`, only that visitor's rows of the steps anchored on `anchors`."""
    now = now or utcnow()
    steps = email_steps(session, event.id, anchors)
    wanted, blocked = _wanted(session, event, steps, contact_id, now)
    existing = _existing(session, event, contact_id, steps if contact_id else None)
    for row_key, want in wanted.items():
        _apply(session, event, existing.get(row_key), row_key, want, now)
    if contact_id is None:  # the banners' window edges: the gallery's, never a visitor's
        from . import banners  # banners plans with this module's helpers

        wanted = {**wanted, **dict.fromkeys(banners.plan_edges(session, event, existing, now))}
    for row_key, row in existing.items():
        if row_key not in wanted and row.state == "pending" and not _is_child(row, steps) \
                and not row_key.endswith((":start", ":end")):
            row.state, row.reason, row.done_at = "cancelled", blocked.get(row_key,
                                                                          NOT_WANTED), now
    session.flush()


def visitor_acted(session: Session, event_id: int, contact_id: int, anchor: str) -> None:
    """A visitor visited, favorited or changed their cart (or ordered: the cart's stage
    is "ordered"): plan their rows of the steps that anchor on it. Cheap when the
    gallery's workflow has no such step (one query)."""
    anchors = ("cart_change", "first_favorite") if anchor == "cart_change" else (anchor,)
    if email_steps(session, event_id, anchors):
        plan(session, session.get(Event, event_id), contact_id=contact_id, anchors=anchors)


#: Galleries expired longer ago than this are not re-planned when a workflow changes:
#: only steps anchored after expiry could still concern them.
REPLAN_AFTER_EXPIRY = timedelta(days=90)


def replan_workflow(session: Session, photographer_id: int, workflow_id: int) -> int:
    """After a workflow or one of its steps changed (or was activated, deactivated,
    deleted): re-plan every gallery that follows it or has rows of it. Returns how many."""
    workflow = session.get(Workflow, workflow_id)
    follows = [Event.workflow_id == workflow_id]
    if workflow is not None and workflow.gallery_type_id is not None:
        follows.append(and_(Event.workflow_id.is_(None),
                            Event.gallery_type_id == workflow.gallery_type_id))
    has_rows = select(ScheduledAction.event_id).join(
        WorkflowStep, WorkflowStep.id == ScheduledAction.step_id).where(
        WorkflowStep.workflow_id == workflow_id, ScheduledAction.state == "pending")
    recent = or_(Event.expires_at.is_(None),
                 Event.expires_at > utcnow() - REPLAN_AFTER_EXPIRY)
    events = list(session.scalars(select(Event).where(
        Event.photographer_id == photographer_id, recent,
        or_(*follows, Event.id.in_(has_rows)))))
    for event in events:
        plan(session, event)
    return len(events)


def _is_child(row: ScheduledAction, steps: list[WorkflowStep]) -> bool:
    """A fan-out's per-contact row: made when its step came due, never re-planned."""
    return row.contact_id is not None and any(
        s.id == row.step_id and s.anchor in GALLERY_ANCHORS for s in steps)


def _existing(session: Session, event: Event, contact_id: int | None,
              steps: list[WorkflowStep] | None) -> dict[str, ScheduledAction]:
    query = select(ScheduledAction).where(ScheduledAction.event_id == event.id)
    if contact_id is not None:
        query = query.where(ScheduledAction.contact_id == contact_id,
                            ScheduledAction.step_id.in_([s.id for s in steps or []]))
    return {row.key: row for row in session.scalars(query)}


def _wanted(session: Session, event: Event, steps: list[WorkflowStep],
            contact_id: int | None, now: datetime) -> tuple[dict[str, Wanted], dict[str, str]]:
    wanted: dict[str, Wanted] = {}
    blocked: dict[str, str] = {}
    if not steps:
        return wanted, blocked
    rules = rules_of(session, event.photographer_id)
    released = event.status == "released" and event.released_at is not None
    for step in steps:
        if step.anchor in GALLERY_ANCHORS:
            anchor_at = _gallery_anchor(event, step, released)
            times = {} if contact_id is not None or anchor_at is None else {None: anchor_at}
        else:
            times, reasons = _visitor_anchors(session, event, step.anchor, contact_id)
            times = times if released else {}
            blocked.update({key(event.id, step.id, c): r for c, r in reasons.items()})
        for cid, anchor_at in times.items():
            due = timing.due_time(step.anchor, step.offset_seconds, anchor_at=anchor_at,
                                  fixed_at=step.at, send_time=step.at_send_time, rules=rules)
            if due is not None:
                wanted[key(event.id, step.id, cid)] = Wanted(step, cid, due)
    return wanted, blocked


def _gallery_anchor(event: Event, step: WorkflowStep, released: bool) -> datetime | None:
    if step.anchor == "event_date":  # the shoot: before release ("opens soon")
        return event.event_date
    if not released:
        return None
    return {"release": event.released_at, "expiry": event.expires_at,
            "date": step.at}[step.anchor]


def _visitor_anchors(session: Session, event: Event, anchor: str, contact_id: int | None
                     ) -> tuple[dict[int, datetime], dict[int, str]]:
    """Each visitor's anchor time for `anchor`, and why the others have none (their
    pending rows are cancelled with that reason)."""
    def only(query, column):
        return query if contact_id is None else query.where(column == contact_id)

    if anchor == "first_visit":
        rows = session.execute(only(select(Visit.contact_id, Visit.first_at)
                                    .where(Visit.event_id == event.id), Visit.contact_id))
        return dict(rows.all()), {}
    ordered = set(session.scalars(only(select(Order.contact_id).where(
        Order.event_id == event.id, Order.state != "cancelled"), Order.contact_id)))
    if anchor == "first_favorite":
        rows = session.execute(only(select(Favorite.contact_id, func.min(Favorite.created_at))
                                    .where(Favorite.event_id == event.id), Favorite.contact_id)
                               .group_by(Favorite.contact_id))
        return ({c: at for c, at in rows if c not in ordered},
                dict.fromkeys(ordered, "They placed an order."))
    carts = session.execute(only(select(Cart.contact_id, Cart.updated_at, Cart.stage)
                                 .where(Cart.event_id == event.id), Cart.contact_id)).all()
    reasons = {c: "They placed an order." if c in ordered or stage == "ordered"
               else "Their cart is empty." for c, _, stage in carts}
    return ({c: at for c, at, stage in carts if stage in OPEN_CART and c not in ordered},
            reasons)


def _apply(session: Session, event: Event, row: ScheduledAction | None, row_key: str,
           want: Wanted, now: datetime) -> None:
    step = want.step
    reason = timing.skip_reason(want.due, anchor=step.anchor, offset_seconds=step.offset_seconds,
                                expires_at=event.expires_at, now=now)
    if row is None:
        _insert(session, event, row_key, want, reason, now)
        return
    # A row the plan cancelled or skipped comes back when wanted again (a re-release, a
    # later expiry); one the photographer cancelled, or a job ended, stays as it is.
    replannable = row.state == "pending" or (row.state in ("cancelled", "skipped")
                                             and row.attempts == 0
                                             and row.reason != CANCELLED_BY_HAND)
    if not replannable or (row.next_attempt_at == want.due and row.state == "pending"
                           and reason is None):
        return
    was_pending = row.state == "pending"
    row.next_attempt_at, row.label = want.due, label(step)
    if reason is None:
        row.state, row.reason, row.done_at = "pending", None, None
        session.flush()
        enqueue(session, row.id, want.due, row.attempts)
    elif was_pending:
        row.state, row.reason, row.done_at = "skipped", reason, now
        _log_skip(session, event, want.contact_id, step, reason)


def _insert(session: Session, event: Event, row_key: str, want: Wanted, reason: str | None,
            now: datetime) -> None:
    values = {
        "photographer_id": event.photographer_id, "event_id": event.id,
        "step_id": want.step.id, "contact_id": want.contact_id, "key": row_key,
        "label": label(want.step), "state": "skipped" if reason else "pending",
        "reason": reason, "next_attempt_at": want.due, "attempts": 0, "created_at": now,
        "done_at": now if reason else None,
    }
    made = session.execute(insert_if_absent(ScheduledAction, values, ("key",),
                                             session.get_bind().dialect.name)).first()
    if made is None:
        return  # a concurrent unit planned it first
    if reason:
        _log_skip(session, event, want.contact_id, want.step, reason)
    else:
        enqueue(session, made[0], want.due)


def _log_skip(session: Session, event: Event, contact_id: int | None, step: WorkflowStep,
              reason: str) -> None:
    activity.record(session, event.photographer_id, "workflow_skipped", event_id=event.id,
                    contact_id=contact_id,
                    payload={"step": label(step), "reason": reason})
