"""An email step, rendered for one contact of one gallery: merge fields, call-to-action
buttons, the studio's name and the contact's unsubscribe link; HTML with a plain-text part.

Merge fields are `{first_name}`-style names replaced from a fixed table (never template
code: the photographer's text is data, and the HTML template escapes it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from .. import brand
from ..models import Contact, Event, Photographer
from ..templating import EMAILS
from . import timing

#: Name → what it reads as; the builder lists them under the body.
MERGE_FIELDS = {
    "first_name": "Client first name",
    "gallery_title": "Gallery title",
    "gallery_link": "Gallery link",
    "expiry_date": "Expiry date",
    "days_left": "Days left before expiry",
    "pin": "Download PIN",
    "password": "Gallery password",
    "coupon_code": "Coupon code",
    "favorites_count": "Number of favorites",
    "studio_name": "Studio name",
}
BUTTON_ACTIONS = {"gallery": "Open the gallery", "favorites": "Open my favorites",
                  "store": "Open the store",
                  "shop_coupon": "Open the store with the coupon applied",
                  "url": "Custom link"}
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


def gallery_url(base_url: str, event: Event, view: str = "") -> str:
    url = f"{base_url.rstrip('/')}/g/{event.slug}"
    return f"{url}?view={view}" if view else url


def unsubscribe_token(secret: str, contact: Contact) -> str:
    return URLSafeSerializer(secret, salt="unsubscribe").dumps(
        [contact.photographer_id, contact.id])


def read_unsubscribe_token(secret: str, token: str) -> tuple[int, int] | None:
    try:
        pid, cid = URLSafeSerializer(secret, salt="unsubscribe").loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return (pid, cid) if isinstance(pid, int) and isinstance(cid, int) else None


def merge_values(*, event: Event, contact: Contact | None, studio: str, base_url: str,
                 coupon_code: str = "", favorites: int = 0,
                 now: datetime) -> dict[str, str]:
    name = (contact.name if contact else "") or ""
    left = timing.days_left(event.expires_at, now)
    return {
        "first_name": name.split()[0] if name.split() else "there",
        "gallery_title": event.title,
        "gallery_link": gallery_url(base_url, event),
        "expiry_date": f"{event.expires_at:%B} {event.expires_at.day}, {event.expires_at.year}"
        if event.expires_at else "",
        "days_left": "" if left is None else str(left),
        "pin": event.download_pin or "",
        "password": event.client_password or "",
        "coupon_code": coupon_code,
        "favorites_count": str(favorites),
        "studio_name": studio,
    }


def merge(text: str, values: dict[str, str]) -> str:
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _button_url(base_url: str, event: Event, action: str, coupon: str) -> str:
    """The gallery opened on what the button names (gallery.js reads `view` and `coupon`)."""
    if action == "shop_coupon" and coupon:
        return gallery_url(base_url, event, f"shop&coupon={quote(coupon)}")
    return gallery_url(base_url, event, {"gallery": "", "favorites": "favorites"}.get(
        action, "shop"))


def buttons(content: dict[str, Any], event: Event, base_url: str,
            values: dict[str, str]) -> list[dict[str, str]]:
    found = []
    for button in (content.get("buttons") or [])[:2]:
        action = button.get("action")
        if action not in BUTTON_ACTIONS:
            continue
        url = (merge(button.get("url", ""), values) if action == "url"
               else _button_url(base_url, event, action, values.get("coupon_code", "")))
        # A custom link is a web address; the gallery's own may be relative (banners).
        allowed = ("http://", "https://") if action == "url" else ("http://", "https://", "/")
        if not url.startswith(allowed):
            continue
        found.append({"label": merge(button.get("label") or BUTTON_ACTIONS[action], values),
                      "url": url})
    return found


def render(content: dict[str, Any], *, event: Event, contact: Contact | None,
           photographer: Photographer, base_url: str, secret: str, favorites: int = 0,
           now: datetime) -> Rendered:
    studio = photographer.business_name or photographer.name
    values = merge_values(event=event, contact=contact, studio=studio, base_url=base_url,
                          coupon_code=content.get("coupon_code", ""), favorites=favorites,
                          now=now)
    subject = " ".join(merge(content.get("subject", ""), values).split()) or event.title
    body = merge(content.get("body", ""), values)
    unsubscribe = (f"{base_url.rstrip('/')}/unsubscribe/{unsubscribe_token(secret, contact)}"
                   if contact is not None and contact.id else "")
    context = {"subject": subject, "paragraphs": [p.strip() for p in body.split("\n\n")
                                                  if p.strip()],
               "body": body, "buttons": buttons(content, event, base_url, values),
               "studio": studio, "unsubscribe": unsubscribe, "event": event,
               # The header's logo and the buttons' colour (web/templates/email/_brand.html)
               "brand": brand.brand_of(photographer, base_url.rstrip("/"))}
    return Rendered(subject,
                    EMAILS.get_template("email/workflow.txt").render(context),
                    EMAILS.get_template("email/workflow.html").render(context))
