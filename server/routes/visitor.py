"""Who a gallery visitor is, from their signed cookies: the gallery unlocked by password,
the device (browser) made at the email gate, the download PIN entered. Shared by the
gallery's HTTP routes and its live socket (both are HTTP connections with the same cookies).

The gate cookie holds, per photographer, {"d": device id, "c": contact id}. What it says is
a claim: public.find_guest() checks it against the database and says whether the device is
verified. Cookies of the earlier shape (a bare contact id, signed for another purpose) are
not read at all: their holder passes the gate again."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from ..models import Event
from ..public import Guest
from .common import read_signed, set_signed

UNLOCK_COOKIE, GUEST_COOKIE, PIN_COOKIE = "pr_unlock", "pr_guest", "pr_pin"
PURPOSES = {UNLOCK_COOKIE: "unlock", GUEST_COOKIE: "guest-device", PIN_COOKIE: "pin"}


def unlocked(conn: HTTPConnection, event: Event) -> bool:
    if not event.password_hash:
        return True
    marks = read_signed(conn, UNLOCK_COOKIE, "unlock", {})
    # Bound to the hash, so changing the password locks out earlier visitors.
    return isinstance(marks, dict) and marks.get(str(event.id)) == event.password_hash[-16:]


def guest_of(conn: HTTPConnection, event: Event) -> Guest | None:
    """The guest the cookie claims, as an unverified device (the least it can be); check
    it with public.find_guest() before trusting it further."""
    known = read_signed(conn, GUEST_COOKIE, PURPOSES[GUEST_COOKIE], {})
    held = known.get(str(event.photographer_id)) if isinstance(known, dict) else None
    if not isinstance(held, dict):
        return None
    device_id, contact_id = held.get("d"), held.get("c")
    if type(device_id) is not int or type(contact_id) is not int:
        return None
    return Guest(event.photographer_id, event.id, contact_id, device_id, verified=False)


def remember_device(response: Response, conn: HTTPConnection, guest: Guest) -> None:
    """Name this browser's device for the guest's photographer in the gate cookie."""
    remember(response, conn, GUEST_COOKIE, str(guest.photographer_id),
             {"d": guest.device_id, "c": guest.contact_id})


def pin_ok(conn: HTTPConnection, event: Event) -> bool:
    if not event.download_pin:
        return True
    pins = read_signed(conn, PIN_COOKIE, "pin", {})
    return isinstance(pins, dict) and pins.get(str(event.id)) == event.download_pin


def remember(response: Response, conn: HTTPConnection, cookie: str, key: str,
             value: object) -> None:
    """Add `key: value` to one of the visitor's signed dict cookies (gallery unlocks,
    contacts per photographer, PINs per gallery), keeping what it already held."""
    purpose = PURPOSES[cookie]
    held = read_signed(conn, cookie, purpose, {})
    held = held if isinstance(held, dict) else {}
    held[key] = value
    set_signed(response, conn, cookie, purpose, held)
