"""The studio's brand (Settings → Brand): the name clients see, a logo, an accent colour, a
typeface for the gallery cover and a public contact, shown on the client gallery, its error
pages and the emails.

Everything but the name lives in `Photographer.brand` (one JSON value), so a page that has
the photographer row has the whole brand: `brand_of(photographer)` needs no query.

The logo is checked and resized with Pillow (in a thread: `prepare_logo` is CPU work) and
stored under the media root as brand/<random key>.<png|jpg>. A new upload gets a new key,
so its URL (/brand/logo/<key>) never changes content and is cached for a year; the key is
random, so logos cannot be listed by walking photographer ids.
"""

from __future__ import annotations

import contextlib
import io
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import validation
from .errors import Invalid, NotFound
from .models import Photographer
from .workflows.colors import TEXT_AA, WHITE, contrast, hex_color, ink_on

#: The app's own green (web/static/css/app.css --accent): the look of an unbranded studio.
DEFAULT_ACCENT = "#2f5d50"
#: A logo is shown at most 300×100 CSS px: stored at twice that for sharp high-DPI screens.
LOGO_BOX = (600, 200)
LOGO_MAX_BYTES = 5 * 1024 * 1024
#: Checked from the header, before decoding: a small file can still claim a huge canvas.
LOGO_MAX_PIXELS = 40_000_000
LOGO_FORMATS = ("PNG", "JPEG", "WEBP")
_KEY = re.compile(r"[0-9a-f]{32}\.(png|jpg)")

#: Cover typefaces: stacks of fonts already on the visitor's machine (the CSP allows no
#: font download, and none is needed).
FONTS: dict[str, tuple[str, str]] = {
    "classic": ("Classic serif", 'Georgia, "Times New Roman", Times, serif'),
    "modern": ("Modern sans", 'system-ui, -apple-system, "Segoe UI", Roboto, '
                              '"Helvetica Neue", Arial, sans-serif'),
    "elegant": ("Elegant", 'Didot, "Bodoni 72", "Bodoni MT", "Hoefler Text", Garamond, '
                           '"Times New Roman", serif'),
    "editorial": ("Editorial", '"Iowan Old Style", "Palatino Linotype", Palatino, '
                               '"Book Antiqua", Georgia, serif'),
}
DEFAULT_FONT = "classic"
_PHONE = re.compile(r"\+?[0-9 ().\-/]{5,40}")


def display_name(photographer: Photographer) -> str:
    """What clients see: the studio name, else the personal name (a new account has no
    studio name yet; the Brand page says which one clients see)."""
    return photographer.business_name or photographer.name


def logo_path(media_root: Path, key: str) -> Path:
    """Where a logo's file lives; a key we did not make is not found."""
    if not _KEY.fullmatch(key or ""):
        raise NotFound()
    return Path(media_root) / "brand" / key


def logo_url(key: str | None, base_url: str = "") -> str | None:
    return f"{base_url}/brand/logo/{key}" if key else None


def brand_of(photographer: Photographer, base_url: str = "") -> dict[str, Any]:
    """The brand as templates use it. `base_url`: absolute URLs (emails); pages use paths."""
    data = photographer.brand or {}
    accent = data.get("accent") or DEFAULT_ACCENT
    font = data.get("font") if data.get("font") in FONTS else DEFAULT_FONT
    contact = {k: data.get(k) or "" for k in ("email", "phone", "website")}
    return {
        "name": display_name(photographer),
        "logo_url": logo_url(data.get("logo"), base_url),
        "accent": accent,
        "accent_ink": ink_on(accent),
        "font": font,
        "font_stack": FONTS[font][1],
        "contact": contact,
        "has_contact": any(contact.values()),
        # Whom to ask about a closed gallery or link when no public email is given.
        "ask_email": contact["email"] or photographer.email,
        "website_label": _website_label(contact["website"]),
    }


async def load_brand(session: AsyncSession, photographer_id: int) -> dict[str, Any] | None:
    """The brand of a photographer known only by id (an error page), or None."""
    photographer = await session.get(Photographer, photographer_id)
    return brand_of(photographer) if photographer is not None else None


def _website_label(url: str) -> str:
    parts = urlsplit(url) if url else None
    return (parts.netloc + parts.path.rstrip("/")).removeprefix("www.") if parts else ""


# --- checking what the Brand page posts ---------------------------------------------------


def accent_color(value: str) -> str:
    """#rrggbb; any colour is allowed (the button's text picks white or ink for it)."""
    return hex_color(value or DEFAULT_ACCENT, "Accent")


