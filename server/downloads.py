"""Downloads: one image, or a streaming ZIP of the gallery or of the client's favorites.

Each honours the event's download settings (single / bulk on or off, the sizes the client
may pick from, optional 4-digit PIN) and is recorded as a Download row plus an
ActivityEvent before the first byte leaves.

Sizes: the original as uploaded; "high", a JPEG of at most LARGE_SIZE px on its long edge
(the "large" media variant, made at upload, or on first need for photos processed before
it existed; a photo no larger is served as it is); "web", the 2048 px preview.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from zipstream import ZipStream

from . import activity, image_sets
from .errors import Forbidden, Invalid, NotFound
from .favorites import favorites_scope
from .imaging import render_variant
from .media import LARGE_SIZE, MediaStore
from .models import Download, Event, Image
from .public import Guest, device_marks, gallery_image

#: The sizes a gallery may offer, in their fixed order (largest first), with their labels.
SIZES = {"original": "Original", "high": f"High resolution ({LARGE_SIZE} px)",
         "web": "Web (2048 px)"}
#: The same in a few words, as the panel's Activity shows a download's size.
SIZE_NAMES = {"original": "original", "high": "high-res", "web": "web size"}


def allowed_sizes(event: Event) -> list[str]:
    """The sizes this gallery's clients may pick from, in SIZES order (never empty)."""
    stored = set((event.download_sizes or "").split(","))
    return [size for size in SIZES if size in stored] or ["original"]


def sizes_value(sizes: list[str]) -> str:
    """What Event.download_sizes stores for `sizes`: known ones, in SIZES order."""
    return ",".join(size for size in SIZES if size in sizes)


def offered_size(event: Event, asked: str | None) -> str:
    """The size to serve: `asked` if the gallery offers it, else a refusal; none asked:
    the largest the gallery offers (one click when there is only one)."""
    allowed = allowed_sizes(event)
    if not asked:
        return allowed[0]
    if asked not in allowed:
        label = SIZES.get(asked, asked).split(" (")[0].lower()
        raise Forbidden(f"This gallery does not offer {label} downloads.")
    return asked


def _is_large(image: Image) -> bool:
    """The high-res size is a copy of its own only for photos larger than LARGE_SIZE."""
    return max(image.width, image.height) > LARGE_SIZE


def served_size(image: Image, size: str) -> str:
    """The size the file served for `size` really is ("high" of a small photo: the
    original as is), for the Download row."""
    return "original" if size == "high" and not _is_large(image) else size


def _make_large(media: MediaStore, images: list[Image]) -> None:
    """Render the missing high-res copies (a full decode each: run it in a thread)."""
    for image in images:
        path = media.variant_path("large", image.storage_key)
        if path.is_file():
            continue
        data = media.variant_path("original", image.storage_key).read_bytes()
        # Atomic: a download racing this one sees the whole file or none.
        media.write("large", media.derived_key(image.storage_key),
                    render_variant(data, LARGE_SIZE)[0])


async def prepare(media: MediaStore, images: list[Image],
                  sizes: Mapping[int, str] | str) -> None:
    """Make sure the files these downloads serve exist: photos processed before there was a
    high-res variant get theirs now, in a thread (never a decode on the event loop)."""
    wanted = [image for image in images if _is_large(image) and (
        sizes if isinstance(sizes, str) else sizes.get(image.id)) == "high"]
    if wanted:
        await asyncio.to_thread(_make_large, media, wanted)


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


def _served_file(media: MediaStore, image: Image, size: str) -> tuple[Path, str]:
    variant = {"web": "preview", "high": "large"}.get(served_size(image, size), "original")
    if variant == "original":
        return media.variant_path("original", image.storage_key), image.filename
    stem = image.filename.rsplit(".", 1)[0]
    return media.variant_path(variant, image.storage_key), f"{stem}.jpg"


def safe_name(name: str) -> str:
    return re.sub(r"[\\/\x00-\x1f]", "_", name).lstrip(".") or "image"


