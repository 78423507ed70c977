"""A workflow step as the photographer edits and reads it: the step editor's form
(`StepForm`, `ButtonForm`) and its checks (`step_values`: the step's column values, or an
`Invalid` before anything changes), the form's values for a stored step (`step_fields`),
and the step in words for the timeline cards ("7 days before expiry · at 09:00",
`when_words`, `audience_words`).

No writes here: `builder` stores what `step_values` returns and re-plans. Every query
filters on the photographer's id (their coupons).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import validation
from ..errors import Invalid
from ..store.models import Coupon
from . import colors, planner, timing
from .messages import BUTTON_ACTIONS
from .models import AUDIENCES, GALLERY_ANCHORS, STEP_KINDS, VISITOR_ANCHORS, WorkflowStep

SUBJECT_LEN, BODY_LEN, TEXT_LEN = 200, 10_000, 500
#: The farthest a step may sit from its anchor: a year.
MAX_OFFSET = 366 * 86400
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
ANCHOR_LABELS = {
    "release": "release", "expiry": "expiry", "date": "a date and time",
    "event_date": "the event date", "first_visit": "the first visit",
    "cart_change": "the last cart change", "first_favorite": "the first favorite",
}
AUDIENCE_LABELS = {
    "clients": "The gallery's clients", "visitors": "All registered visitors",
    "favorites": "Visitors with favorites",
    "favorites_no_order": "Visitors with favorites and no order",
    "open_cart": "Visitors with an open cart", "no_order": "Visitors with no order",
}
KIND_LABELS = {"email": "Email", "banner": "Banner", "announcement": "Announcement"}
BANNER_STYLES = {"notice": "Notice", "urgent": "Urgent", "celebrate": "Celebrate",
                 "custom": "My own colours"}
POSITIONS = {"top": "At the top", "between": "Between the photos",
             "bottom": "A strip at the bottom (fixed on phones)"}
LAYOUTS = {"strip": "A slim strip", "card": "A card", "full": "Full width, with a photo"}
#: The farthest photo a full-width banner may show (0: the gallery's cover).
MAX_IMAGE_N = 100_000
COUNTDOWNS = {"": "No countdown", "end": "Count down to its end"}


# --- the step editor's form ----------------------------------------------------------------


@dataclass
class ButtonForm:
    action: str = ""
    label: str = ""
    url: str = ""


@dataclass
class StepForm:
    """What the step editor posts, already typed by the route (`inputs.*`); `values`
    checks what depends on other fields and the studio's data."""

    kind: str = "email"
    name: str = ""
    anchor: str = "release"
    amount: int = 0
    unit: str = "days"
    direction: str = "after"
    at_local: str = ""  # "2026-12-24T09:00", the studio's time zone (anchor "date")
    audience: str = "clients"
    at_send_time: bool = True
    subject: str = ""
    body: str = ""
    buttons: list[ButtonForm] = field(default_factory=list)
    coupon_code: str = ""
    text: str = ""
    headline: str = ""
    dismissible: bool = True
    countdown: str = ""
    style: str = "notice"
    position: str = "top"
    layout: str = "strip"
    image_n: int = 0
    after_n: int = 12
    repeat: bool = False
    color_bg: str = colors.DEFAULTS["bg"]
    color_ink: str = colors.DEFAULTS["ink"]
    color_accent: str = colors.DEFAULTS["accent"]
    end_anchor: str = ""
    end_at_local: str = ""
    end_amount: int = 0
    end_unit: str = "days"
    end_direction: str = "after"


def offset_of(amount: int, unit: str, direction: str, anchor: str, label: str) -> int:
    """amount × unit, signed by before/after; visitor anchors only allow "after"."""
    if unit not in UNITS or direction not in ("before", "after"):
        raise Invalid(f"{label}: pick minutes, hours or days, before or after.")
    if amount < 0 or amount * UNITS[unit] > MAX_OFFSET:
        raise Invalid(f"{label}: at most 366 days from {ANCHOR_LABELS[anchor]}.")
    if direction == "before" and anchor in VISITOR_ANCHORS and amount:
        raise Invalid(f"{label}: a step can only follow {ANCHOR_LABELS[anchor]}, not "
                      "come before it.")
    return -amount * UNITS[unit] if direction == "before" else amount * UNITS[unit]


