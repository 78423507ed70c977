"""Visible watermarks on the client gallery's thumbnails and previews, never on downloads.

A gallery may mark what its clients browse with a text (the studio's name by default) or
the studio's brand logo (Settings → Brand: server/brand.py), in the centre (large), a
corner (small) or tiled across, at an opacity. The marked copy of a variant is made
the first time it is asked for, in a thread, and kept on disk under a key that names the
mark's settings (`Mark.key`): changing them makes new copies, and the originals, the
unmarked variants and every download route stay untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from . import brand
from .errors import Invalid, NotFound
from .media import MediaStore
from .models import Event

POSITIONS = {"center": "In the centre", "bottom_right": "Bottom right corner",
             "tiled": "Tiled across the photo"}
#: Bumped when the drawing changes, so copies made by older code are not served.
VERSION = 1
TEXT_LEN = 60
KINDS = {"text": "Text", "logo": "Studio logo"}
#: The logo's box, as fractions of the photo's (width, height), by position.
LOGO_BOX = {"center": (0.45, 0.32), "bottom_right": (0.18, 0.12), "tiled": (0.2, 0.14)}


@dataclass(frozen=True)
class Mark:
    text: str
    position: str = "center"
    opacity: int = 35  # percent
    #: The studio logo's key (server/brand.py) for a logo mark; "" for a text mark. The
    #: text stays the fallback should the logo's file be gone.
    logo: str = ""

    def key(self) -> str:
        raw = f"{VERSION}|{self.text}|{self.position}|{self.opacity}"
        if self.logo:  # a new logo is a new key, so new copies; text keys are as before
            raw += f"|logo|{self.logo}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def mark_of(event: Event, studio_name: str, logo_key: str | None = None) -> Mark | None:
    """The gallery's mark, or None when it shows its photos unmarked. A logo mark whose
    studio has since removed its logo falls back to the text (the studio's name)."""
    if not event.watermark:
        return None
    logo = logo_key or "" if event.watermark_kind == "logo" else ""
    return Mark(event.watermark_text or studio_name, event.watermark_position,
                event.watermark_opacity, logo)


def checked(enabled: bool, text: str, position: str, opacity: int, kind: str = "text",
            has_logo: bool = False) -> dict:
    """The gallery's watermark columns from the editor's fields, or Invalid. A logo mark
    needs the studio to have a logo."""
    if kind not in KINDS:
        raise Invalid("Pick a text or your studio logo for the watermark.",
                      field="watermark_kind")
    if kind == "logo" and not has_logo:
        raise Invalid("Your studio has no logo yet: add one in Settings → Brand, or "
                      "watermark with a text.", field="watermark_kind")
    if position not in POSITIONS:
        raise Invalid("Pick where the watermark goes.", field="watermark_position")
    if not 10 <= opacity <= 90:
        raise Invalid("Watermark opacity is between 10% and 90%.", field="watermark_opacity")
    text = " ".join((text or "").split())
    if len(text) > TEXT_LEN:
        raise Invalid(f"The watermark text is at most {TEXT_LEN} characters.",
                      field="watermark_text")
    return {"watermark": enabled, "watermark_text": text, "watermark_position": position,
            "watermark_opacity": opacity, "watermark_kind": kind}


def draw(data: bytes, mark: Mark, logo: bytes | None = None) -> bytes:
    """The JPEG `data` with `mark` drawn over it: the `logo` image when given, else the
    text (white, a soft dark edge)."""
    with Image.open(io.BytesIO(data)) as img:
        base = img.convert("RGBA")
    if logo is not None:
        out = io.BytesIO()
        layer = _logo_layer(base.size, logo, mark)
        Image.alpha_composite(base, layer).convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue()
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    short = min(base.size)
    size = max(12, int(short * (0.045 if mark.position == "bottom_right" else 0.08)))
    font = ImageFont.load_default(size=size)
    alpha = round(255 * mark.opacity / 100)
    pen = ImageDraw.Draw(layer)
    left, top, right, bottom = pen.textbbox((0, 0), mark.text, font=font)
    width, height = right - left, bottom - top
    if mark.position == "tiled":
        layer = _tiled(base.size, mark.text, font, alpha, width, height)
    else:
        if mark.position == "center":
            xy = ((base.width - width) / 2 - left, (base.height - height) / 2 - top)
        else:
            pad = size
            xy = (base.width - width - pad - left, base.height - height - pad - top)
        _text(pen, xy, mark.text, font, alpha)
    out = io.BytesIO()
    Image.alpha_composite(base, layer).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _text(pen: ImageDraw.ImageDraw, xy: tuple[float, float], text: str,
          font: ImageFont.FreeTypeFont, alpha: int) -> None:
    edge = max(1, font.size // 24)
    pen.text(xy, text, font=font, fill=(255, 255, 255, alpha),
             stroke_width=edge, stroke_fill=(0, 0, 0, alpha // 2))


def _tiled(size: tuple[int, int], text: str, font: ImageFont.FreeTypeFont, alpha: int,
           width: int, height: int) -> Image.Image:
    """The text repeated on a grid, turned 30°, over a canvas larger than the photo so the
    turn leaves no empty corner."""
    side = int((size[0] ** 2 + size[1] ** 2) ** 0.5)
    sheet = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    pen = ImageDraw.Draw(sheet)
    step_x, step_y = width + font.size * 3, height + font.size * 3
    for row, y in enumerate(range(0, side, step_y)):
        for x in range(-(row % 2) * step_x // 2, side, step_x):
            _text(pen, (x, y), text, font, alpha)
    sheet = sheet.rotate(30, resample=Image.Resampling.BICUBIC)
    left, top = (side - size[0]) // 2, (side - size[1]) // 2
    return sheet.crop((left, top, left + size[0], top + size[1]))


def _logo_layer(size: tuple[int, int], data: bytes, mark: Mark) -> Image.Image:
    """The logo scaled into its box (large in the centre, small in the corner, a grid of
    them when tiled) at the mark's opacity, on a transparent layer the photo's size."""
    with Image.open(io.BytesIO(data)) as img:
        logo = img.convert("RGBA")
    box_w, box_h = LOGO_BOX[mark.position]  # fitted into its box, up or down
    scale = min(size[0] * box_w / logo.width, size[1] * box_h / logo.height)
    logo = logo.resize((max(1, round(logo.width * scale)), max(1, round(logo.height * scale))),
                       Image.Resampling.LANCZOS)
    logo.putalpha(logo.getchannel("A").point(lambda a: a * mark.opacity // 100))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    if mark.position == "center":
        layer.alpha_composite(logo, ((size[0] - logo.width) // 2, (size[1] - logo.height) // 2))
    elif mark.position == "bottom_right":
        pad = max(4, min(size) // 30)
        layer.alpha_composite(logo, (size[0] - logo.width - pad, size[1] - logo.height - pad))
    else:  # tiled: a grid, every other row shifted half a step
        step_x, step_y = int(logo.width * 1.6) + 1, int(logo.height * 2) + 1
        for row, y in enumerate(range(-logo.height // 2, size[1], step_y)):
            for x in range(-(row % 2) * step_x // 2, size[0], step_x):
                layer.alpha_composite(logo, (max(x, 0), max(y, 0)),
                                      (max(-x, 0), max(-y, 0)))
    return layer


def _logo_bytes(media: MediaStore, key: str) -> bytes | None:
    """The studio logo's file, or None when it is gone (then the text is drawn)."""
    try:
        path = brand.logo_path(media.root, key)
    except NotFound:
        return None
    return path.read_bytes() if path.is_file() else None


async def marked_file(media: MediaStore, variant: str, storage_key: str, mark: Mark) -> Path:
    """The marked copy of a thumbnail or preview, made on its first request."""
    path = media.marked_path(variant, storage_key, mark.key())
    if not path.is_file():
        source = media.variant_path(variant, storage_key)
        data = await asyncio.to_thread(source.read_bytes)
        logo = await asyncio.to_thread(_logo_bytes, media, mark.logo) if mark.logo else None
        marked = await asyncio.to_thread(draw, data, mark, logo)
        await asyncio.to_thread(media.write_marked, path, marked)
    return path
