"""The photographer's Gallery Workflows: workflows (create, from the templates of
`presets` too; update, activate, duplicate, delete), adding, changing, removing and moving
their steps, the studio's sending rules, and who an email step's preview renders for.

Every function takes the photographer's id and filters on it: another photographer's id
is simply not found. Writes are sync units of work for `db.write`; every one of them
re-plans what it touched (`planner.replan_workflow` / `planner.plan`) in the same unit, so
released galleries' pending ScheduledAction rows move with the change. A step's form is
checked by `steps.step_values`, the rules' form here (`RulesForm`): a bad value is an
`Invalid` raised before anything changes.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from .. import validation
from ..errors import Invalid, NotFound
from ..models import Contact, Event, GalleryType, utcnow
from ..store.models import Coupon
from . import banners, planner, presets, timing
from .models import ScheduledAction, SendingRules, Workflow, WorkflowStep
from .steps import StepForm, step_values

MAX_WORKFLOWS = 100
MAX_STEPS = 40
CANCELLED_STEP = "The step was removed from its workflow."
CANCELLED_WORKFLOW = "The workflow was deleted."
_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


# --- workflows -----------------------------------------------------------------------------


def find_workflow(session: Session, photographer_id: int, workflow_id: int) -> Workflow:
    found = session.scalar(select(Workflow).where(
        Workflow.id == workflow_id, Workflow.photographer_id == photographer_id))
    if found is None:
        raise NotFound("No such workflow.")
    return found


def steps_of(session: Session, photographer_id: int, workflow_id: int) -> list[WorkflowStep]:
    return list(session.scalars(select(WorkflowStep).where(
        WorkflowStep.workflow_id == workflow_id,
        WorkflowStep.photographer_id == photographer_id)
        .order_by(WorkflowStep.position, WorkflowStep.id)))


def find_step(session: Session, photographer_id: int, workflow_id: int,
              step_id: int) -> WorkflowStep:
    found = session.scalar(select(WorkflowStep).where(
        WorkflowStep.id == step_id, WorkflowStep.workflow_id == workflow_id,
        WorkflowStep.photographer_id == photographer_id))
    if found is None:
        raise NotFound("No such step.")
    return found


def gallery_type_choices(session: Session, photographer_id: int) -> list[tuple[int, str]]:
    return [(t.id, t.name) for t in session.scalars(select(GalleryType).where(
        GalleryType.photographer_id == photographer_id).order_by(GalleryType.name))]


def list_workflows(session: Session, photographer_id: int) -> list[dict[str, Any]]:
    """Every workflow with its gallery type's name, its step count and how many
    galleries follow it (their own pick, or their type's active workflow)."""
    flows = list(session.scalars(select(Workflow).where(
        Workflow.photographer_id == photographer_id)
        .order_by(func.lower(Workflow.name), Workflow.id)))
    types = dict(gallery_type_choices(session, photographer_id))
    counts = dict(session.execute(select(WorkflowStep.workflow_id, func.count()).where(
        WorkflowStep.photographer_id == photographer_id).group_by(WorkflowStep.workflow_id)
    ).all())
    mine = Event.photographer_id == photographer_id
    picked = dict(session.execute(select(Event.workflow_id, func.count()).where(
        mine, ~Event.workflows_off, Event.workflow_id.is_not(None))
        .group_by(Event.workflow_id)).all())
    by_type = dict(session.execute(select(Event.gallery_type_id, func.count()).where(
        mine, ~Event.workflows_off, Event.workflow_id.is_(None))
        .group_by(Event.gallery_type_id)).all())
    return [{"workflow": w, "type_name": types.get(w.gallery_type_id, ""),
             "step_count": counts.get(w.id, 0),
             "gallery_count": picked.get(w.id, 0)
             + (by_type.get(w.gallery_type_id, 0) if w.active else 0)}
            for w in flows]


@dataclass
class WorkflowForm:
    name: str = ""
    description: str = ""
    gallery_type_id: int | None = None
    active: bool = False


def _check_type(session: Session, photographer_id: int, type_id: int | None) -> int:
    if type_id is None or type_id not in dict(gallery_type_choices(session, photographer_id)):
        raise Invalid("Pick one of your gallery types.", field="gallery_type_id")
    return type_id


def _check_form(session: Session, photographer_id: int, form: WorkflowForm) -> WorkflowForm:
    return WorkflowForm(
        name=validation.text(form.name, "Name", max_len=120),
        description=validation.text(form.description, "Description", max_len=500,
                                    required=False),
        gallery_type_id=_check_type(session, photographer_id, form.gallery_type_id),
        active=bool(form.active))


def create_workflow(session: Session, photographer_id: int, form: WorkflowForm,
                    preset_key: str = "") -> Workflow:
    """A blank workflow, or one with the steps of the template `preset_key`."""
    form = _check_form(session, photographer_id, form)
    template = presets.preset(preset_key) if preset_key else None
    if preset_key and template is None:
        raise Invalid("Pick one of the templates.", field="preset")
    count = session.scalar(select(func.count()).select_from(Workflow).where(
        Workflow.photographer_id == photographer_id))
    if count >= MAX_WORKFLOWS:
        raise Invalid(f"You can have at most {MAX_WORKFLOWS} workflows.")
    flow = Workflow(photographer_id=photographer_id, name=form.name,
                    description=form.description, gallery_type_id=form.gallery_type_id,
                    active=False)
    session.add(flow)
    session.flush()
    for position, values in enumerate((template or {}).get("steps", [])):
        content = values.get("content", {})
        if content.get("coupon_code"):
            content["coupon_code"] = _preset_coupon(session, photographer_id,
                                                    content["coupon_code"])
        session.add(WorkflowStep(photographer_id=photographer_id, workflow_id=flow.id,
                                 position=position, **values))
    session.flush()
    if form.active:
        _activate(session, photographer_id, flow)
    planner.replan_workflow(session, photographer_id, flow.id)
    return flow


def _preset_coupon(session: Session, photographer_id: int, wanted: str) -> str:
    """The template's coupon if the studio has it active, else its first active one."""
    codes = list(session.scalars(select(Coupon.code).where(
        Coupon.photographer_id == photographer_id, Coupon.active).order_by(Coupon.id)))
    return wanted if wanted in codes else (codes[0] if codes else "")


def update_workflow(session: Session, photographer_id: int, workflow_id: int,
                    form: WorkflowForm) -> Workflow:
    flow = find_workflow(session, photographer_id, workflow_id)
    form = _check_form(session, photographer_id, form)
    old_type = flow.gallery_type_id
    flow.name, flow.description = form.name, form.description
    flow.gallery_type_id = form.gallery_type_id
    if flow.active and (form.active is False or old_type != form.gallery_type_id):
        flow.active = False
    session.flush()
    if form.active:
        _activate(session, photographer_id, flow)
    planner.replan_workflow(session, photographer_id, flow.id)
    if old_type != flow.gallery_type_id:
        _replan_type(session, photographer_id, old_type)
    return flow


def set_active(session: Session, photographer_id: int, workflow_id: int,
               active: bool) -> Workflow:
    """Activate (deactivating the others of its gallery type) or deactivate."""
    flow = find_workflow(session, photographer_id, workflow_id)
    if active:
        _activate(session, photographer_id, flow)
    else:
        flow.active = False
        session.flush()
    planner.replan_workflow(session, photographer_id, flow.id)
    return flow


def _activate(session: Session, photographer_id: int, flow: Workflow) -> None:
    if flow.gallery_type_id is None:
        raise Invalid("Pick a gallery type for this workflow before activating it.",
                      field="gallery_type_id")
    others = list(session.scalars(select(Workflow).where(
        Workflow.photographer_id == photographer_id, Workflow.id != flow.id,
        Workflow.gallery_type_id == flow.gallery_type_id, Workflow.active)))
    for other in others:
        other.active = False
    flow.active = True
    session.flush()
    for other in others:  # galleries that picked the old one themselves follow it no more
        planner.replan_workflow(session, photographer_id, other.id)


def _replan_type(session: Session, photographer_id: int, type_id: int | None) -> None:
    if type_id is None:
        return
    for event in session.scalars(select(Event).where(
            Event.photographer_id == photographer_id, Event.gallery_type_id == type_id)):
        planner.plan(session, event)


def duplicate_workflow(session: Session, photographer_id: int, workflow_id: int) -> Workflow:
    """A copy with the same steps, inactive (so no gallery changes)."""
    flow = find_workflow(session, photographer_id, workflow_id)
    twin = Workflow(photographer_id=photographer_id, name=f"{flow.name} (copy)"[:120],
                    description=flow.description, gallery_type_id=flow.gallery_type_id,
                    active=False)
    session.add(twin)
    session.flush()
    for step in steps_of(session, photographer_id, workflow_id):
        session.add(WorkflowStep(
            photographer_id=photographer_id, workflow_id=twin.id, position=step.position,
            kind=step.kind, name=step.name, anchor=step.anchor,
            offset_seconds=step.offset_seconds, at=step.at, end_anchor=step.end_anchor,
            end_offset_seconds=step.end_offset_seconds, end_at=step.end_at,
            audience=step.audience, at_send_time=step.at_send_time,
            content=copy.deepcopy(step.content or {})))
    session.flush()
    planner.replan_workflow(session, photographer_id, twin.id)
    return twin


def delete_workflow(session: Session, photographer_id: int, workflow_id: int) -> None:
    """Delete it and its steps; their pending actions are cancelled, and the galleries
    that followed it are re-planned (their type may have no active workflow now)."""
    flow = find_workflow(session, photographer_id, workflow_id)
    step_ids = select(WorkflowStep.id).where(WorkflowStep.workflow_id == flow.id)
    affected = set(session.scalars(select(Event.id).where(
        Event.photographer_id == photographer_id,
        or_(Event.workflow_id == flow.id,
            and_(Event.workflow_id.is_(None), Event.gallery_type_id == flow.gallery_type_id),
            Event.id.in_(select(ScheduledAction.event_id).where(
                ScheduledAction.step_id.in_(step_ids)))))))
    _cancel_pending(session, photographer_id, step_ids, CANCELLED_WORKFLOW)
    session.execute(update(Event).where(Event.photographer_id == photographer_id,
                                        Event.workflow_id == flow.id).values(workflow_id=None))
    session.execute(delete(WorkflowStep).where(WorkflowStep.workflow_id == flow.id))
    session.delete(flow)
    session.flush()
    for event in session.scalars(select(Event).where(Event.id.in_(affected))):
        planner.plan(session, event)


def _cancel_pending(session: Session, photographer_id: int, step_ids, reason: str) -> None:
    session.execute(update(ScheduledAction).where(
        ScheduledAction.photographer_id == photographer_id,
        ScheduledAction.step_id.in_(step_ids), ScheduledAction.state == "pending")
        .values(state="cancelled", reason=reason, done_at=utcnow()))


# --- steps ---------------------------------------------------------------------------------


def time_key(step: WorkflowStep) -> tuple[int, float]:
    """Where a step sits on a gallery's life: before release, after it, at expiry."""
    rank = {"event_date": 0, "release": 1, "first_visit": 2, "first_favorite": 2,
            "cart_change": 2, "date": 3, "expiry": 4}[step.anchor]
    at = step.at.timestamp() if step.anchor == "date" and step.at else 0
    return rank, at or step.offset_seconds


def add_step(session: Session, photographer_id: int, workflow_id: int,
             form: StepForm) -> WorkflowStep:
    """A new step, placed among the others in time order."""
    flow = find_workflow(session, photographer_id, workflow_id)
    values = step_values(session, photographer_id, form)
    steps = steps_of(session, photographer_id, flow.id)
    if len(steps) >= MAX_STEPS:
        raise Invalid(f"A workflow can have at most {MAX_STEPS} steps.")
    step = WorkflowStep(photographer_id=photographer_id, workflow_id=flow.id, **values)
    # Before the first later step; the others keep the order the photographer gave them.
    at = next((i for i, s in enumerate(steps) if time_key(s) > time_key(step)), len(steps))
    for position, each in enumerate([*steps[:at], step, *steps[at:]]):
        each.position = position
    session.add(step)
    session.flush()
    planner.replan_workflow(session, photographer_id, flow.id)
    return step


def update_step(session: Session, photographer_id: int, workflow_id: int, step_id: int,
                form: StepForm) -> WorkflowStep:
    step = find_step(session, photographer_id, workflow_id, step_id)
    for name, value in step_values(session, photographer_id, form).items():
        setattr(step, name, value)
    session.flush()
    planner.replan_workflow(session, photographer_id, workflow_id)
    return step


def delete_step(session: Session, photographer_id: int, workflow_id: int,
                step_id: int) -> None:
    step = find_step(session, photographer_id, workflow_id, step_id)
    _cancel_pending(session, photographer_id, [step.id], CANCELLED_STEP)
    session.delete(step)
    session.flush()
    planner.replan_workflow(session, photographer_id, workflow_id)


def move_step(session: Session, photographer_id: int, workflow_id: int, step_id: int,
              direction: str) -> None:
    """Swap the step with its neighbour (up or down); at an end, nothing changes."""
    find_workflow(session, photographer_id, workflow_id)
    steps = steps_of(session, photographer_id, workflow_id)
    index = next((i for i, s in enumerate(steps) if s.id == step_id), None)
    if index is None:
        raise NotFound("No such step.")
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or not 0 <= other < len(steps):
        return
    steps[index], steps[other] = steps[other], steps[index]
    for position, each in enumerate(steps):
        each.position = position
    session.flush()
    planner.replan_workflow(session, photographer_id, workflow_id)


# --- sending rules -------------------------------------------------------------------------


def sending_rules(session: Session, photographer_id: int) -> SendingRules:
    """The studio's row, or an unsaved one holding the defaults."""
    row = session.get(SendingRules, photographer_id)
    if row is None:
        row = SendingRules(photographer_id=photographer_id, timezone="UTC",
                           send_minute=9 * 60, quiet_start=None, quiet_end=None)
    return row


@dataclass
class RulesForm:
    timezone: str = "UTC"
    send_time: str = "09:00"
    quiet_start: str = ""
    quiet_end: str = ""


def parse_minute(value: str, label: str, *, required: bool) -> int | None:
    value = (value or "").strip()
    if not value and not required:
        return None
    match = _HHMM.fullmatch(value)
    if match is None:
        raise Invalid(f"{label} must be a time such as 09:00.", field=label.lower())
    return int(match.group(1)) * 60 + int(match.group(2))


def save_sending_rules(session: Session, photographer_id: int,
                       form: RulesForm) -> SendingRules:
    """Save, then re-plan every gallery with pending actions (their times move)."""
    if form.timezone not in timing.timezones():
        raise Invalid("Pick a time zone from the list.", field="timezone")
    send = parse_minute(form.send_time, "Send time", required=True)
    start = parse_minute(form.quiet_start, "Quiet hours start", required=False)
    end = parse_minute(form.quiet_end, "Quiet hours end", required=False)
    if (start is None) != (end is None):
        raise Invalid("Give both ends of the quiet hours, or neither.", field="quiet_start")
    row = _rules_row(session, photographer_id)
    row.timezone, row.send_minute, row.quiet_start, row.quiet_end = (
        form.timezone, send, start, end)
    _replan_pending(session, photographer_id)
    return row


def set_timezone(session: Session, photographer_id: int, timezone: str) -> None:
    """The studio's time zone alone (Settings → Account): its "today", its send times."""
    if timezone not in timing.timezones():
        raise Invalid("Pick a time zone from the list.", field="timezone")
    row = _rules_row(session, photographer_id)
    if row.timezone != timezone:
        row.timezone = timezone
        _replan_pending(session, photographer_id)


def _rules_row(session: Session, photographer_id: int) -> SendingRules:
    row = session.get(SendingRules, photographer_id)
    if row is None:
        row = sending_rules(session, photographer_id)
        session.add(row)
    return row


def _replan_pending(session: Session, photographer_id: int) -> None:
    """Every gallery with pending actions is planned again: their times move."""
    session.flush()
    pending = select(ScheduledAction.event_id).where(
        ScheduledAction.photographer_id == photographer_id,
        ScheduledAction.state == "pending")
    for event in session.scalars(select(Event).where(
            Event.photographer_id == photographer_id, Event.id.in_(pending))):
        planner.plan(session, event)


# --- preview -------------------------------------------------------------------------------

SAMPLE_NAME, SAMPLE_EMAIL = "Alex Sample", "alex.sample@example.com"


def preview_subjects(session: Session, photographer_id: int, contact_id: int | None,
                     event_id: int | None) -> tuple[Contact, Event]:
    """The contact and gallery a preview renders for: the studio's own (NotFound if
    not theirs), or samples that are never stored."""
    now = utcnow()
    contact = event = None
    if contact_id is not None:
        contact = session.scalar(select(Contact).where(
            Contact.id == contact_id, Contact.photographer_id == photographer_id))
        if contact is None:
            raise NotFound("No such contact.")
    if event_id is not None:
        event = session.scalar(select(Event).where(
            Event.id == event_id, Event.photographer_id == photographer_id))
        if event is None:
            raise NotFound("No such gallery.")
    if contact is None:
        # A negative id names no contact: the unsubscribe link shows where it will be and
        # unsubscribes nobody.
        contact = Contact(id=-1, photographer_id=photographer_id, name=SAMPLE_NAME,
                          email=SAMPLE_EMAIL)
    if event is None:
        event = Event(id=-1, photographer_id=photographer_id, title="Sample Gallery",
                      slug="sample-gallery", status="released", released_at=now,
                      expires_at=now + timedelta(days=14), download_pin="1234",
                      client_password="")
    return contact, event


def preview_banner(session: Session, photographer_id: int, event_id: int, form: StepForm,
                   base_url: str) -> dict[str, Any]:
    """The step as the form stands (not saved) on one of the studio's galleries, for a
    sample visitor; Invalid as saving would raise it, NotFound for another's gallery."""
    if form.end_anchor == "date" and not form.end_at_local.strip():
        form = dataclasses.replace(form, end_anchor="")  # not typed yet: no end, no error
    values = step_values(session, photographer_id, form)
    if values["kind"] == "email":
        raise Invalid("Emails are previewed on their own page.", field="kind")
    contact, event = preview_subjects(session, photographer_id, None, event_id)
    return banners.preview(session, values, event, contact, base_url, utcnow())


def banner_galleries(session: Session, photographer_id: int, workflow_id: int
                     ) -> list[dict[str, Any]]:
    """Released galleries to preview a banner on (banners show in no other): those
    following this workflow first, then the newest others, 30 in all."""
    released = (Event.photographer_id == photographer_id) & (Event.status == "released")
    following = set(session.scalars(select(Event.id).where(
        released, planner.followed_by() == workflow_id).limit(30)))
    rows = session.execute(select(Event.id, Event.title).where(released)
                           .order_by(Event.id.desc()).limit(60)).all()
    rows.sort(key=lambda r: r.id not in following)
    return [{"id": r.id, "title": r.title} for r in rows[:30]]


def preview_choices(session: Session, photographer_id: int
                    ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Recent contacts (name and email) and galleries, for the preview's pickers."""
    contacts = [(c.id, f"{c.name} <{c.email}>" if c.name else c.email)
                for c in session.scalars(select(Contact).where(
                    Contact.photographer_id == photographer_id)
                    .order_by(Contact.id.desc()).limit(50))]
    events = [(e.id, e.title) for e in session.scalars(select(Event).where(
        Event.photographer_id == photographer_id).order_by(Event.id.desc()).limit(50))]
    return contacts, events
