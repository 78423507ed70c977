"""Banners and announcements: which are showing now, for whom, and when they start and end.

A banner step's window runs from its anchor plus its offset to its end anchor plus its
end offset (or until the gallery expires). A gallery page renders the banners active now
for its visitor from the database (rule 8); the schedule only tells open pages when that
changes: each gallery-anchored window edge is a ScheduledAction row (`<key>:start`,
`<key>:end`), and the job that runs it pushes `{"type": "banners"}` to the gallery's open
sockets, which fetch the list again. Audiences that depend on the visitor (an open cart,
favorites, no order) are decided at each fetch, so the visitor's own actions move them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..contacts import insert_if_absent
from ..errors import NotFound
from ..events import tenant_channel
from ..models import Contact, Event, Image, Photographer, Visit, utcnow
from ..outbox import outbox_of
from ..store.models import Order
from ..uploads import photo_order
from . import colors, messages, planner, timing
from .models import GALLERY_ANCHORS, BannerEvent, ScheduledAction, WorkflowStep

DISPLAY_KINDS = ("banner", "announcement")
EDGES = ("start", "end")


def display_steps(session: Session, event_id: int) -> list[WorkflowStep]:
    # Joined to the gallery, not effective_workflow(): every gallery view asks, and the
    # alias that one builds costs more than the query.
    return list(session.scalars(
        select(WorkflowStep)
        .join(Event, Event.id == event_id)
        .where(WorkflowStep.workflow_id == planner.followed_by(),
               WorkflowStep.kind.in_(DISPLAY_KINDS))
        .order_by(WorkflowStep.position, WorkflowStep.id)))


def _edge_time(event: Event, anchor: str | None, offset: int, fixed: datetime | None,
               visitor_at: datetime | None = None) -> datetime | None:
    if anchor is None:
        return None
    if anchor == "event_date":
        visitor_at = event.event_date
    return timing.raw_time(anchor, offset, released_at=event.released_at,
                           expires_at=event.expires_at, fixed_at=fixed, visitor_at=visitor_at)


def window(step: WorkflowStep, event: Event, visitor_at: datetime | None = None
           ) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the step's window in this gallery; start None: not yet known (a
    draft, a visitor who has not done the thing); end None: until the gallery expires."""
    start = _edge_time(event, step.anchor, step.offset_seconds, step.at, visitor_at)
    end = _edge_time(event, step.end_anchor, step.end_offset_seconds, step.end_at)
    return start, end or event.expires_at


def push(session: Session, event: Event, contact_id: int | None = None,
         at: datetime | None = None) -> None:
    """Tell the gallery's open pages (only this visitor's, with `contact_id`) that their
    banners changed, after the commit. When no banner of the gallery depends on who looks
    (its audience, its timing or a personal merge field), the message carries the list as
    it stands at `at` (now): a thousand open pages show it without a thousand fetches.
    Otherwise each page fetches its own."""
    message: dict[str, Any] = {"type": "banners", "event_id": event.id}
    if contact_id is not None:
        message["contact_id"] = contact_id
    else:
        steps = display_steps(session, event.id)
        if all(_shared(step) for step in steps):
            now = max(at or utcnow(), utcnow())
            message.update(now=now.isoformat(), banners=[] if not steps else active(
                session, event, None, "", now))
    outbox_of(session).publish(tenant_channel(event.photographer_id), message)


#: Merge fields whose value depends on the visitor.
PERSONAL_FIELDS = re.compile(r"\{(first_name|favorites_count)\}")


def _shared(step: WorkflowStep) -> bool:
    """The same for every visitor of the gallery: shown to all, on the gallery's clock,
    with no personal merge field."""
    if step.anchor not in GALLERY_ANCHORS or step.audience not in ("clients", "visitors"):
        return False
    content = step.content or {}
    texts = [content.get("headline", ""), content.get("text", ""),
             *(b.get("label", "") for b in content.get("buttons") or [])]
    return not any(PERSONAL_FIELDS.search(t or "") for t in texts)


def visitor_changed(session: Session, event: Event, contact_id: int) -> None:
    """The visitor's cart or orders changed: their other open pages (another tab, their
    phone) may show other banners now. One query when the gallery shows none."""
    if display_steps(session, event.id):
        push(session, event, contact_id)


