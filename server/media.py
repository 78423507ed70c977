"""Where image files live under the media root. Paths come from storage keys we generated,
never from a client's file name, and every path is checked to stay inside the root."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from .errors import NotFound

#: "large": the high-res download (server/downloads.py), only for photos larger than it.
VARIANTS = ("original", "thumb", "preview", "large")
THUMB_SIZE = 400
PREVIEW_SIZE = 2048
LARGE_SIZE = 3600


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path(self, variant: str, storage_key: str) -> Path:
        if variant not in VARIANTS or not storage_key.replace("-", "").replace(".", "").isalnum():
            raise NotFound()
        shard = storage_key[:2]
        path = (self.root / variant / shard / storage_key).resolve()
        if not path.is_relative_to(self.root):
            raise NotFound()
        return path

    def derived_key(self, storage_key: str) -> str:
        """Thumbnails, previews and large copies are always JPEG, whatever the original was."""
        return storage_key.rsplit(".", 1)[0] + ".jpg"

    def variant_path(self, variant: str, storage_key: str) -> Path:
        key = storage_key if variant == "original" else self.derived_key(storage_key)
        return self.path(variant, key)

    def write(self, variant: str, storage_key: str, data: bytes) -> Path:
        return self.write_marked(self.path(variant, storage_key), data)

    def write_marked(self, path: Path, data: bytes) -> Path:
        """Write whole or not at all: a reader never sees half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + f".{secrets.token_hex(4)}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def marked_path(self, variant: str, storage_key: str, mark_key: str) -> Path:
        """Where the watermarked copy of a thumbnail or preview lives (server/watermark.py):
        under marked/<the mark's key>/, so new settings make new copies."""
        if variant not in ("thumb", "preview") or not mark_key.isalnum():
            raise NotFound()
        derived = self.variant_path(variant, storage_key).relative_to(self.root)
        return self.root / "marked" / mark_key / derived

    def remove(self, storage_key: str) -> None:
        for variant in VARIANTS:
            with contextlib.suppress(NotFound):
                self.variant_path(variant, storage_key).unlink(missing_ok=True)
        derived = self.derived_key(storage_key)
        for marked in self.root.glob(f"marked/*/*/{derived[:2]}/{derived}"):
            marked.unlink(missing_ok=True)
