"""The one way a handler reads request input: typed readers over a form, a JSON object,
the query string or the path.

Each reader returns a clean Python value or raises `Invalid` (400) with a message that
says what to fix; a path parameter that cannot name anything is a `NotFound` (404) like
an unknown one. Text goes through `server/validation.py` (length, no NUL, no lone
surrogate), so whatever a reader returns can be stored on SQLite and PostgreSQL alike.

A source is anything with `.get(name)`: the `FormData` of `read_form`, the dict of
`read_json`, `request.query_params`. A field of the wrong type (a file part where text
is expected, a JSON number or list where a string is) is refused like a malformed one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from starlette.requests import HTTPConnection

from .. import validation
from ..errors import Invalid, NotFound

#: Ids are 32-bit integer columns: a bigger number cannot name a row (and would overflow
#: the query parameter on PostgreSQL and SQLite alike).
MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
_TRUE, _FALSE = ("on", "1", "true", "yes"), ("", "0", "off", "false", "no")


class Source(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def _string(source: Source, name: str, label: str, default: str) -> str:
    value = source.get(name, default)
    if value is None:  # JSON null: as if absent
        return default
    if not isinstance(value, str):
        raise Invalid(f"{label} must be text.", field=name)
    return value


def text(source: Source, name: str, label: str, *, max_len: int, required: bool = False,
         default: str = "") -> str:
    """A text field, stripped; required ones may not be blank."""
    value = _string(source, name, label, default)
    return validation.text(value, label, max_len=max_len, required=required)


def secret(source: Source, name: str, label: str, *, max_len: int) -> str:
    """A password or PIN: kept exactly as typed (no stripping), storable, bounded."""
    value = _string(source, name, label, "")
    if len(value) > max_len:
        raise Invalid(f"{label} is too long (at most {max_len} characters).", field=name)
    if not validation.storable(value):
        raise Invalid(f"{label} contains invalid characters.", field=name)
    return value


def email(source: Source, name: str = "email") -> str:
    return validation.email(_string(source, name, "Email", ""))


def row_id(source: Source, name: str, message: str, *, required: bool = True) -> int | None:
    """A row id (1 .. 2**31-1) given as a field; `message` says what to pick instead."""
    value = source.get(name)
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        if required:
            raise Invalid(message, field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid(message, field=name)
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise Invalid(message, field=name)
        value = int(value)
    if not 0 < value <= MAX_ID:
        raise Invalid(message, field=name)
    return value


def number(source: Source, name: str, label: str, *, default: int, low: int, high: int,
           lenient: bool = False) -> int:
    """A small whole number (a page number…) within [low, high]. `lenient`: a view
    preference, where anything else means `default` rather than a 400."""
    value = source.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        if lenient:
            return default
        raise Invalid(f"{label} must be a whole number from {low} to {high}.", field=name)
    return value


def choice(source: Source, name: str, label: str, choices: Iterable[str], *,
           default: str, lenient: bool = False) -> str:
    """One of a fixed set of values; absent means `default`. `lenient`: a view preference
    (a sort column, a tab), where an unknown value means `default` rather than a 400."""
    value = source.get(name, default)
    allowed = tuple(choices)
    if value in allowed:
        return value
    if lenient or value is None or value == "":
        return default
    raise Invalid(f"{label} must be one of: {', '.join(allowed)}.", field=name)


def flag(source: Source, name: str, label: str, *, default: bool = False) -> bool:
    """A checkbox ("on" or absent), a JSON boolean, or a query flag ("1"/"0")."""
    value = source.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid(f"{label} must be on or off.", field=name)


# Path parameters: a value that cannot name anything is simply not found.


def path_id(conn: HTTPConnection, name: str) -> int:
    value = str(conn.path_params.get(name, ""))
    if not _DIGITS.fullmatch(value) or not 0 < int(value) <= MAX_ID:
        raise NotFound()
    return int(value)


_SLUG = re.compile(r"[A-Za-z0-9_-]{1,80}")
_TOKEN = re.compile(r"[A-Za-z0-9_.=-]{1,4096}")


def path_slug(conn: HTTPConnection, name: str = "slug") -> str:
    """A gallery slug (what `galleries.slugify` makes)."""
    value = str(conn.path_params.get(name, ""))
    if not _SLUG.fullmatch(value):
        raise NotFound("This gallery does not exist or is not published yet.")
    return value


def path_choice(conn: HTTPConnection, name: str, choices: Iterable[str]) -> str:
    value = conn.path_params.get(name)
    if value not in tuple(choices):
        raise NotFound()
    return value


def path_token(conn: HTTPConnection, name: str = "token") -> str:
    """A signed token (itsdangerous' URL-safe alphabet)."""
    value = str(conn.path_params.get(name, ""))
    if not _TOKEN.fullmatch(value):
        raise NotFound("This link is not valid.")
    return value