def plan_edges(session: Session, event: Event, existing: dict[str, ScheduledAction],
               now: datetime) -> set[str]:
    """Rows for the future start and end of each gallery-anchored banner; returns the keys
    it keeps (planner.plan leaves them alone)."""
    wanted: dict[str, tuple[WorkflowStep, datetime]] = {}
    steps = display_steps(session, event.id) if event.status == "released" else []
    edges = {k: row for k, row in existing.items() if k.endswith((":start", ":end"))}
    if not steps and not edges:
        return set()
    for step in steps:
        if step.anchor not in GALLERY_ANCHORS:
            continue
        for edge, at in zip(EDGES, window(step, event), strict=True):
            if at is not None and at > now:
                wanted[f"{planner.key(event.id, step.id, None)}:{edge}"] = (step, at)
    for row_key, (step, at) in wanted.items():
        row = existing.get(row_key)
        if row is None:
            _insert(session, event, row_key, step, at, now)
        elif (row.state == "cancelled" and row.reason != planner.CANCELLED_BY_HAND) or (
                row.state == "pending" and row.next_attempt_at != at):
            row.state, row.reason, row.done_at, row.next_attempt_at = "pending", None, None, at
            session.flush()
            planner.enqueue(session, row.id, at, row.attempts)
    for row_key, row in edges.items():
        if row_key not in wanted and row.state == "pending":
            row.state, row.reason, row.done_at = "cancelled", planner.NOT_WANTED, now
    push(session, event)
    return set(wanted)


def _insert(session: Session, event: Event, row_key: str, step: WorkflowStep, at: datetime,
            now: datetime) -> None:
    made = session.execute(insert_if_absent(ScheduledAction, {
        "photographer_id": event.photographer_id, "event_id": event.id, "step_id": step.id,
        "contact_id": None, "key": row_key, "label": _label(step), "state": "pending",
        "next_attempt_at": at, "attempts": 0, "created_at": now,
    }, ("key",), session.get_bind().dialect.name)).first()
    if made is not None:
        planner.enqueue(session, made[0], at)


def _label(step: WorkflowStep) -> str:
    return step.name or step.content.get("headline") or step.content.get("text") or "Banner"


def edge_reached(session: Session, row: ScheduledAction, step: WorkflowStep,
                 event: Event) -> str:
    """A banner's start or end came due: open pages are told (the job may run a moment
    before the due time: the list is the one of the due time)."""
    push(session, event, at=row.next_attempt_at)
    return "Shown in the gallery." if row.key.endswith(":start") else "Taken down."


def active(session: Session, event: Event, contact: Contact | None, base_url: str,
           now: datetime) -> list[dict[str, Any]]:
    """The banners and announcements this visitor sees now, ready for the page."""
    if event.status != "released" or event.is_expired(now):
        return []
    steps = display_steps(session, event.id)
    if not steps:
        return []
    state = _visitor_state(session, event, contact)
    shown = []
    for step in steps:
        visitor_at = state["first_visit"] if step.anchor == "first_visit" else None
        start, end = window(step, event, visitor_at)
        if step.anchor in ("cart_change", "first_favorite"):
            start = now  # "while they have an open cart / favorites": the audience decides
        if start is None or not start <= now or (end is not None and now >= end):
            continue
        if _audience_ok(step, state):
            shown.append(_render(session, step, event, contact, base_url, end, now, state))
    return shown


def _visitor_state(session: Session, event: Event, contact: Contact | None) -> dict:
    if contact is None:
        return {"first_visit": None, "favorites": 0, "cart": "", "ordered": False,
                "known": False}
    visit = session.scalar(select(Visit).where(Visit.event_id == event.id,
                                               Visit.contact_id == contact.id))
    ordered = session.scalar(select(Order.id).where(
        Order.event_id == event.id, Order.contact_id == contact.id,
        Order.state != "cancelled").limit(1)) is not None
    return {"first_visit": visit.first_at if visit else None,
            "favorites": visit.favorites if visit else 0,
            "cart": visit.cart_stage if visit else "", "ordered": ordered, "known": True}


def _audience_ok(step: WorkflowStep, state: dict) -> bool:
    audience = step.audience
    if step.anchor == "cart_change":
        audience = "open_cart"
    elif step.anchor == "first_favorite" and audience not in ("favorites",):
        audience = "favorites_no_order"
    if audience in ("clients", "visitors"):
        return True
    if not state["known"]:
        return False
    favorites, ordered = state["favorites"] > 0, state["ordered"]
    return {"favorites": favorites, "favorites_no_order": favorites and not ordered,
            "open_cart": state["cart"] in planner.OPEN_CART and not ordered,
            "no_order": not ordered}.get(audience, False)


