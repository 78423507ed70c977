"""Gallery sockets: what N open client gallery sockets cost a server while other clients act.

Starts a real Proofroom server (embedded default: SQLite + private Redis) with its loop
probe on (PROOFROOM_LOOP_PROBE=1, server/loop_probe.py), one photographer with one
dashboard socket and one released "school" gallery. Gates max(N) + ACTORS distinct visitors
on that gallery (concurrently, GATE_CONCURRENCY at a time). Then, for each N in --sockets
(default 0, 1,000 and 5,000, opened cumulatively in batches), N visitors hold a gallery
socket, as the gallery page does (web/static/js/gallery_live.js; the open socket is the
visitor's "viewing now" presence, which the server renews itself), while ACTORS other
visitors toggle a favorite about once a second each over HTTP (~100 actions/s). After a
warm-up under the same load it prints, per N: server CPU per action (all of the server's
threads and its embedded Redis, divided by the toggles), the dashboard's p99 (request
start → dashboard receipt), the p99 of GET /login sampled 10 times a second, the longest
event-loop stall and gc pause the probe logged, RSS per idle gallery socket (VmRSS
before/after opening the sockets) and how many visitors the dashboard's "viewing now"
lists (all N, if presence holds at that scale); then the figures against the targets of
issue #10. A step whose sockets are not all open within OPEN_WITHIN seconds (a server not
keeping up) is measured with those that are.

    python bench/gallery_sockets.py                          # N = 0, 1000, 5000; 12 s each
    python bench/gallery_sockets.py --sockets 0,2000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from live_latency import (
    CpuMeter,
    RawClient,
    Tracker,
    client_loop,
    cpu_seconds,
    free_port,
    listen,
    percentile,
    setup_photographer,
    start,
    wait_up,
)
from websockets.asyncio.client import connect

ACTORS = 100  # visitors toggling favorites, ~1/s each: ~100 actions/s
GATE_CONCURRENCY = 50
OPEN_BATCH = 100  # gallery sockets opened at once
GET_EVERY = 0.1  # seconds between two GET /login samples
WARMUP = 3.0
OPEN_WITHIN = 240.0  # seconds at most to open one step's sockets: then measure what is open
QUIET_WITHIN = 600.0  # seconds at most to wait for the server to settle after setup
PROBE = re.compile(r"loop-probe max_lag_ms=([\d.]+) max_busy_ms=([\d.]+) "
                   r"max_gc_ms=([\d.]+) max_gc_cpu_ms=([\d.]+) gc_gen=(-?\d+) "
                   r"collections=\d+ gc_cpu_total_ms=([\d.]+)")


@dataclass
class Visitor:
    email: str
    cookie: str
    csrf: str
    seq: int
    on: bool = False  # its favorite (actors)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def read_status(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


# ---- setup --------------------------------------------------------------------------

async def gate(base: str, transport: httpx.AsyncHTTPTransport, slug: str, n: int,
               limit: asyncio.Semaphore) -> Visitor:
    async with limit:
        # Its own cookie jar, the shared connection pool (a client per visitor is cheap then;
        # it is not closed, which would close the shared transport). The CSRF cookie is a
        # double-submit token its page load would have set: made here, saving a request.
        token = secrets.token_urlsafe(16)
        http = httpx.AsyncClient(base_url=base, transport=transport, timeout=120,
                                 trust_env=False, cookies={"pr_csrf": token})
        email = f"parent{n}@example.com"
        res = await http.post(f"/g/{slug}/gate", json={"email": email, "name": f"Parent {n}"},
                              headers={"X-CSRF-Token": token})
        assert res.status_code == 200, res.text
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        return Visitor(email, cookie, token, res.json()["seq"])


async def open_socket(base: str, slug: str, visitor: Visitor):
    ws = await connect(f"{base.replace('http', 'ws')}/ws/gallery/{slug}", ping_interval=None,
                       open_timeout=120, close_timeout=1,
                       additional_headers={"Cookie": visitor.cookie, "Origin": base})
    await ws.send(json.dumps({"last_seq": visitor.seq}))
    return ws


# ---- load ---------------------------------------------------------------------------

async def sample_get(base: str, start_at: float, until: float) -> list[float]:
    """GET /login (an unrelated page) every GET_EVERY s over a kept connection: ms each."""
    host, port = base.split("//", 1)[1].split(":")
    request = f"GET /login HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    times = []
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    try:
        while (began := time.perf_counter()) < until:
            writer.write(request)
            await read_status(reader)
            times.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(max(0.0, GET_EVERY - (time.perf_counter() - began)))
    finally:
        writer.close()
    return times


def probe_lines(log: Path, offset: int) -> list[tuple[float, ...]]:
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [tuple(map(float, found)) for found in PROBE.findall(text)]


async def measure(base: str, pid: int, log: Path, slug: str, actors: list[Visitor],
                  image_ids: list[int], panel: httpx.AsyncClient, n: int,
                  seconds: float) -> dict:
    tracker, stop = Tracker(), asyncio.Event()
    cookie = "; ".join(f"{k}={v}" for k, v in panel.cookies.items())
    page = (await panel.get("/panel")).text
    last_seq = int(page.split('data-last-seq="', 1)[1].split('"', 1)[0])
    dashboard = await connect(base.replace("http", "ws") + "/ws/panel",
                              additional_headers={"Cookie": cookie, "Origin": base})
    await dashboard.send(json.dumps({"last_seq": last_seq}))
    listener = asyncio.create_task(listen(dashboard, tracker, stop))
    await asyncio.sleep(0.5)
    tracker.measure_from = time.perf_counter() + WARMUP
    until = tracker.measure_from + seconds
    cpu = CpuMeter(pid)
    metering = asyncio.create_task(cpu.measure(tracker.measure_from, until))
    sampling = asyncio.create_task(sample_get(base, tracker.measure_from, until))
    offset = 0

    async def mark_log() -> None:
        nonlocal offset
        await asyncio.sleep(max(0.0, tracker.measure_from - time.perf_counter()))
        offset = log.stat().st_size

    marking = asyncio.create_task(mark_log())
    raws = [RawClient(base, v.cookie, {"X-CSRF-Token": v.csrf}) for v in actors]

    def flip(visitor: Visitor):  # from the state its last run left (a no-op push never comes)
        def body(_on: bool) -> dict:
            visitor.on = not visitor.on
            return {"on": visitor.on}
        return body

    await asyncio.gather(*(
        client_loop(raw, f"/g/{slug}/images/{image_ids[i % len(image_ids)]}/favorite",
                    flip(v), v.email, tracker, until)
        for i, (raw, v) in enumerate(zip(raws, actors, strict=True))))
    await metering
    await marking
    probes = probe_lines(log, offset)
    get_ms = await sampling
    for raw in raws:
        await raw.close()
    end = time.perf_counter() + 5
    while tracker.lost() and time.perf_counter() < end:
        await asyncio.sleep(0.05)
    stop.set()
    await listener
    await dashboard.close()
    viewing = (await panel.get("/panel/activity/viewing.json")).json()["total"]
    main_ms, total_ms = cpu.per_request_ms(tracker.sent)
    figures = {
        "n": n, "actions": tracker.sent, "rate": tracker.sent / seconds, "cpu": total_ms,
        "cpu_main": main_ms, "p99": percentile(tracker.latencies, 99),
        "p50": percentile(tracker.latencies, 50), "max": max(tracker.latencies or [0]),
        "lost": tracker.lost(), "get_p99": percentile(get_ms, 99),
        "get_p50": percentile(get_ms, 50), "gets": len(get_ms),
        "stall": max((p[0] for p in probes), default=float("nan")),
        "busy": max((p[1] for p in probes), default=float("nan")),
        "gc": max((p[2] for p in probes), default=float("nan")),
        "gc_cpu": max((p[3] for p in probes), default=float("nan")),
        # Each report covers REPORT_EVERY (2 s) of the window: gc's share of the loop's time.
        "gc_share": sum(p[5] for p in probes) / (20 * len(probes)) if probes else float("nan"),
        "gc_gen": int(max(probes, key=lambda p: p[2])[4]) if probes else -1,
        "probe_lines": len(probes), "viewing": viewing,
    }
    print(f"N={n:>5}: {figures['actions']} actions ({figures['rate']:.0f}/s), "
          f"lost {figures['lost']}; viewing now lists {viewing} visitors\n"
          f"         server CPU per action {total_ms:.2f} ms ({main_ms:.2f} ms on the event "
          f"loop's thread)\n"
          f"         dashboard p50 {figures['p50']:.1f} ms  p99 {figures['p99']:.1f} ms  "
          f"max {figures['max']:.1f} ms\n"
          f"         GET /login p50 {figures['get_p50']:.1f} ms  p99 "
          f"{figures['get_p99']:.1f} ms ({len(get_ms)} samples)\n"
          f"         longest loop stall {figures['stall']:.1f} ms (most loop-thread CPU in "
          f"one wake-up {figures['busy']:.1f} ms)\n"
          f"         longest gc {figures['gc']:.1f} ms (generation {figures['gc_gen']}; most "
          f"gc CPU {figures['gc_cpu']:.1f} ms; all gc {figures['gc_share']:.1f}% of the time; "
          f"{len(probes)} probe reports)", flush=True)
    return figures


# ---- the run ------------------------------------------------------------------------

async def run(base: str, pid: int, log: Path, counts: list[int], seconds: float) -> None:
    panel, slug = await setup_photographer(base, 0)
    page = (await panel.get(f"/g/{slug}")).text
    data = json.loads(page.split('id="gallery-data">', 1)[1].split("</script>", 1)[0])
    image_ids = [image["id"] for image in data["images"]]
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=GATE_CONCURRENCY))
    limit = asyncio.Semaphore(GATE_CONCURRENCY)
    began = time.perf_counter()
    visitors = await asyncio.gather(*(gate(base, transport, slug, n, limit)
                                      for n in range(max(counts) + ACTORS)))
    print(f"setup: gated {len(visitors)} visitors in {time.perf_counter() - began:.1f} s "
          f"({GATE_CONCURRENCY} at a time)", flush=True)
    actors, holders = visitors[:ACTORS], visitors[ACTORS:]
    # Each gate queued a confirmation email: measure nothing until the worker has sent
    # them (the server's CPU under 5% for 2 s).
    began = time.perf_counter()
    while time.perf_counter() - began < QUIET_WITHIN:
        before = sum(cpu_seconds(pid).values())
        await asyncio.sleep(2)
        if sum(cpu_seconds(pid).values()) - before < 0.1:
            break
    print(f"setup: server quiet (the gates' emails sent) after "
          f"{time.perf_counter() - began:.0f} s more", flush=True)
    sockets, results, per_socket = [], [], float("nan")
    tried = failed = 0
    rss_base = rss_mib(pid)
    for n in sorted(counts):
        if n > len(sockets):
            open_before, before, began = len(sockets), rss_mib(pid), time.perf_counter()
            for first in range(tried, n, OPEN_BATCH):
                if time.perf_counter() - began > OPEN_WITHIN:
                    print(f"gave up opening after {OPEN_WITHIN:.0f} s (the server is not "
                          f"keeping up): measuring with {len(sockets)} open", flush=True)
                    break
                batch = holders[first:min(n, first + OPEN_BATCH)]
                for opened in await asyncio.gather(*(open_socket(base, slug, v)
                                                     for v in batch), return_exceptions=True):
                    if isinstance(opened, BaseException):
                        failed += 1
                    else:
                        sockets.append(opened)
            tried, opened = n, time.perf_counter() - began
            await asyncio.sleep(2)  # their hellos answered, the server settled
            after = rss_mib(pid)
            batch_n = len(sockets) - open_before
            per_socket = (after - before) * 1024 / max(batch_n, 1)
            refused = sum(ws.close_code is not None for ws in sockets)
            print(f"opened {batch_n} gallery sockets ({len(sockets)} open) in {opened:.1f} s, "
                  f"{failed} failed to open, {refused} closed by the server; server RSS "
                  f"{before:.0f} -> {after:.0f} MiB: {per_socket:.1f} KiB per idle socket "
                  f"({(after - rss_base) * 1024 / max(len(sockets), 1):.1f} KiB each counted "
                  f"from {rss_base:.0f} MiB before any socket)", flush=True)
        open_now = sum(ws.close_code is None for ws in sockets)
        results.append(await measure(base, pid, log, slug, actors, image_ids, panel, open_now,
                                     seconds))
    for first in range(0, len(sockets), OPEN_BATCH):
        await asyncio.gather(*(ws.close() for ws in sockets[first:first + OPEN_BATCH]))
    await panel.aclose()
    summary(results, per_socket)


def summary(results: list[dict], per_socket_kib: float) -> None:
    low, high = results[0], results[-1]
    n = high["n"]
    print(f"\ntargets (issue #10), N={n} against N={low['n']}:")
    ratio = high["cpu"] / low["cpu"] if low["cpu"] else float("nan")
    print(f"  CPU per action {high['cpu']:.2f} / {low['cpu']:.2f} ms = {ratio:.2f}x "
          f"(target <= 1.5x): {'met' if ratio <= 1.5 else 'MISSED'}")
    for key, name, target in (("p99", "dashboard p99", 25), ("stall", "longest loop stall", 50),
                              ("get_p99", "GET /login p99", 10)):
        ok = high[key] <= target
        print(f"  {name} {high[key]:.1f} ms (target <= {target} ms): "
              f"{'met' if ok else 'MISSED'}")
    mib = per_socket_kib * 10_000 / 1024
    print(f"  10,000 idle gallery sockets ~ {mib:.0f} MiB (extrapolated from "
          f"{per_socket_kib:.1f} KiB each; target < 1 GiB): "
          f"{'met' if mib < 1024 else 'MISSED'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", default="0,1000,5000",
                        help="comma-separated N of open gallery sockets (opened cumulatively)")
    parser.add_argument("--seconds", type=float, default=12, help="measured seconds per N")
    args = parser.parse_args()
    counts = sorted({int(part) for part in args.sockets.split(",")})
    # 5,000 client sockets here and as many server ends there: both inherit this.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = Path(tempfile.mkdtemp(prefix="proofroom-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PROOFROOM_VAR": str(tmp / "var"), "SECRET_KEY": "bench",
           "BASE_URL": base, "PROOFROOM_LOOP_PROBE": "1",
           # Every bench visitor comes from 127.0.0.1 onto one gallery.
           "PROOFROOM_LIMIT_GATE_PER_ADDRESS": "1000000/60",
           "PROOFROOM_LIMIT_GATE_PER_GALLERY": "1000000/60",
           "PROOFROOM_LIMIT_SIGNUP_PER_ADDRESS": "100000/60",
           "PROOFROOM_LIMIT_SOCKETS_PER_ADDRESS": "1000000"}
    print(f"embedded default; N = {', '.join(map(str, counts))} gallery sockets, {ACTORS} "
          f"acting clients, {args.seconds:.0f} s measured per N after {WARMUP:.0f} s warm-up; "
          f"open files {hard}; logs in {tmp}",
          flush=True)
    log = tmp / "server.log"
    proc = start([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env, log)
    try:
        wait_up(base + "/login", proc)
        asyncio.run(run(base, proc.pid, log, counts, args.seconds))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
