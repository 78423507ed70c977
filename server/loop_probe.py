"""An opt-in event-loop lag probe for benchmarks (PROOFROOM_LOOP_PROBE=1; off by default).

A task sleeps INTERVAL in a loop and keeps the largest lateness of its wake-ups (anything
that held the loop: a long callback, a garbage collection, a thread holding the GIL, or the
OS not running the process at all), and the most CPU time the loop's thread spent within
one such wake-up interval (its own work: a stall of high lag but little busy time was the
machine, not the server); a gc callback keeps the longest collection (any thread's: a
collection holds the GIL), wall time and CPU time, and the CPU time of all collections.
Every REPORT_EVERY seconds it logs one line and starts over:

    loop-probe max_lag_ms=3.1 max_busy_ms=2.0 max_gc_ms=1.2 max_gc_cpu_ms=1.1 gc_gen=0 \
collections=41 gc_cpu_total_ms=9.8

bench/gallery_sockets.py reads these lines from the server's log.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time

log = logging.getLogger(__name__)

INTERVAL = 0.010  # seconds between two wake-ups
REPORT_EVERY = 2.0  # seconds between two log lines (each covers the time since the last)


class LoopProbe:
    def __init__(self) -> None:
        self.max_lag = 0.0
        self.max_busy = 0.0
        self.max_gc = 0.0
        self.max_gc_cpu = 0.0
        self.gc_cpu_total = 0.0
        self.max_gc_generation = -1
        self.collections = 0
        self._gc_started: tuple[float, float] | None = None

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter(), time.thread_time()
        elif self._gc_started is not None:
            took = time.perf_counter() - self._gc_started[0]
            cpu = time.thread_time() - self._gc_started[1]
            self.max_gc_cpu = max(self.max_gc_cpu, cpu)
            self.gc_cpu_total += cpu
            self._gc_started = None
            self.collections += 1
            if took > self.max_gc:
                self.max_gc, self.max_gc_generation = took, info.get("generation", -1)

    def report(self) -> None:
        log.info("loop-probe max_lag_ms=%.1f max_busy_ms=%.1f max_gc_ms=%.1f "
                 "max_gc_cpu_ms=%.1f gc_gen=%d collections=%d gc_cpu_total_ms=%.1f",
                 self.max_lag * 1000, self.max_busy * 1000, self.max_gc * 1000,
                 self.max_gc_cpu * 1000, self.max_gc_generation, self.collections,
                 self.gc_cpu_total * 1000)
        self.max_lag = self.max_busy = self.max_gc = self.max_gc_cpu = self.gc_cpu_total = 0.0
        self.max_gc_generation, self.collections = -1, 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        gc.callbacks.append(self.on_gc)
        try:
            reported = loop.time()
            while True:
                before, cpu = loop.time(), time.thread_time()
                await asyncio.sleep(INTERVAL)
                now = loop.time()
                self.max_lag = max(self.max_lag, now - before - INTERVAL)
                self.max_busy = max(self.max_busy, time.thread_time() - cpu)
                if now - reported >= REPORT_EVERY:
                    self.report()
                    reported = now
        finally:
            gc.callbacks.remove(self.on_gc)


def start_if_enabled(env: dict[str, str] | None = None) -> asyncio.Task | None:
    """The probe's task when PROOFROOM_LOOP_PROBE=1, else None (nothing runs)."""
    if (os.environ if env is None else env).get("PROOFROOM_LOOP_PROBE") != "1":
        return None
    return asyncio.create_task(LoopProbe().run(), name="loop-probe")
