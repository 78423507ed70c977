"""Pillow work: validate an upload, make thumbnails and previews.

Pillow is restricted to the formats we accept, an image with more pixels than the
configured limit is refused from its header (before any decoding), and a truncated file
fails the check instead of rendering half a picture. These functions run in worker threads,
several at once: they change no process-wide state (Pillow's global `Image.MAX_IMAGE_PIXELS`
is switched off once at import, the warnings filters are untouched); each call checks its
own limit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import Invalid

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif"}
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Set once, at import, never per call: each call checks its own `max_pixels` from the
# header instead, so Pillow's global guess (89 Mpx warns, 179 Mpx refuses) neither warns
# about a 102 Mpx medium-format file we accept nor refuses one a studio allowed.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Checked:
    format: str
    width: int
    height: int
    taken_at: datetime | None = None

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def check_upload(data: bytes, max_pixels: int) -> Checked:
    """Raise Invalid with a message a photographer understands, or describe the image."""
    if not data:
        raise Invalid("The file is empty (0 bytes).")
    too_large = Invalid(
        f"The image is too large to process safely (over {max_pixels:,} pixels).")
    try:
        # Opening reads the header only: the size is known before anything is decoded.
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            fmt, (width, height) = img.format, img.size
            if width * height > max_pixels:
                raise too_large
            taken_at = capture_time(img)
            # Decode at reduced scale: a truncated stream still fails, at a fraction
            # of the cost of a full decode.
            img.draft("RGB", (THUMB_PROBE, THUMB_PROBE))
            img.load()
    except UnidentifiedImageError:
        raise Invalid("Not an image we can read (JPEG, PNG, WebP or TIFF).") from None
    except (OSError, SyntaxError, ValueError):
        raise Invalid("The image file is damaged or incomplete (truncated).") from None
    return Checked(fmt, width, height, taken_at)


THUMB_PROBE = 256
_EXIF_IFD, _DATETIME_ORIGINAL, _DATETIME = 0x8769, 0x9003, 0x0132


def capture_time(img: Image.Image) -> datetime | None:
    """When the camera took the photo (EXIF DateTimeOriginal, else DateTime), on the
    camera's own clock: labelled UTC, used only to order a gallery. None when absent or
    not a date (cameras write "0000:00:00 00:00:00" when unset)."""
    try:
        exif = img.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
        if not isinstance(raw, str):
            return None
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").replace(
            tzinfo=UTC)
    except (ValueError, TypeError, OSError, SyntaxError):  # a damaged EXIF block: no date
        return None


def render_variant(data: bytes, max_side: int) -> tuple[bytes, int, int]:
    """A JPEG no larger than max_side on its long edge, EXIF orientation applied."""
    with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
        img.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(img)
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, "JPEG", quality=85, optimize=True, progressive=True)
        return out.getvalue(), img.width, img.height


def oriented_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
        orientation = img.getexif().get(0x0112, 1)
        w, h = img.size
        return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
