"""Where image files live under the media root. Paths come from storage keys we generated,
never from a client's file name, and every path is checked to stay inside the root."""

from __future__ import annotations

import contextlib
from pathlib import Path

from .errors import NotFound

VARIANTS = ("original", "thumb", "preview")
THUMB_SIZE = 400
PREVIEW_SIZE = 2048


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
        """Thumbnails and previews are always JPEG, whatever the original was."""
        return storage_key.rsplit(".", 1)[0] + ".jpg"

    def variant_path(self, variant: str, storage_key: str) -> Path:
        key = storage_key if variant == "original" else self.derived_key(storage_key)
        return self.path(variant, key)

    def write(self, variant: str, storage_key: str, data: bytes) -> Path:
        path = self.path(variant, storage_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def remove(self, storage_key: str) -> None:
        for variant in VARIANTS:
            with contextlib.suppress(NotFound):
                self.variant_path(variant, storage_key).unlink(missing_ok=True)