def split_offset(seconds: int) -> tuple[int, str, str]:
    """-604800 → (7, "days", "before"): how the form shows an offset."""
    direction = "before" if seconds < 0 else "after"
    seconds = abs(seconds)
    if seconds == 0:
        return 0, "days", direction
    for unit in ("days", "hours"):
        if seconds and seconds % UNITS[unit] == 0:
            return seconds // UNITS[unit], unit, direction
    return seconds // 60, "minutes", direction


def _local_at(value: str, rules: timing.Rules, field: str = "at") -> datetime:
    try:
        local = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M")
    except ValueError:
        raise Invalid("Give the date and time as YYYY-MM-DD HH:MM.", field=field) from None
    if not 2000 <= local.year <= 2100:
        raise Invalid("Pick a date between 2000 and 2100.", field=field)
    return local.replace(tzinfo=rules.zone).astimezone(UTC)


def _url(value: str, label: str) -> str:
    value = validation.text(value, label, max_len=500)
    if not re.fullmatch(r"https?://[^\s<>\"']+", value, flags=re.IGNORECASE):
        raise Invalid(f"{label} must be a web address starting with http:// or https://.",
                      field="buttons")
    return value


def _buttons(form: StepForm) -> list[dict[str, str]]:
    found = []
    for n, button in enumerate(form.buttons[:2], start=1):
        if not button.action:
            continue
        if button.action not in BUTTON_ACTIONS:
            raise Invalid(f"Button {n}: pick what it opens.", field="buttons")
        label = validation.text(button.label, f"Button {n} label", max_len=60,
                                required=False) or BUTTON_ACTIONS[button.action]
        url = _url(button.url, f"Button {n} link") if button.action == "url" else ""
        found.append({"action": button.action, "label": label, "url": url})
    return found


def active_coupon_codes(session: Session, photographer_id: int) -> list[str]:
    return list(session.scalars(select(Coupon.code).where(
        Coupon.photographer_id == photographer_id, Coupon.active).order_by(Coupon.code)))


def _coupon(session: Session, photographer_id: int, code: str) -> str:
    code = (code or "").strip().upper()
    if not code:
        return ""
    found = session.scalar(select(Coupon.id).where(
        Coupon.photographer_id == photographer_id, Coupon.code == code, Coupon.active))
    if found is None:
        raise Invalid("Pick one of your active coupons (Store → Coupons), or none.",
                      field="coupon_code")
    return code


def _offer(session: Session, photographer_id: int, form: StepForm, limit: int) -> dict:
    """The buttons and the coupon they may apply (a store-with-coupon button needs one)."""
    buttons = _buttons(form)[:limit]
    code = _coupon(session, photographer_id, form.coupon_code)
    if not code and any(b["action"] == "shop_coupon" for b in buttons):
        raise Invalid("Pick the coupon the button applies.", field="coupon_code")
    return {"buttons": buttons, "coupon_code": code}


def _email_content(session: Session, photographer_id: int, form: StepForm) -> dict:
    return {"subject": validation.text(form.subject, "Subject", max_len=SUBJECT_LEN),
            "body": validation.text(form.body, "Body", max_len=BODY_LEN, required=False),
            **_offer(session, photographer_id, form, 2)}