def single_image(session: Session, event: Event, image_id: int, *, pin_ok: bool) -> Image:
    """The image a single download serves, if the gallery allows it (a read)."""
    _require(event, "single", pin_ok)
    return gallery_image(session, event, image_id)


def single_file(media: MediaStore, event: Event, image: Image,
                size: str | None = None) -> FileDownload:
    """The file served for `image` (at `size`, else the gallery's largest): disk work, so
    outside any unit of work. A "high" one must be `prepare`d first."""
    path, name = _served_file(media, image, size or allowed_sizes(event)[0])
    if not path.is_file():
        raise NotFound("The file is missing on the server.")
    return FileDownload(path, safe_name(name), path.stat().st_size)


def record_single(session: Session, event: Event, guest: Guest, image_id: int,
                  file: FileDownload, size: str | None = None) -> None:
    """Log a single download (before its first byte leaves), with the size it served."""
    # Read again in this unit: the row must not point at an image deleted meanwhile.
    image = gallery_image(session, event, image_id)
    size = served_size(image, size or allowed_sizes(event)[0])
    session.add(
        Download(
            photographer_id=guest.photographer_id, event_id=event.id, contact_id=guest.contact_id,
            image_id=image.id, kind="single", scope="image", size=size,
            bytes=file.size, file_count=1, device_id=guest.device_id,
        )
    )
    activity.record(
        session, guest.photographer_id, "download_single", event_id=event.id,
        contact_id=guest.contact_id,
        payload={"image_id": image.id, "filename": image.filename,
                 "size": size,
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
    elif (chosen := image_sets.scope_set(session, event, scope)) is not None:
        query = query.where(Image.set_id == chosen.id)
    elif scope != "all":
        raise Invalid("Unknown download scope.")
    return list(session.scalars(query.order_by(Image.position, Image.id)))


def build_zip(media: MediaStore, event: Event, images: list[Image],
              sizes: Mapping[int, str] | str | None = None) -> ZipStream:
    """A stored (uncompressed: JPEGs don't shrink) ZIP whose size is known up front, of
    each image at its size in `sizes` (one size for all, or None: the gallery's largest).
    Stats every file: build it outside any unit of work, after `prepare`."""
    stream = ZipStream(sized=True)
    used: set[str] = set()
    default = sizes if isinstance(sizes, str) else allowed_sizes(event)[0]
    for image in images:
        size = default if sizes is None or isinstance(sizes, str) else sizes[image.id]
        path, name = _served_file(media, image, size)
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
        raise Invalid("You have no favorites to download yet." if scope == "favorites"
                      else "There is nothing to download yet.")
    return images


def record_bulk(session: Session, event: Event, guest: Guest, scope: str, files: int,
                size: int, file_size: str | None = None) -> None:
    """Log a ZIP download of `files` files, `size` bytes (before its first byte leaves),
    at the size `file_size` (None: the gallery's largest)."""
    file_size = file_size or allowed_sizes(event)[0]
    chosen = image_sets.scope_set(session, event, scope)  # a set's ZIP: which, by name
    in_set = {} if chosen is None else {"set_id": chosen.id, "set_name": chosen.name}
    scope = "set" if chosen is not None else scope
    session.add(
        Download(
            photographer_id=guest.photographer_id, event_id=event.id, contact_id=guest.contact_id,
            kind="bulk", scope=scope, size=file_size, bytes=size,
            file_count=files, device_id=guest.device_id,
        )
    )
    activity.record(
        session, guest.photographer_id, "download_bulk", event_id=event.id,
        contact_id=guest.contact_id,
        payload={"scope": scope, "files": files, "bytes": size, "size": file_size,
                 **in_set, **device_marks(guest)},
    )


def zip_name(event: Event, scope: str, label: str = "") -> str:
    """`label`: a set's name, for a set's ZIP."""
    title = safe_name(re.sub(r"[^\w\- ]+", "", event.title)).strip() or "gallery"
    suffix = {"favorites": " - favorites", "purchased": " - purchased"}.get(scope, "")
    if label and (part := re.sub(r"[^\w\- ]+", "", label).strip()):
        suffix = f" - {part}"
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
