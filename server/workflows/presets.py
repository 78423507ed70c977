"""The built-in workflow templates (Wedding, Portrait, School), as plain data.

Each template is a name, a description, the gallery type it suits, and its steps: dicts
with the fields of `workflows.models.WorkflowStep` (kind, name, anchor, a signed
offset_seconds, audience, at_send_time, content…). `builder.create_workflow` copies them
into rows; nothing reads these at send time, so editing a template changes only the
workflows made from it afterwards.
"""

from __future__ import annotations

import copy
from typing import Any

MINUTE, HOUR, DAY = 60, 3600, 86400

GALLERY = {"action": "gallery", "label": "View your gallery", "url": ""}
FAVORITES = {"action": "favorites", "label": "See my favorites", "url": ""}
STORE = {"action": "store", "label": "Order prints", "url": ""}


def email(name: str, anchor: str, offset: int, subject: str, body: str, *,
          audience: str = "clients", at_send_time: bool = True,
          buttons: tuple[dict[str, str], ...] = (GALLERY,), coupon_code: str = "") -> dict:
    content: dict[str, Any] = {"subject": subject, "body": body,
                               "buttons": [dict(b) for b in buttons]}
    if coupon_code:
        content["coupon_code"] = coupon_code
    return {"kind": "email", "name": name, "anchor": anchor, "offset_seconds": offset,
            "audience": audience, "at_send_time": at_send_time, "content": content}


def banner(name: str, anchor: str, offset: int, end_anchor: str, end_offset: int,
           text: str, *, headline: str = "", style: str = "notice", position: str = "top",
           after_n: int = 0, countdown: str = "end") -> dict:
    content: dict[str, Any] = {"headline": headline, "text": text, "style": style,
                               "position": position, "dismissible": True,
                               "countdown": countdown,
                               "buttons": [{"action": "store", "label": "Order prints",
                                            "url": ""}]}
    if position == "between":
        content["after_n"] = after_n
    return {"kind": "banner", "name": name, "anchor": anchor, "offset_seconds": offset,
            "end_anchor": end_anchor, "end_offset_seconds": end_offset,
            "audience": "visitors", "at_send_time": False, "content": content}


def _reminder(days: int) -> dict:
    subject = ("Last day to enjoy {gallery_title}" if days == 1
               else "{days_left} days left to enjoy {gallery_title}")
    body = ("Hi {first_name},\n\n"
            "A gentle reminder that your gallery “{gallery_title}” will close on "
            "{expiry_date}. There is still time to download your photos, choose your "
            "favorites and order prints for the walls they deserve.\n\n"
            "If you need a little more time, just reply to this email.\n\n"
            "Warmly,\n{studio_name}")
    return email(f"Expiry reminder ({days} {'day' if days == 1 else 'days'})", "expiry",
                 -days * DAY, subject, body, buttons=(GALLERY, STORE))


ANNOUNCEMENT_BODY = (
    "Hi {first_name},\n\n"
    "The wait is over: your photos from {gallery_title} are ready! We loved every moment "
    "of creating them, and we can’t wait for you to see them.\n\n"
    "Take your time, mark your favorites with the heart, and share the gallery with the "
    "people you love. It stays open until {expiry_date}.\n\n"
    "With love,\n{studio_name}")

ABANDONED_CART_BODY = (
    "Hi {first_name},\n\n"
    "You left a few beautiful photos from {gallery_title} in your cart. They are saved "
    "and ready whenever you are.\n\n"
    "Questions about sizes or papers? Just reply: we are happy to help.\n\n"
    "{studio_name}")

WEDDING = {
    "name": "Wedding",
    "description": "Announce the gallery, remind the couple before it closes, follow up "
                   "on a forgotten cart, and a last-chance banner in the final days.",
    "gallery_type": "Wedding",
    "steps": [
        email("Gallery is live", "release", 0, "Your wedding gallery is here, {first_name}!",
              ANNOUNCEMENT_BODY, at_send_time=False),
        email("Abandoned cart", "cart_change", DAY,
              "Your prints from {gallery_title} are waiting", ABANDONED_CART_BODY,
              audience="open_cart", at_send_time=False, buttons=(STORE,)),
        _reminder(7),
        _reminder(4),
        banner("Last chance banner", "expiry", -3 * DAY, "expiry", 0,
               "This gallery closes on {expiry_date}. Download and order before it’s "
               "gone.", headline="Last chance", style="urgent"),
        _reminder(1),
    ],
}

PORTRAIT = {
    "name": "Portrait",
    "description": "Announce the gallery, nudge visitors who chose favorites but haven’t "
                   "ordered yet, and remind everyone before it closes.",
    "gallery_type": "Portrait",
    "steps": [
        email("Gallery is live", "release", 0, "Your portraits are ready, {first_name}",
              ANNOUNCEMENT_BODY, at_send_time=False),
        email("Your favorites are waiting", "release", 2 * DAY,
              "Your {favorites_count} favorites are waiting",
              "Hi {first_name},\n\n"
              "You picked {favorites_count} favorites in {gallery_title}: what a "
              "lovely selection! They would look wonderful printed, framed or in an album."
              "\n\nYour favorites are saved in the gallery whenever you are ready to "
              "order.\n\n{studio_name}",
              audience="favorites_no_order", buttons=(FAVORITES, STORE)),
        _reminder(7),
        _reminder(1),
    ],
}

SCHOOL = {
    "name": "School",
    "description": "Tell parents the gallery opens soon, announce it, show the order "
                   "deadline between the photos, and win back carts with a coupon.",
    "gallery_type": "School",
    "steps": [
        email("Gallery opens soon", "event_date", DAY,
              "Picture day photos are coming soon",
              "Hi {first_name},\n\n"
              "Thank you for a wonderful picture day! We are editing the photos now, and "
              "the gallery “{gallery_title}” will open very soon. We will email you the "
              "moment it is live.\n\n{studio_name}", buttons=()),
        email("Gallery is live", "release", 0, "Picture day photos are ready to view",
              "Hi {first_name},\n\n"
              "The picture day gallery “{gallery_title}” is now open. Find your child’s "
              "photos, choose your favorites and order prints for the family.\n\n"
              "Orders close on {expiry_date}.\n\n{studio_name}",
              at_send_time=False, buttons=(GALLERY, STORE)),
        banner("Order deadline", "release", 0, "expiry", 0,
               "Orders close on {expiry_date}: {days_left} days left to order.",
               headline="Order deadline", position="between", after_n=12),
        email("Abandoned cart", "cart_change", DAY,
              "A little something to finish your order",
              "Hi {first_name},\n\n"
              "Your picture day order from {gallery_title} is still in your cart. "
              "Use the code {coupon_code} at checkout for a little thank-you from us.\n\n"
              "{studio_name}",
              audience="open_cart", at_send_time=False, buttons=(STORE,),
              coupon_code="WELCOME10"),
        _reminder(3),
    ],
}

PRESETS: dict[str, dict[str, Any]] = {"wedding": WEDDING, "portrait": PORTRAIT,
                                      "school": SCHOOL}


def preset(key: str) -> dict[str, Any] | None:
    """A deep copy of the template (callers may change it), or None."""
    found = PRESETS.get(key)
    return copy.deepcopy(found) if found is not None else None