def _banner_content(session: Session, photographer_id: int, form: StepForm) -> dict:
    if (form.style not in BANNER_STYLES or form.position not in POSITIONS
            or form.layout not in LAYOUTS):
        raise Invalid("Pick the banner's style, layout and where it shows.", field="style")
    if not 1 <= form.after_n <= 500:
        raise Invalid("Show it after 1 to 500 photos.", field="after_n")
    if not 0 <= form.image_n <= MAX_IMAGE_N:
        raise Invalid("Pick the photo by its number in the gallery, or 0 for the cover.",
                      field="image_n")
    if form.countdown not in COUNTDOWNS:
        raise Invalid("Pick a countdown or none.", field="countdown")
    layout = "strip" if form.position == "bottom" else form.layout
    content: dict[str, Any] = {
        "headline": validation.text(form.headline, "Headline", max_len=120, required=False),
        "text": validation.text(form.text, "Text", max_len=TEXT_LEN),
        "style": form.style, "position": form.position, "layout": layout,
        "dismissible": form.dismissible, "countdown": form.countdown,
        **_offer(session, photographer_id, form, 1)}
    if form.style == "custom":
        content["colors"] = {key: colors.hex_color(getattr(form, f"color_{key}"), label)
                             for key, label in colors.LABELS.items()}
    if layout == "full":
        content["image_n"] = form.image_n
    if form.position == "between":
        content["after_n"], content["repeat"] = form.after_n, form.repeat
    return content


def form_color_warnings(fields: dict[str, Any]) -> list[str]:
    """The contrast warnings of the editor's custom colours (none for the preset styles,
    none while a colour is not a colour yet: saving says so)."""
    if fields.get("style") != "custom":
        return []
    try:
        chosen = {key: colors.hex_color(fields.get(f"color_{key}", ""), label)
                  for key, label in colors.LABELS.items()}
    except Invalid:
        return []
    return colors.warnings(chosen)


def step_values(session: Session, photographer_id: int, form: StepForm) -> dict[str, Any]:
    """The step's column values from the form, or Invalid (nothing changed)."""
    if form.kind not in STEP_KINDS:
        raise Invalid("Pick an email, a banner or an announcement.", field="kind")
    if form.anchor not in ANCHOR_LABELS:
        raise Invalid("Pick when the step happens.", field="anchor")
    if form.audience not in AUDIENCES:
        raise Invalid("Pick who receives it.", field="audience")
    rules = planner.rules_of(session, photographer_id)
    values: dict[str, Any] = {
        "kind": form.kind, "anchor": form.anchor, "audience": form.audience,
        "name": validation.text(form.name, "Step name", max_len=120, required=False),
        "at": _local_at(form.at_local, rules) if form.anchor == "date" else None,
        "offset_seconds": 0 if form.anchor == "date" else offset_of(
            form.amount, form.unit, form.direction, form.anchor, "When"),
        "at_send_time": bool(form.at_send_time) and form.kind == "email",
        "end_anchor": None, "end_offset_seconds": 0, "end_at": None,
    }
    if form.kind == "email":
        values["content"] = _email_content(session, photographer_id, form)
        return values
    values["content"] = _banner_content(session, photographer_id, form)
    if form.end_anchor:
        values.update(_end_values(form, rules, values["at"]))
    return values


def _end_values(form: StepForm, rules: timing.Rules, start_at: datetime | None) -> dict:
    """A banner's end: release, expiry or the event date ± an offset, or a date and time."""
    if form.end_anchor not in GALLERY_ANCHORS:
        raise Invalid("A banner ends at release, expiry, the event date or a date and time.",
                      field="end_anchor")
    if form.end_anchor == "date":
        end_at = _local_at(form.end_at_local, rules, field="end_at")
        if start_at is not None and end_at <= start_at:
            raise Invalid("The banner must end after it starts.", field="end_at")
        return {"end_anchor": "date", "end_at": end_at}
    return {"end_anchor": form.end_anchor, "end_offset_seconds": offset_of(
        form.end_amount, form.end_unit, form.end_direction, form.end_anchor, "Ends")}


