"""When a workflow step's email leaves (server/workflows/timing.py): pure time math, from
tables, no server. Every time here is an aware datetime; the expected ones are written in
the studio's local time where that is what the rule is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.workflows.timing import (
    GRACE,
    Rules,
    at_send_time,
    days_left,
    due_time,
    out_of_quiet_hours,
    raw_time,
    skip_reason,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
DAY = 86400


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


RELEASED = utc(2026, 6, 1, 15, 0)
EXPIRES = utc(2026, 6, 30, 23, 59, 59)
FIXED = utc(2026, 6, 10, 8, 30)
VISITED = utc(2026, 6, 2, 20, 15)


# --- raw_time: the anchor plus the offset ---------------------------------------------------

@pytest.mark.parametrize("anchor, offset, expected", [
    ("release", 0, RELEASED),
    ("release", 2 * DAY, RELEASED + timedelta(days=2)),
    ("release", 5, RELEASED + timedelta(seconds=5)),
    ("expiry", -7 * DAY, EXPIRES - timedelta(days=7)),
    ("expiry", -1 * DAY, EXPIRES - timedelta(days=1)),
    ("expiry", 3 * DAY, EXPIRES + timedelta(days=3)),  # anchored after expiry
    ("date", 0, FIXED),
    ("date", 12345, FIXED),  # a fixed date ignores the offset
    ("first_visit", DAY, VISITED + timedelta(days=1)),
    ("cart_change", 24 * 3600, VISITED + timedelta(hours=24)),
    ("first_favorite", 2 * DAY, VISITED + timedelta(days=2)),
    ("event_date", -3 * DAY, VISITED - timedelta(days=3)),  # visitor_at carries the shoot
])
def test_raw_time_is_the_anchor_plus_the_offset(anchor, offset, expected):
    assert raw_time(anchor, offset, released_at=RELEASED, expires_at=EXPIRES,
                    fixed_at=FIXED, visitor_at=VISITED) == expected


@pytest.mark.parametrize("anchor, known", [
    ("release", {"expires_at": EXPIRES}),  # a draft: no release yet
    ("expiry", {"released_at": RELEASED}),  # no expiry, no expiry reminders
    ("date", {"released_at": RELEASED}),
    ("first_visit", {"released_at": RELEASED, "expires_at": EXPIRES}),
    ("cart_change", {}),
])
def test_raw_time_is_none_when_the_anchor_has_not_happened(anchor, known):
    assert raw_time(anchor, 3600, **known) is None


# --- at_send_time: the studio's time of day ----------------------------------------------------

NINE = Rules(timezone="America/New_York", send_minute=9 * 60)


@pytest.mark.parametrize("raw, anchor_at, expected_local", [
    # Two days after a 15:00 release: the morning of the second day.
    (utc(2026, 6, 3, 19, 0), utc(2026, 6, 1, 19, 0), datetime(2026, 6, 3, 9, 0, tzinfo=NY)),
    # The local date decides, not the UTC one: 02:00 UTC on the 4th is the 3rd in New York.
    (utc(2026, 6, 4, 2, 0), utc(2026, 6, 1, 19, 0), datetime(2026, 6, 3, 9, 0, tzinfo=NY)),
    # Immediately after a 15:00 release: today's 09:00 is before it -> tomorrow's.
    (utc(2026, 6, 1, 19, 0), utc(2026, 6, 1, 19, 0), datetime(2026, 6, 2, 9, 0, tzinfo=NY)),
    # Released at 07:00 local: today's 09:00 is after it, so today.
    (utc(2026, 6, 1, 11, 0), utc(2026, 6, 1, 11, 0), datetime(2026, 6, 1, 9, 0, tzinfo=NY)),
    # No anchor (a fixed date): the local date's 09:00, even if earlier than raw.
    (utc(2026, 6, 10, 20, 0), None, datetime(2026, 6, 10, 9, 0, tzinfo=NY)),
])
def test_at_send_time_in_new_york(raw, anchor_at, expected_local):
    got = at_send_time(raw, anchor_at, NINE)
    assert got == expected_local
    assert got.astimezone(NY).hour == 9 and got.astimezone(NY).minute == 0


def test_at_send_time_across_the_dst_change_keeps_nine_local():
    # 2026-03-08: New York springs forward at 02:00 (EST -5 -> EDT -4).
    before = at_send_time(utc(2026, 3, 7, 18, 0), None, NINE)
    on_the_day = at_send_time(utc(2026, 3, 8, 18, 0), None, NINE)
    assert before == utc(2026, 3, 7, 14, 0)  # 09:00 EST
    assert on_the_day == utc(2026, 3, 8, 13, 0)  # 09:00 EDT
    # Released on the evening before the change: "next day" is the 8th, 09:00 EDT.
    assert at_send_time(utc(2026, 3, 8, 1, 0), utc(2026, 3, 7, 23, 0), NINE) == \
        utc(2026, 3, 8, 13, 0)
    # And back in November (EDT -> EST on the 1st).
    assert at_send_time(utc(2026, 11, 1, 18, 0), None, NINE) == utc(2026, 11, 1, 14, 0)


@pytest.mark.parametrize("raw, anchor_at, expected", [
    (utc(2026, 1, 15, 12, 0), None, utc(2026, 1, 15, 8, 30)),  # CET: +1
    (utc(2026, 7, 15, 12, 0), None, utc(2026, 7, 15, 7, 30)),  # CEST: +2
    # 23:30 UTC on the 15th is already the 16th in Berlin.
    (utc(2026, 7, 15, 23, 30), None, utc(2026, 7, 16, 7, 30)),
    # Released at 10:00 Berlin time: 09:30 that day is before it -> the next day's.
    (utc(2026, 7, 15, 8, 0), utc(2026, 7, 15, 8, 0), utc(2026, 7, 16, 7, 30)),
])
def test_at_send_time_in_berlin(raw, anchor_at, expected):
    rules = Rules(timezone="Europe/Berlin", send_minute=9 * 60 + 30)
    assert at_send_time(raw, anchor_at, rules) == expected


def test_an_unknown_time_zone_is_utc():
    rules = Rules(timezone="Mars/Olympus_Mons", send_minute=9 * 60)
    assert at_send_time(utc(2026, 6, 3, 19, 0), None, rules) == utc(2026, 6, 3, 9, 0)


# --- out_of_quiet_hours -----------------------------------------------------------------------

DAYTIME = Rules(timezone="Europe/Berlin", quiet_start=12 * 60, quiet_end=14 * 60)
NIGHT = Rules(timezone="Europe/Berlin", quiet_start=22 * 60, quiet_end=7 * 60)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize("rules, when, expected", [
    # A window inside one day: 12:00-14:00.
    (DAYTIME, berlin(2026, 6, 3, 11, 59), berlin(2026, 6, 3, 11, 59)),
    (DAYTIME, berlin(2026, 6, 3, 12, 0), berlin(2026, 6, 3, 14, 0)),  # the start is quiet
    (DAYTIME, berlin(2026, 6, 3, 13, 59), berlin(2026, 6, 3, 14, 0)),
    (DAYTIME, berlin(2026, 6, 3, 14, 0), berlin(2026, 6, 3, 14, 0)),  # the end is not
    (DAYTIME, berlin(2026, 6, 3, 18, 0), berlin(2026, 6, 3, 18, 0)),
    # A window wrapping midnight: 22:00-07:00.
    (NIGHT, berlin(2026, 6, 3, 21, 59), berlin(2026, 6, 3, 21, 59)),
    (NIGHT, berlin(2026, 6, 3, 22, 0), berlin(2026, 6, 4, 7, 0)),  # evening: next morning
    (NIGHT, berlin(2026, 6, 3, 23, 45), berlin(2026, 6, 4, 7, 0)),
    (NIGHT, berlin(2026, 6, 4, 0, 0), berlin(2026, 6, 4, 7, 0)),  # after midnight: today
    (NIGHT, berlin(2026, 6, 4, 6, 59), berlin(2026, 6, 4, 7, 0)),
    (NIGHT, berlin(2026, 6, 4, 7, 0), berlin(2026, 6, 4, 7, 0)),
    (NIGHT, berlin(2026, 6, 4, 12, 0), berlin(2026, 6, 4, 12, 0)),
    # No quiet hours, or an empty window.
    (Rules(timezone="Europe/Berlin"), berlin(2026, 6, 3, 23, 0), berlin(2026, 6, 3, 23, 0)),
    (Rules(quiet_start=600, quiet_end=600), utc(2026, 6, 3, 10, 0), utc(2026, 6, 3, 10, 0)),
])
def test_out_of_quiet_hours(rules, when, expected):
    assert out_of_quiet_hours(when, rules) == expected


def test_quiet_hours_read_in_the_studios_zone_from_a_utc_time():
    # 21:30 UTC in June is 23:30 in Berlin: inside 22:00-07:00, so 07:00 Berlin = 05:00 UTC.
    assert out_of_quiet_hours(utc(2026, 6, 3, 21, 30), NIGHT) == utc(2026, 6, 4, 5, 0)


# --- due_time: the whole rule ------------------------------------------------------------------

@pytest.mark.parametrize("anchor, offset, anchor_at, fixed_at, send_time, rules, expected", [
    # Exactly at its time, no rules in the way (the tests' seconds offsets).
    ("release", 5, RELEASED, None, False, Rules(), RELEASED + timedelta(seconds=5)),
    ("expiry", -4 * DAY, EXPIRES, None, False, Rules(), EXPIRES - timedelta(days=4)),
    ("date", 0, None, FIXED, False, Rules(), FIXED),
    ("event_date", -2 * DAY, utc(2026, 5, 20), None, False, Rules(), utc(2026, 5, 18)),
    # At 09:00 New York, two days after the release (15:00 UTC = 11:00 EDT).
    ("release", 2 * DAY, RELEASED, None, True, NINE, datetime(2026, 6, 3, 9, 0, tzinfo=NY)),
    # Seven days before expiry at send time: that local date's morning, even though it is
    # earlier than the raw time (only a time after its anchor must stay after it).
    ("expiry", -7 * DAY, utc(2026, 7, 1, 3, 59, 59), None, True, NINE,
     datetime(2026, 6, 23, 9, 0, tzinfo=NY)),
    ("expiry", -1 * DAY, EXPIRES, None, True, NINE, datetime(2026, 6, 29, 9, 0, tzinfo=NY)),
    # A fixed date at send time: that date's morning, even though it was 08:30 UTC.
    ("date", 0, None, FIXED, True, NINE, datetime(2026, 6, 10, 9, 0, tzinfo=NY)),
    # Abandoned cart 24 h after 02:00 Berlin, no send time: into the night's quiet hours.
    ("cart_change", DAY, berlin(2026, 6, 3, 2, 0), None, False, NIGHT,
     berlin(2026, 6, 4, 7, 0)),
    # Send time inside quiet hours: moved to their end.
    ("release", DAY, RELEASED, None, True,
     Rules(timezone="America/New_York", send_minute=8 * 60, quiet_start=0, quiet_end=10 * 60),
     datetime(2026, 6, 2, 10, 0, tzinfo=NY)),
    # No anchor: never.
    ("release", 5, None, None, False, Rules(), None),
    ("date", 0, None, None, True, NINE, None),
])
def test_due_time(anchor, offset, anchor_at, fixed_at, send_time, rules, expected):
    assert due_time(anchor, offset, anchor_at=anchor_at, fixed_at=fixed_at,
                    send_time=send_time, rules=rules) == expected


# --- skip_reason ------------------------------------------------------------------------------

NOW = utc(2026, 6, 5, 12, 0)
AFTER_EXPIRY = "The gallery expires before this would be sent."


@pytest.mark.parametrize("due, anchor, offset, expires_at, reason", [
    (NOW + timedelta(hours=1), "release", DAY, EXPIRES, None),
    (NOW, "release", 0, None, None),  # just now
    (NOW - GRACE + timedelta(seconds=1), "release", 0, EXPIRES, None),  # within the grace
    (NOW - GRACE, "release", 0, EXPIRES, None),  # exactly the grace: still sent
    (NOW - GRACE - timedelta(seconds=1), "release", 0, EXPIRES, "passed"),
    (NOW - timedelta(days=3), "cart_change", DAY, EXPIRES, "passed"),
    # After the gallery expires: skipped, unless the step is anchored after expiry.
    (EXPIRES + timedelta(days=1), "release", 30 * DAY, EXPIRES, AFTER_EXPIRY),
    (EXPIRES, "date", 0, EXPIRES, AFTER_EXPIRY),  # at the expiry itself
    (EXPIRES - timedelta(seconds=1), "date", 0, EXPIRES, None),
    (EXPIRES, "expiry", 0, EXPIRES, AFTER_EXPIRY),  # "on expiry" is not after it
    (EXPIRES + timedelta(days=2), "expiry", 2 * DAY, EXPIRES, None),
    (EXPIRES - timedelta(days=1), "expiry", -DAY, EXPIRES, None),
    (EXPIRES + timedelta(days=2), "release", 0, None, None),  # no expiry at all
])
def test_skip_reason(due, anchor, offset, expires_at, reason):
    got = skip_reason(due, anchor=anchor, offset_seconds=offset, expires_at=expires_at, now=NOW)
    if reason == "passed":
        assert got == f"Its time ({due:%Y-%m-%d %H:%M} UTC) had passed when it was planned."
    else:
        assert got == reason


def test_after_expiry_wins_over_passed():
    due = EXPIRES + timedelta(hours=1)
    assert skip_reason(due, anchor="release", offset_seconds=0, expires_at=EXPIRES,
                       now=due + timedelta(days=5)) == AFTER_EXPIRY


# --- days_left ------------------------------------------------------------------------------

@pytest.mark.parametrize("expires_at, expected", [
    (None, None),
    (NOW + timedelta(days=7), 7),
    (NOW + timedelta(days=6, seconds=1), 7),  # rounded up
    (NOW + timedelta(days=6, hours=23), 7),
    (NOW + timedelta(hours=1), 1),  # the last day says 1
    (NOW + timedelta(seconds=1), 1),
    (NOW, 0),
    (NOW - timedelta(days=2), 0),  # expired: never negative
])
def test_days_left(expires_at, expected):
    assert days_left(expires_at, NOW) == expected
