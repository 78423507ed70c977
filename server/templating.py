"""Jinja2 environment: autoescape on for every template whatever its extension (emails too)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2
from starlette.templating import Jinja2Templates

from .store.pricing import money

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def _date(value: datetime | None, fmt: str = "%b %-d, %Y") -> str:
    return value.strftime(fmt) if value else "—"


def _datetime(value: datetime | None) -> str:
    return value.strftime("%b %-d, %Y %H:%M UTC") if value else "—"


def _filesize(n: int | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB_DIR / "templates"),
        autoescape=True,  # every template, not only *.html: plain-text emails included
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(date=_date, datetime=_datetime, filesize=_filesize, money=money)
    return env


#: Shared by services that render emails; the web templates use the same settings.
EMAILS = make_environment()


def make_templates() -> Jinja2Templates:
    return Jinja2Templates(env=make_environment())