def step_fields(step: WorkflowStep | None, rules: timing.Rules) -> dict[str, Any]:
    """A step as the editor's form shows it (the strings it posts back)."""
    if step is None:
        return {"kind": "email", "anchor": "release", "amount": "0", "unit": "days",
                "direction": "after", "audience": "clients", "at_send_time": "on",
                "style": "notice", "position": "top", "layout": "strip", "after_n": "12",
                "image_n": "0", "buttons": [], "dismissible": "on", "countdown": "",
                **{f"color_{k}": v for k, v in colors.DEFAULTS.items()}}
    amount, unit, direction = split_offset(step.offset_seconds)
    end_amount, end_unit, end_direction = split_offset(step.end_offset_seconds or 0)
    content = step.content or {}
    local_at = (step.at.astimezone(rules.zone).strftime("%Y-%m-%dT%H:%M")
                if step.at else "")
    return {"kind": step.kind, "name": step.name, "anchor": step.anchor,
            "amount": str(amount), "unit": unit, "direction": direction,
            "at_local": local_at, "audience": step.audience,
            "at_send_time": "on" if step.at_send_time else "",
            "subject": content.get("subject", ""), "body": content.get("body", ""),
            "buttons": content.get("buttons", []),
            "coupon_code": content.get("coupon_code", ""),
            "text": content.get("text", ""), "style": content.get("style", "notice"),
            "headline": content.get("headline", ""),
            "dismissible": "on" if content.get("dismissible", True) else "",
            "countdown": content.get("countdown", ""),
            "position": content.get("position", "top"),
            # Steps saved before layouts: a card between the photos, a strip elsewhere.
            "layout": content.get("layout") or (
                "card" if content.get("position") == "between" else "strip"),
            "image_n": str(content.get("image_n", 0)),
            "after_n": str(content.get("after_n", 12)),
            "repeat": "on" if content.get("repeat") else "",
            **{f"color_{k}": (content.get("colors") or colors.DEFAULTS)[k]
               for k in colors.LABELS},
            "end_anchor": step.end_anchor or "", "end_amount": str(end_amount),
            "end_unit": end_unit, "end_direction": end_direction,
            "end_at_local": (step.end_at.astimezone(rules.zone).strftime("%Y-%m-%dT%H:%M")
                             if step.end_at else "")}


# --- in words ------------------------------------------------------------------------------


def _amount(seconds: int) -> str:
    amount, unit, _ = split_offset(seconds)
    return f"{amount} {unit[:-1] if amount == 1 else unit}"


def when_words(step: WorkflowStep, rules: timing.Rules) -> str:
    """"7 days before expiry · at 09:00", "24 hours after the last cart change"…"""
    if step.anchor == "date":
        local = step.at.astimezone(rules.zone) if step.at else None
        words = (f"On {local:%b} {local.day}, {local.year} at {local:%H:%M}" if local
                 else "On a date to set")
        return words if step.kind == "email" else _shown_words(step, words, rules)
    anchor = ANCHOR_LABELS[step.anchor]
    offset = step.offset_seconds
    if offset == 0:
        words = {"release": "At release", "expiry": "At expiry"}.get(
            step.anchor, f"At {anchor}")
    else:
        words = f"{_amount(offset)} {'before' if offset < 0 else 'after'} {anchor}"
    if step.kind != "email":
        return _shown_words(step, words, rules)
    if step.at_send_time:
        return f"{words} · at {minute_text(rules.send_minute)}"
    return f"{words} · immediately" if offset == 0 else words


def _shown_words(step: WorkflowStep, words: str, rules: timing.Rules) -> str:
    """A banner's window: "From 3 days before expiry until expiry"."""
    if not step.end_anchor:
        return words
    words = words.removeprefix("On ")
    end = ANCHOR_LABELS[step.end_anchor]
    if step.end_anchor == "date" and step.end_at:
        local = step.end_at.astimezone(rules.zone)
        end = f"{local:%b} {local.day}, {local.year} at {local:%H:%M}"
    elif step.end_offset_seconds:
        side = "before" if step.end_offset_seconds < 0 else "after"
        end = f"{_amount(step.end_offset_seconds)} {side} {end}"
    if step.anchor != "date":  # "At release" reads "From release"; a date keeps its month
        words = f"{words[0].lower()}{words[1:]}"
    return f"From {words} until {end}"


def minute_text(minute: int | None) -> str:
    return "" if minute is None else f"{minute // 60:02d}:{minute % 60:02d}"


def audience_words(step: WorkflowStep) -> str:
    if step.kind != "email":
        return "Shown in the gallery"
    return AUDIENCE_LABELS.get(step.audience, step.audience)