def _render(session: Session, step: WorkflowStep, event: Event, contact: Contact | None,
            base_url: str, end: datetime | None, now: datetime, state: dict) -> dict:
    content = step.content or {}
    studio = session.get(Photographer, event.photographer_id)
    values = messages.merge_values(
        event=event, contact=contact, studio=studio.business_name or studio.name,
        base_url=base_url, coupon_code=content.get("coupon_code", ""),
        favorites=state["favorites"], now=now)
    buttons = messages.buttons(content, event, base_url, values)
    countdown = content.get("countdown")
    layout = content.get("layout") or ("card" if content.get("position") == "between"
                                       else "strip")
    custom = content.get("colors") if content.get("style") == "custom" else None
    return {
        "id": step.id, "kind": step.kind, "position": content.get("position", "top"),
        "layout": layout, "after_n": int(content.get("after_n", 12) or 12),
        "repeat": bool(content.get("repeat")),
        "image": _image(session, event, int(content.get("image_n", 0)), base_url)
        if layout == "full" else None,
        "style": content.get("style", "notice"),
        "colors": colors.palette(custom) if custom else None,
        "headline": messages.merge(content.get("headline", ""), values),
        "text": messages.merge(content.get("text", ""), values),
        "button": buttons[0] if buttons else None,
        "countdown_to": (end or event.expires_at).isoformat()
        if countdown and (end or event.expires_at) else None,
        "dismissible": bool(content.get("dismissible", True)),
    }


def _image(session: Session, event: Event, n: int, base_url: str) -> dict | None:
    """Photo number `n` of the gallery (0: its cover, else its first photo), preview size;
    None when the gallery has no such photo."""
    ready = select(Image.id).where(Image.photographer_id == event.photographer_id,
                                   Image.event_id == event.id, Image.state == "ready")
    image_id = None
    if n == 0 and event.cover_image_id:
        image_id = session.scalar(ready.where(Image.id == event.cover_image_id))
    if image_id is None:
        image_id = session.scalar(ready.order_by(*photo_order(event.photo_order))
                                  .offset(max(n - 1, 0)).limit(1))
    if image_id is None:
        return None
    return {"src": f"{base_url.rstrip('/')}/g/{event.slug}/media/preview/{image_id}",
            "alt": event.title}


def preview(session: Session, values: dict[str, Any], event: Event, contact: Contact,
            base_url: str, now: datetime) -> dict[str, Any]:
    """A step not saved yet (`values`: builder's step columns), as `event` would show it
    now to a visitor who meets its audience: the editor's live preview."""
    step = WorkflowStep(id=0, **{k: values[k] for k in (
        "kind", "content", "anchor", "offset_seconds", "at", "end_anchor",
        "end_offset_seconds", "end_at", "audience")})
    state = {"first_visit": now, "favorites": 3, "cart": "", "ordered": False, "known": True}
    _, end = window(step, event, now)
    content = values["content"]
    return {"now": now.isoformat(),
            "banners": [_render(session, step, event, contact, base_url, end, now, state)],
            "warnings": colors.warnings(content["colors"])
            if content.get("style") == "custom" else []}


BANNER_EVENT_KINDS = ("view", "dismiss", "click")


def record(session: Session, event: Event, contact_id: int, step_id: int, kind: str) -> bool:
    """The visitor saw, dismissed or clicked a banner of this gallery: kept once per kind,
    at its first time. NotFound for a step the gallery does not show."""
    if kind not in BANNER_EVENT_KINDS:
        raise NotFound("No such banner action.")
    if step_id not in {s.id for s in display_steps(session, event.id)}:
        raise NotFound("No such banner in this gallery.")
    made = session.execute(insert_if_absent(BannerEvent, {
        "photographer_id": event.photographer_id, "event_id": event.id, "step_id": step_id,
        "contact_id": contact_id, "kind": kind, "at": utcnow(),
    }, ("event_id", "step_id", "contact_id", "kind"), session.get_bind().dialect.name))
    return made.first() is not None


def stats(session: Session, photographer_id: int, step_ids: list[int]) -> dict[int, dict]:
    """Per banner step: visitors who saw it, clicked it, and orders placed after a click."""
    found = {i: {"views": 0, "dismissals": 0, "clicks": 0, "orders": 0} for i in step_ids}
    if not step_ids:
        return found
    names = {"view": "views", "dismiss": "dismissals", "click": "clicks"}
    for step_id, kind, count in session.execute(
            select(BannerEvent.step_id, BannerEvent.kind, func.count())
            .where(BannerEvent.photographer_id == photographer_id,
                   BannerEvent.step_id.in_(step_ids))
            .group_by(BannerEvent.step_id, BannerEvent.kind)):
        found[step_id][names[kind]] = count
    for step_id, count in session.execute(
            select(BannerEvent.step_id, func.count(func.distinct(Order.id)))
            .join(Order, (Order.event_id == BannerEvent.event_id)
                  & (Order.contact_id == BannerEvent.contact_id)
                  & (Order.placed_at >= BannerEvent.at))
            .where(BannerEvent.photographer_id == photographer_id,
                   BannerEvent.step_id.in_(step_ids), BannerEvent.kind == "click",
                   Order.state != "cancelled")
            .group_by(BannerEvent.step_id)):
        found[step_id]["orders"] = count
    return found
