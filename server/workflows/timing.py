"""When a step's email leaves: pure time math, tested from tables (tests/test_workflow_timing.py).

A step's raw time is its anchor plus its signed offset. An email step "at send time" then
moves to the studio's send time of day (in the studio's time zone) on that local date,
or the next day's when that would fall before the anchor itself (two days after a 15:00
release, at 09:00, is the morning of the second day, never before the release). Quiet
hours push whatever falls inside them to their end. Then two rules decide if it is sent at
all: nothing after the gallery expires (unless the step is anchored after expiry), and a
time that had already passed when the plan was made is skipped, not sent late in a burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

#: How late a plan may still send a time that has just passed (the request that released
#: the gallery, a worker a little behind): anything older is skipped with a reason.
GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Rules:
    """The studio's sending rules (workflows.models.SendingRules), as plain values."""

    timezone: str = "UTC"
    send_minute: int = 9 * 60
    quiet_start: int | None = None
    quiet_end: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return sorted(name for name in available_timezones() if "/" in name or name == "UTC")


def raw_time(anchor: str, offset_seconds: int, *, released_at: datetime | None = None,
             expires_at: datetime | None = None, fixed_at: datetime | None = None,
             visitor_at: datetime | None = None) -> datetime | None:
    """The anchor plus the offset; None when the anchor has not happened (or is not set):
    a draft has no release, a gallery without expiry has no expiry reminders."""
    base = {"release": released_at, "expiry": expires_at, "date": fixed_at}.get(
        anchor, visitor_at)
    if base is None:
        return None
    return base if anchor == "date" else base + timedelta(seconds=offset_seconds)


def local_at(day_of: datetime, minute: int, tz: ZoneInfo) -> datetime:
    local = day_of.astimezone(tz)
    return datetime.combine(local.date(), time(minute // 60, minute % 60), tzinfo=tz)


def at_send_time(raw: datetime, anchor_at: datetime | None, rules: Rules) -> datetime:
    """The studio's send time on raw's local date; the next day's if that is before
    `anchor_at` (given for times after their anchor: see the module docstring)."""
    when = local_at(raw, rules.send_minute, rules.zone)
    if anchor_at is not None and when < anchor_at:
        when = local_at(raw + timedelta(days=1), rules.send_minute, rules.zone)
    return when


def out_of_quiet_hours(when: datetime, rules: Rules) -> datetime:
    """`when`, or the end of the quiet hours it falls in (which may be the next morning)."""
    start, end = rules.quiet_start, rules.quiet_end
    if start is None or end is None or start == end:
        return when
    local = when.astimezone(rules.zone)
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return when
    ends = local_at(local, end, rules.zone)
    if ends <= local:  # the window wraps midnight and we are before it: tomorrow's end
        ends = local_at(local + timedelta(days=1), end, rules.zone)
    return ends


def due_time(anchor: str, offset_seconds: int, *, anchor_at: datetime | None,
             fixed_at: datetime | None = None, send_time: bool, rules: Rules) -> datetime | None:
    """When an email step is due for this gallery (or visitor), or None if never."""
    raw = raw_time(anchor, offset_seconds, fixed_at=fixed_at, released_at=anchor_at,
                   expires_at=anchor_at, visitor_at=anchor_at)
    if raw is None:
        return None
    if send_time:
        # Only a time after its anchor must stay after it; "7 days before expiry" may not.
        after = anchor != "date" and offset_seconds >= 0
        raw = at_send_time(raw, anchor_at if after else None, rules)
    return out_of_quiet_hours(raw, rules)


def skip_reason(due: datetime, *, anchor: str, offset_seconds: int,
                expires_at: datetime | None, now: datetime) -> str | None:
    """Why a planned time must not be sent, or None: it falls after the gallery expires
    (and the step is not anchored after expiry), or it had passed when planned."""
    after_expiry = anchor == "expiry" and offset_seconds > 0
    if expires_at is not None and due >= expires_at and not after_expiry:
        return "The gallery expires before this would be sent."
    if due < now - GRACE:
        return f"Its time ({due:%Y-%m-%d %H:%M} UTC) had passed when it was planned."
    return None


def days_left(expires_at: datetime | None, now: datetime) -> int | None:
    """Whole days until expiry, rounded up (an email on the last day says 1)."""
    if expires_at is None:
        return None
    seconds = (expires_at - now).total_seconds()
    return max(0, -int(-seconds // 86400))
