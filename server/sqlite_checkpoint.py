"""The SQLite WAL checkpointer: copies committed pages back into the database file off the
writer's path.

Left to itself SQLite checkpoints inside whichever commit crosses 1000 WAL pages, and that
commit (with its fsync) stalls every write queued behind it — the slowest 1% of favorite
toggles under load were exactly those. The writer connection turns auto-checkpointing off;
this thread runs PASSIVE checkpoints, which never block readers or the writer.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

from sqlalchemy.engine import make_url

INTERVAL = 0.5  # seconds between checkpoints: the WAL stays a few hundred pages at most


class Checkpointer:
    def __init__(self, url: str, interval: float = INTERVAL) -> None:
        self.path = make_url(url).database
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        # Busy or locked: the next round catches up; the WAL only grows meanwhile.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                self.checkpoint(conn)
            self.checkpoint(conn)
        finally:
            conn.close()
