"""Small input checks shared by the services (lengths, emails), each with a clear message.

Text that reaches the database must be storable on both backends: no NUL (PostgreSQL
refuses it in text) and no lone UTF-16 surrogate (JSON can spell one as \\ud800; it cannot
be encoded as UTF-8 and would fail on write)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from .errors import Invalid


def storable(value: str) -> bool:
    """Whether `value` can be stored as text on SQLite and PostgreSQL alike."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def text(value: str | None, label: str, *, max_len: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise Invalid(f"{label} is required.", field=label.lower())
    if len(value) > max_len:
        raise Invalid(f"{label} is too long (at most {max_len} characters).", field=label.lower())
    if not storable(value):
        raise Invalid(f"{label} contains invalid characters.", field=label.lower())
    return value


def email(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid("Email is required.", field="email")
    if len(value) > 254:
        raise Invalid("Email is too long.", field="email")
    if not storable(value):
        raise Invalid("That email address is not valid: it contains invalid characters.",
                      field="email")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"That email address is not valid: {exc}", field="email") from None
    return result.normalized.lower()


def password(value: str | None) -> str:
    value = value or ""
    if len(value) < 8:
        raise Invalid("Password must be at least 8 characters.", field="password")
    if len(value) > 200:
        raise Invalid("Password is too long.", field="password")
    if not storable(value):  # argon2 hashes the UTF-8 bytes
        raise Invalid("Password contains invalid characters.", field="password")
    return value
