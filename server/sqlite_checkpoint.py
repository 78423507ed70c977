"""The SQLite WAL checkpointer: copies committed pages back into the database file off the
writer's path.

Left to itself SQLite checkpoints inside whichever commit crosses 1000 WAL pages, and that
commit (with its fsync) stalls every write queued behind it — the slowest 1% of favorite
toggles under load were exactly those. The writer connection turns auto-checkpointing off;
this thread runs PASSIVE checkpoints, which never block readers or the writer.

So nothing else checkpoints: a checkpoint that fails (a disk error, a damaged file) lets the
WAL grow without bound, and every reader slows down with it. Such a failure is logged (once
when it starts, then at most every REPEAT_LOG seconds while it lasts, and once more when
checkpoints succeed again) and the thread carries on: the next round may well succeed.
Busy, another checkpoint running (a backup's), is no failure: the next round catches up.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sqlalchemy.engine import make_url

from .sqlite_writer import is_busy

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between checkpoints: the WAL stays a few hundred pages at most
REPEAT_LOG = 60.0  # seconds between two reports of the same run of failures


class Checkpointer:
    def __init__(self, url: str, interval: float = INTERVAL) -> None:
        self.path = make_url(url).database
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                        daemon=True)
        self._failures = 0  # in a row
        self._reported_at = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint. Raises on failure, except when busy."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            if not is_busy(exc):
                raise
            log.debug("SQLite checkpoint skipped, busy: %s", exc)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                stopping = self._stop.wait(self.interval)  # and one last round at stop
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, isolation_level=None,
                                               check_same_thread=False)
                    self.checkpoint(conn)
                except Exception as exc:  # logged, and the thread goes on
                    self._failed(exc)
                    if conn is not None:  # a fresh connection next round, in case it is
                        conn.close()      # this one that is broken
                        conn = None
                else:
                    self._succeeded()
                if stopping:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._failures == 1 or now - self._reported_at >= REPEAT_LOG:
            self._reported_at = now
            log.error("SQLite WAL checkpoint of %s failed (%d in a row); the WAL grows "
                      "until one succeeds: %s", self.path, self._failures, exc, exc_info=exc)

    def _succeeded(self) -> None:
        if self._failures:
            log.warning("SQLite WAL checkpoint of %s succeeded again after %d failures",
                        self.path, self._failures)
            self._failures = 0
