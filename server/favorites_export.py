"""Favorites as lists for photo-editing software, and as CSV.

Lightroom's Library filter takes `IMG_001, IMG_002` (names without extension); Capture
One's search and Finder/Explorer each have their own form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

FORMATS = {
    "lightroom": "Lightroom (Library filter)",
    "captureone": "Capture One",
    "finder": "Finder / Explorer search",
    "csv": "CSV (spreadsheet)",
}


@dataclass
class FavoriteLine:
    filename: str
    note: str
    favorited_at: datetime
    set_name: str = ""  # the photo's set (server/image_sets.py), "" for none


def stem(filename: str) -> str:
    return filename.rsplit(".", 1)[0] if "." in filename.strip(".") else filename


def render(fmt: str, favorites: Sequence[FavoriteLine]) -> str:
    names = [f.filename for f in favorites]
    if fmt == "lightroom":
        return ", ".join(stem(n) for n in names)
    if fmt == "captureone":
        return " | ".join(stem(n) for n in names)
    if fmt == "finder":
        return " OR ".join(names)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        # A set column only for a gallery in sets: the sheet stays as it was otherwise.
        sets = any(f.set_name for f in favorites)
        writer.writerow(["file_name", "client_note", "favorited_at", *(["set"] if sets else [])])
        for f in favorites:
            writer.writerow([_safe_cell(f.filename), _safe_cell(f.note),
                             f.favorited_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                             *([_safe_cell(f.set_name)] if sets else [])])
        return out.getvalue()
    raise ValueError(f"unknown export format {fmt!r}")


def _safe_cell(value: str) -> str:
    # A cell starting with = + - @ runs as a formula in spreadsheets: defuse it.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def extension(fmt: str) -> str:
    return "csv" if fmt == "csv" else "txt"