def accent_notes(accent: str) -> list[str]:
    """What the Brand page says about a colour: its button's label contrast."""
    ink = ink_on(accent)
    ratio = contrast(ink, accent)
    notes = []
    if ink != WHITE:
        notes.append(f"White text is hard to read on this colour "
                     f"({contrast(WHITE, accent):.1f}:1): its buttons get dark text instead.")
    if ratio < TEXT_AA:
        notes.append(f"Button labels are {ratio:.1f}:1 on this colour, below the "
                     f"{TEXT_AA:g}:1 WCAG AA asks for: pick a darker or lighter shade.")
    return notes


def contact_fields(email: str, phone: str, website: str) -> dict[str, str]:
    """The public contact, each part optional; a clear message for the first wrong one."""
    found = {"email": "", "phone": "", "website": ""}
    if email.strip():
        found["email"] = validation.email(email)
    phone = validation.text(phone, "Phone", max_len=40, required=False)
    if phone and not _PHONE.fullmatch(phone):
        raise Invalid("Phone: digits, spaces and + ( ) . - / only.", field="contact_phone")
    found["phone"] = phone
    website = validation.text(website, "Website", max_len=200, required=False)
    if website:
        if "://" not in website:
            website = "https://" + website
        parts = urlsplit(website)
        if parts.scheme not in ("http", "https") or "." not in parts.netloc or any(
                c.isspace() for c in website):
            raise Invalid("Website: give an address like https://studio.example.com.",
                          field="contact_website")
    found["website"] = website
    return found


@dataclass(frozen=True)
class Logo:
    key: str
    data: bytes


def prepare_logo(data: bytes) -> Logo:
    """Check an uploaded logo and make the stored one (at most LOGO_BOX, PNG if it has
    transparency, else JPEG). Raises Invalid with a message a photographer understands.
    CPU work: call it in a thread."""
    if not data:
        raise Invalid("The logo file is empty.", field="logo")
    if len(data) > LOGO_MAX_BYTES:
        raise Invalid(f"The logo file is {len(data) / 1024 / 1024:.1f} MB; at most "
                      f"{LOGO_MAX_BYTES // 1024 // 1024} MB, please.", field="logo")
    not_image = Invalid("The logo is not an image we can read: use a PNG, JPEG or WebP.",
                        field="logo")
    try:
        with Image.open(io.BytesIO(data), formats=LOGO_FORMATS) as img:
            if img.width * img.height > LOGO_MAX_PIXELS:
                raise Invalid("The logo's image is too large to process "
                              f"({img.width}×{img.height} pixels).", field="logo")
            img.load()  # a truncated or corrupt file fails here, not half-drawn later
            img = ImageOps.exif_transpose(img)
            alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            img = img.convert("RGBA" if alpha else "RGB")
            img.thumbnail(LOGO_BOX, Image.LANCZOS)
            out = io.BytesIO()
            if alpha:
                img.save(out, "PNG", optimize=True)
            else:
                img.save(out, "JPEG", quality=90, optimize=True)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError):
        raise not_image from None
    return Logo(f"{secrets.token_hex(16)}.{'png' if alpha else 'jpg'}", out.getvalue())


def store_logo(media_root: Path, logo: Logo) -> None:
    path = logo_path(media_root, logo.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(logo.data)
    tmp.replace(path)


def remove_logo_file(media_root: Path, key: str | None) -> None:
    if key:
        with contextlib.suppress(NotFound):  # never a key we made: nothing to remove
            logo_path(media_root, key).unlink(missing_ok=True)


@dataclass(frozen=True)
class BrandForm:
    studio_name: str
    accent: str
    font: str
    contact: dict[str, str]
    #: The new logo's key; None keeps the current one.
    logo_key: str | None = None
    remove_logo: bool = False


def save(session: Session, photographer_id: int, form: BrandForm) -> str | None:
    """Store the brand; returns the logo key it replaced or removed (its file is deleted
    after the commit), else None."""
    photographer = session.get(Photographer, photographer_id)
    photographer.business_name = validation.text(form.studio_name, "Studio name",
                                                 max_len=120, required=False)
    old = dict(photographer.brand or {})
    # accent_ink is stored too (derived): email templates read the JSON as it is.
    new = {**old, "accent": form.accent, "accent_ink": ink_on(form.accent), "font": form.font,
           **form.contact}
    if form.logo_key:
        new["logo"] = form.logo_key
    elif form.remove_logo:
        new.pop("logo", None)
    photographer.brand = new  # a new dict: the JSON column sees the change
    session.flush()
    replaced = old.get("logo")
    return replaced if replaced and replaced != new.get("logo") else None
