"""Downloads: one image, or a streaming ZIP of the gallery or of the client's favorites.

Each honours the event's download settings (single / bulk on or off, original or web size,
optional 4-digit PIN) and is recorded as a Download row plus an ActivityEvent before the
first byte leaves.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from zipstream import ZipStream

from . import activity
from .errors import Forbidden, Invalid, NotFound
from .favorites import favorites_scope
from .media import MediaStore
from .models import Download, Event, Image
from .public import Guest, device_marks, gallery_image


@dataclass
class FileDownload:
    path: Path
    filename: str
    size: int


def check_pin(event: Event, pin: str | None) -> bool:
    if not event.download_pin:
        return True
    # Bytes: compare_digest refuses a str with non-ASCII characters (a TypeError).
    given = (pin or "").strip().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(event.download_pin.encode(), given)


def _require(event: Event, kind: str, pin_ok: bool) -> None:
    allowed = event.download_single if kind == "single" else event.download_bulk
    if not allowed:
        what = "Single-image" if kind == "single" else "Full-gallery"
        raise Forbidden(f"{what} downloads are not available for this gallery.")
    if not pin_ok:
        raise Forbidden("Enter the download PIN your photographer gave you.")


def _served_file(media: MediaStore, event: Event, image: Image,
                 size: str | None = None) -> tuple[Path, str]:
    if (size or event.download_size) == "web":
        stem = image.filename.rsplit(".", 1)[0]
        return media.variant_path("preview", image.storage_key), f"{stem}.jpg"
    return media.variant_path("original", image.storage_key), image.filename


def safe_name(name: str) -> str:
    return re.sub(r"[\\/\x00-\x1f]", "_", name).lstrip(".") or "image"


def single_image(session: Session, event: Event, image_id: int, *, pin_ok: bool) -> Image:
    """The image a single download serves, if the gallery allows it (a read)."""
    _require(event, "single", pin_ok)
    return gallery_image(session, event, image_id)


def single_file(media: MediaStore, event: Event, image: Image,
                size: str | None = None) -> FileDownload:
    """The file served for `image` (at `size`, else the gallery's): disk work, so outside
    any unit of work."""
    path, name = _served_file(media, event, image, size)
    if not path.is_file():
        raise NotFound("The file is missing on the server.")
    return FileDownload(path, safe_name(name), path.stat().st_size)


def record_single(session: Session, event: Event, guest: Guest, image_id: int,
                  file: FileDownload, size: str | None = None) -> None:
    """Log a single download (before its first byte leaves)."""
    # Read again in this unit: the row must not point at an image deleted meanwhile.
    image = gallery_image(session, event, image_id)
    session.add(
        Download(
            photographer_id=guest.photographer_id, event_id=event.id, contact_id=guest.contact_id,
            image_id=image.id, kind="single", scope="image", size=size or event.download_size,
            bytes=file.size, file_count=1, device_id=guest.device_id,
        )
    )
    activity.record(
        session, guest.photographer_id, "download_single", event_id=event.id,
        contact_id=guest.contact_id,
        payload={"image_id": image.id, "filename": image.filename,
                 "size": size or event.download_size,
                 **device_marks(guest)},
    )


def images_for_scope(session: Session, event: Event, guest: Guest | None,
                     scope: str) -> list[Image]:
    query = select(Image).where(Image.event_id == event.id, Image.state == "ready")
    if scope == "favorites":
        if guest is None:
            raise Invalid("Favorites need your email first.")
        # What this browser shows as favorites: an unverified one, only its own.
        query = query.where(favorites_scope(guest))
    elif scope != "all":
        raise Invalid("Unknown download scope.")
    return list(session.scalars(query.order_by(Image.position, Image.id)))


def build_zip(media: MediaStore, event: Event, images: list[Image],
              sizes: dict[int, str] | None = None) -> ZipStream:
    """A stored (uncompressed: JPEGs don't shrink) ZIP whose size is known up front.
    Stats every file: build it outside any unit of work."""
    stream = ZipStream(sized=True)
    used: set[str] = set()
    for image in images:
        path, name = _served_file(media, event, image, (sizes or {}).get(image.id))
        name = safe_name(name)
        base, dot, ext = name.rpartition(".")
        n = 2
        while name.lower() in used:
            name = f"{base} ({n}).{ext}" if dot else f"{ext} ({n})"
            n += 1
        used.add(name.lower())
        stream.add_path(str(path), name)
    return stream


def bulk_images(session: Session, event: Event, guest: Guest, scope: str, *,
                pin_ok: bool) -> list[Image]:
    """The images of a ZIP download, if the gallery allows it (a read)."""
    _require(event, "bulk", pin_ok)
    images = images_for_scope(session, event, guest, scope)
    if not images:
        raise Invalid("There is nothing to download yet." if scope == "all"
                      else "You have no favorites to download yet.")
    return images


def record_bulk(session: Session, event: Event, guest: Guest, scope: str, files: int,
                size: int, file_size: str | None = None) -> None:
    """Log a ZIP download of `files` files, `size` bytes (before its first byte leaves)."""
    session.add(
        Download(
            photographer_id=guest.photographer_id, event_id=event.id, contact_id=guest.contact_id,
            kind="bulk", scope=scope, size=file_size or event.download_size, bytes=size,
            file_count=files, device_id=guest.device_id,
        )
    )
    activity.record(
        session, guest.photographer_id, "download_bulk", event_id=event.id,
        contact_id=guest.contact_id,
        payload={"scope": scope, "files": files, "bytes": size, **device_marks(guest)},
    )


def zip_name(event: Event, scope: str) -> str:
    title = safe_name(re.sub(r"[^\w\- ]+", "", event.title)).strip() or "gallery"
    suffix = {"favorites": " - favorites", "purchased": " - purchased"}.get(scope, "")
    return f"{title}{suffix}.zip"


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name."""
    from urllib.parse import quote

    fallback = filename.encode("ascii", "replace").decode().replace('"', "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def purchased(session: Session, event: Event, order,
              image_id: int | None) -> list[tuple[Image, str]]:
    """The files a paid order unlocked, each with its size (`image_id`: just that one);
    the gallery's own download settings and PIN do not apply to what was bought."""
    from .store.orders import order_grants

    if order.state not in ("paid", "in_production", "shipped", "delivered"):
        raise Forbidden("Your files unlock as soon as your photographer marks the order paid.")
    ready = select(Image).where(Image.event_id == event.id, Image.state == "ready")
    if image_id is not None:
        ready = ready.where(Image.id == image_id)
    images = {image.id: image for image in session.scalars(ready.order_by(Image.id))}
    sizes: dict[int, str] = {}
    grants = sorted(order_grants(session, order), key=lambda g: g.size == "original")
    for grant in grants:  # the larger size wins
        for one in (images if grant.image_id is None else images.keys() & {grant.image_id}):
            sizes[one] = grant.size
    if not sizes:
        raise NotFound("That file is not part of this order.")
    return [(images[i], sizes[i]) for i in sorted(sizes)]
