"""Visible watermarks on the client gallery's thumbnails and previews, never on downloads.

A gallery may mark what its clients browse with a text (the studio's name by default), in
the centre, a corner or tiled across, at an opacity. The marked copy of a variant is made
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

from .errors import Invalid
from .media import MediaStore
from .models import Event

POSITIONS = {"center": "In the centre", "bottom_right": "Bottom right corner",
             "tiled": "Tiled across the photo"}
#: Bumped when the drawing changes, so copies made by older code are not served.
VERSION = 1
TEXT_LEN = 60


@dataclass(frozen=True)
class Mark:
    text: str
    position: str = "center"
    opacity: int = 35  # percent

    def key(self) -> str:
        raw = f"{VERSION}|{self.text}|{self.position}|{self.opacity}".encode()
        return hashlib.sha256(raw).hexdigest()[:16]


def mark_of(event: Event, studio_name: str) -> Mark | None:
    """The gallery's mark, or None when it shows its photos unmarked."""
    if not event.watermark:
        return None
    return Mark(event.watermark_text or studio_name, event.watermark_position,
                event.watermark_opacity)


def checked(enabled: bool, text: str, position: str, opacity: int) -> dict:
    """The gallery's watermark columns from the editor's fields, or Invalid."""
    if position not in POSITIONS:
        raise Invalid("Pick where the watermark goes.", field="watermark_position")
    if not 10 <= opacity <= 90:
        raise Invalid("Watermark opacity is between 10% and 90%.", field="watermark_opacity")
    text = " ".join((text or "").split())
    if len(text) > TEXT_LEN:
        raise Invalid(f"The watermark text is at most {TEXT_LEN} characters.",
                      field="watermark_text")
    return {"watermark": enabled, "watermark_text": text, "watermark_position": position,
            "watermark_opacity": opacity}


def draw(data: bytes, mark: Mark) -> bytes:
    """The JPEG `data` with `mark` drawn over it (white text, a soft dark edge)."""
    with Image.open(io.BytesIO(data)) as img:
        base = img.convert("RGBA")
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


async def marked_file(media: MediaStore, variant: str, storage_key: str, mark: Mark) -> Path:
    """The marked copy of a thumbnail or preview, made on its first request."""
    path = media.marked_path(variant, storage_key, mark.key())
    if not path.is_file():
        source = media.variant_path(variant, storage_key)
        data = await asyncio.to_thread(source.read_bytes)
        marked = await asyncio.to_thread(draw, data, mark)
        await asyncio.to_thread(media.write_marked, path, marked)
    return path
