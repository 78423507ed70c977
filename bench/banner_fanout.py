"""Banner fan-out: a banner step's start time → the banner visible in N open gallery pages.

Starts a real Proofroom server (embedded default: SQLite + private Redis, in-process
worker; or --backend postgres: PostgreSQL at --pg, a private redis-server, an external
worker), one photographer with one released gallery, and gates max(N) visitors on it
(bench/gallery_sockets.py's helpers). Through the photographer's own routes it makes a
workflow (Clients → Gallery Workflows), picks it for the gallery (the gallery editor's
Workflow fieldset), and sets the studio's time zone to UTC. Then, for each N in --sockets
(default 1 and 1,000, opened cumulatively), N visitors hold a gallery socket as the page
does (gallery_live.js: hello {"last_seq"}), the photographer adds a banner step shown from
"a date and time" T (the editor's minute resolution: the first whole minute at least
--lead seconds ahead), and each page, as banners.js does, shows the list a banners message
carries (the same for every visitor), or else GETs /g/{slug}/banners.json with its
visitor's cookies. Per page it records
t_msg (the first banners message at or after T − 1 s: the step's save pushes one well
before T, a re-plan) and t_visible (the first answer listing the new step) and prints
p50/p99/max of t_msg − T and t_visible − T, and how many pages had neither within
--deadline seconds of T. T is UTC wall time; client and server share the machine's clock.

References from the same run: the idle GET banners.json latency and server CPU (one
visitor, sequential, before any socket is open) and the N=1 round. To tell the bench
client's share of a figure from the server's, each round also prints the server's and the
client's CPU over the window and the client event loop's longest lag (a 10 ms ticker):
every fetch shares that loop with the sockets' reads, so a busy client delays the
timestamps it takes. --fetch-concurrency K
bounds the pages' simultaneous fetches (0: all at once, as N browsers would).

    python bench/banner_fanout.py                           # N = 1, 1000; embedded default
    python bench/banner_fanout.py --sockets 1,1000 --backend postgres
    python bench/banner_fanout.py --fetch-concurrency 50    # client bounded to 50 fetches
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from gallery_sockets import (
    GATE_CONCURRENCY,
    OPEN_BATCH,
    QUIET_WITHIN,
    Visitor,
    gate,
    open_socket,
    read_status,
)
from live_latency import cpu_seconds, free_port, percentile, setup_photographer, start, wait_up

DEADLINE = 60.0  # seconds after T at most to wait for every page to show the banner
LEAD = 30.0  # seconds at least from the step's save to its start: its own push's fetches done
EARLY = 1.0  # a banners message this long before T still counts as the start's
IDLE_GETS = 50
TICK = 0.01  # the client loop lag probe's period


@dataclass
class Page:
    """One open gallery page: its socket, when banners messages came, when it saw which
    step (the first banners.json answer listing it)."""

    visitor: Visitor
    ws: object
    pushes: list[float] = field(default_factory=list)
    seen: dict[int, float] = field(default_factory=dict)


class Fetcher:
    """GET banners.json as a page does, over a fresh connection (the keep-alive one of an
    earlier fetch has timed out by then), optionally at most `limit` at once."""

    def __init__(self, base: str, slug: str, limit: int) -> None:
        self.host, port = base.split("//", 1)[1].split(":")
        self.port, self.slug = int(port), slug
        self.limit = asyncio.Semaphore(limit) if limit else None
        self.in_flight = self.failed = 0

    async def get(self, cookie: str) -> list[int]:
        """The ids of the banners the answer lists."""
        request = (
            f"GET /g/{self.slug}/banners.json HTTP/1.1\r\nHost: {self.host}:"
            f"{self.port}\r\nAccept: application/json\r\nCookie: {cookie}\r\n"
            f"Connection: close\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(request)
            status, body = await read_status(reader)
        finally:
            writer.close()
        if status != 200:
            raise RuntimeError(f"banners.json answered {status}")
        return [b["id"] for b in json.loads(body)["banners"]]

    async def fetch(self, page: Page) -> None:
        self.in_flight += 1
        try:
            if self.limit is None:
                ids = await self.get(page.visitor.cookie)
            else:
                async with self.limit:
                    ids = await self.get(page.visitor.cookie)
        except (OSError, RuntimeError, ValueError, asyncio.IncompleteReadError):
            self.failed += 1
            return
        finally:
            self.in_flight -= 1
        now = time.time()
        for step_id in ids:
            page.seen.setdefault(step_id, now)


async def follow(page: Page, fetcher: Fetcher, tasks: set) -> None:
    """The page's socket: on each banners message, note its arrival; a message that
    carries the list (the same for every visitor) is shown as it is, as banners.js does,
    else the page fetches its own (banners.js applies the newest answer of overlapping
    fetches; each one is timed here)."""
    async for raw in page.ws:
        message = json.loads(raw)
        if message.get("type") != "banners":
            continue
        now = time.time()
        page.pushes.append(now)
        if isinstance(message.get("banners"), list):
            for banner in message["banners"]:
                page.seen.setdefault(banner["id"], now)
            continue
        task = asyncio.create_task(fetcher.fetch(page))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def loop_lag(stop: asyncio.Event) -> float:
    """The client loop's longest lateness waking from a TICK sleep, in ms."""
    worst = 0.0
    while not stop.is_set():
        began = time.perf_counter()
        await asyncio.sleep(TICK)
        worst = max(worst, time.perf_counter() - began - TICK)
    return worst * 1000


# ---- the photographer's side, through the panel's routes -------------------------------


def form_token(page: str) -> str:
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


async def attach_workflow(panel: httpx.AsyncClient) -> tuple[int, str]:
    """A workflow of the studio's own, picked for its (only) gallery; the studio's time
    zone UTC so the step's date and time is T in UTC. The workflow's id and the token."""
    home = (await panel.get("/panel")).text
    token = form_token(home)
    event_id = int(re.search(r"/panel/events/(\d+)", home).group(1))
    res = await panel.post(
        "/panel/workflows/sending-rules",
        data={"timezone": "UTC", "send_time": "09:00", "csrf_token": token},
    )
    assert res.status_code == 303, res.text
    types = re.findall(r'<option value="(\d+)"', (await panel.get("/panel/workflows/new")).text)
    if not types:
        res = await panel.post(
            "/panel/settings/gallery-types", data={"name": "Bench", "csrf_token": token}
        )
        types = re.findall(r'<option value="(\d+)"', (await panel.get("/panel/workflows/new")).text)
    res = await panel.post(
        "/panel/workflows/new",
        data={
            "name": "Bench banners",
            "gallery_type_id": types[0],
            "active": "on",
            "csrf_token": token,
        },
    )
    assert res.status_code == 303, res.text
    workflow_id = int(re.search(r"/panel/workflows/(\d+)", res.headers["location"]).group(1))
    title = re.search(
        r'name="title"[^>]*value="([^"]*)"',
        (await panel.get(f"/panel/events/{event_id}/edit")).text,
    ).group(1)
    res = await panel.post(
        f"/panel/events/{event_id}/edit",
        data={
            "title": title,
            "download_single": "on",
            "workflow_mode": "pick",
            "workflow_id": str(workflow_id),
            "csrf_token": token,
        },
    )
    assert res.status_code == 303, res.text
    return workflow_id, token


def step_ids(page: str) -> set[int]:
    return {int(found) for found in re.findall(r'data-step-id="(\d+)"', page)}


async def add_banner(
    panel: httpx.AsyncClient, workflow_id: int, token: str, lead: float, n: int
) -> tuple[int, datetime, float]:
    """A banner step from the first whole minute at least `lead` s ahead, as the step
    editor posts it: its id, T, and when the save answered."""
    url = f"/panel/workflows/{workflow_id}"
    before = step_ids((await panel.get(url)).text)
    at = datetime.now(UTC) + timedelta(seconds=lead)
    at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    res = await panel.post(
        f"{url}/steps/new",
        data={
            "kind": "banner",
            "name": f"Bench banner {n}",
            "anchor": "date",
            "at_local": at.strftime("%Y-%m-%dT%H:%M"),
            "audience": "visitors",
            "headline": f"Order by Friday ({n})",
            "text": "Delivery before Christmas.",
            "style": "notice",
            "position": "top",
            "dismissible": "on",
            "csrf_token": token,
        },
    )
    assert res.status_code == 303, res.text
    saved = time.time()
    (step_id,) = step_ids((await panel.get(url)).text) - before
    return step_id, at, saved


# ---- measuring ----------------------------------------------------------------------------


async def idle_gets(fetcher: Fetcher, visitor: Visitor) -> list[float]:
    times = []
    for _ in range(IDLE_GETS):
        began = time.perf_counter()
        await fetcher.get(visitor.cookie)
        times.append((time.perf_counter() - began) * 1000)
    return times


def spread(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms  "
        f"max {max(values):7.1f} ms"
    )


def server_cpu(pids: list[int]) -> float:
    return sum(sum(cpu_seconds(pid).values()) for pid in pids)


async def settle(pids: list[int]) -> None:
    """Each gate queued a confirmation email: measure nothing until the worker has sent
    them (the server's CPU under 5% for 2 s)."""
    began = time.perf_counter()
    while time.perf_counter() - began < QUIET_WITHIN:
        before = server_cpu(pids)
        await asyncio.sleep(2)
        if server_cpu(pids) - before < 0.1:
            break
    print(f"setup: server quiet after {time.perf_counter() - began:.0f} s", flush=True)


async def round_(
    pages: list[Page],
    panel: httpx.AsyncClient,
    fetcher: Fetcher,
    workflow_id: int,
    token: str,
    pids: list[int],
    lead: float,
    deadline: float,
) -> dict:
    """One banner step due at T and what every open page saw of it."""
    step_id, at, saved = await add_banner(panel, workflow_id, token, lead, len(pages))
    due = at.timestamp()
    if saved > due - 5:
        print(
            f"  the save answered {saved - due:+.1f} s from T: the save's own push may "
            f"mix with the start's",
            flush=True,
        )
    await asyncio.sleep(max(0.0, due - 1 - time.time()))
    in_flight_at_t = fetcher.in_flight  # the save's push fetches still running
    stop = asyncio.Event()
    lag = asyncio.create_task(loop_lag(stop))
    cpu_before, client_before = server_cpu(pids), time.process_time()
    end = due + deadline
    while time.time() < end and not all(step_id in p.seen for p in pages):
        await asyncio.sleep(0.05)
    stop.set()
    window = time.time() - (due - 1)
    server, client = server_cpu(pids) - cpu_before, time.process_time() - client_before
    msg = [
        (min(t for t in p.pushes if t >= due - EARLY) - due) * 1000
        for p in pages
        if any(t >= due - EARLY for t in p.pushes)
    ]
    visible = [(p.seen[step_id] - due) * 1000 for p in pages if step_id in p.seen]
    figures = {
        "n": len(pages),
        "msg": msg,
        "visible": visible,
        "lag": await lag,
        "server_cpu": server,
        "client_cpu": client,
        "window": window,
    }
    print(
        f"N={len(pages):>5}: T {at:%H:%M:%S} UTC (step {step_id}, saved "
        f"{due - saved:.0f} s before; {in_flight_at_t} fetches of the save's push "
        f"still running at T − 1 s)\n"
        f"         T → banners message  {spread(msg)}   missing {len(pages) - len(msg)}\n"
        f"         T → banner visible   {spread(visible)}   missing "
        f"{len(pages) - len(visible)} (after {deadline:.0f} s; {fetcher.failed} fetches "
        f"failed so far)\n"
        f"         over the {window:.1f} s window: server CPU {server:.2f} s "
        f"({server * 1000 / len(pages):.1f} ms per page), bench "
        f"client CPU {client:.2f} s, client loop's longest lag {figures['lag']:.0f} ms",
        flush=True,
    )
    return figures


async def run(
    base: str, pids: list[int], counts: list[int], lead: float, deadline: float, fetch_limit: int
) -> None:
    panel, slug, _ = await setup_photographer(base, 0)
    workflow_id, token = await attach_workflow(panel)
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=GATE_CONCURRENCY))
    limit = asyncio.Semaphore(GATE_CONCURRENCY)
    began = time.perf_counter()
    visitors = await asyncio.gather(
        *(gate(base, transport, slug, n, limit) for n in range(max(counts)))
    )
    print(
        f"setup: gated {len(visitors)} visitors in {time.perf_counter() - began:.1f} s", flush=True
    )
    fetcher = Fetcher(base, slug, fetch_limit)
    await settle(pids)
    cpu_before = server_cpu(pids)
    idle = await idle_gets(fetcher, visitors[0])
    per_get = (server_cpu(pids) - cpu_before) * 1000 / IDLE_GETS
    print(
        f"idle GET banners.json, 1 visitor, {IDLE_GETS} in a row: {spread(idle)}; "
        f"server CPU {per_get:.1f} ms each",
        flush=True,
    )
    pages: list[Page] = []
    tasks: set = set()
    followers = []
    results = []
    for n in counts:
        began, failed = time.perf_counter(), 0
        for first in range(len(pages), n, OPEN_BATCH):
            batch = visitors[first : min(n, first + OPEN_BATCH)]
            for visitor, ws in zip(
                batch,
                await asyncio.gather(
                    *(open_socket(base, slug, v) for v in batch), return_exceptions=True
                ),
                strict=True,
            ):
                if isinstance(ws, BaseException):
                    failed += 1
                    continue
                pages.append(Page(visitor, ws))
                followers.append(asyncio.create_task(follow(pages[-1], fetcher, tasks)))
        print(
            f"opened gallery sockets: {len(pages)} open ({failed} failed) in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )
        await asyncio.sleep(2)  # hellos answered
        results.append(
            await round_(pages, panel, fetcher, workflow_id, token, pids, lead, deadline)
        )
    for first in range(0, len(pages), OPEN_BATCH):
        await asyncio.gather(*(p.ws.close() for p in pages[first : first + OPEN_BATCH]))
    await asyncio.gather(*followers, return_exceptions=True)
    await panel.aclose()
    summary(idle, results)


def summary(idle: list[float], results: list[dict]) -> None:
    high = results[-1]
    print(
        f"\nbanner start due → visible in {high['n']} open gallery sockets: "
        f"p50 {percentile(high['visible'], 50):.0f} ms, p99 "
        f"{percentile(high['visible'], 99):.0f} ms (message p50 "
        f"{percentile(high['msg'], 50):.0f} ms, p99 {percentile(high['msg'], 99):.0f} ms); "
        f"{high['n'] - len(high['visible'])} never saw it",
        flush=True,
    )
    for low in results[:-1]:
        print(
            f"  reference N={low['n']}: visible p50 {percentile(low['visible'], 50):.0f} "
            f"ms, p99 {percentile(low['visible'], 99):.0f} ms",
            flush=True,
        )
    print(
        f"  reference idle GET banners.json: p50 {percentile(idle, 50):.1f} ms, "
        f"p99 {percentile(idle, 99):.1f} ms",
        flush=True,
    )


# ---- the servers ----------------------------------------------------------------------


def private_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server of the bench's own (the shared one may be in another's tests)."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"redis://127.0.0.1:{port}/0"


async def pg_admin(pg: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{pg}/test")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sockets",
        default="1,1000",
        help="comma-separated N of open gallery sockets (opened cumulatively)",
    )
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--lead",
        type=float,
        default=LEAD,
        help="seconds at least from the step's save to its start",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=DEADLINE,
        help="seconds after T a page may take to show the banner",
    )
    parser.add_argument(
        "--fetch-concurrency",
        type=int,
        default=0,
        help="the pages' simultaneous banners.json fetches (0: unbounded)",
    )
    args = parser.parse_args()
    counts = sorted({int(part) for part in args.sockets.split(",")})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = Path(tempfile.mkdtemp(prefix="proofroom-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PROOFROOM_VAR": str(tmp / "var"),
        "SECRET_KEY": "bench",
        "BASE_URL": base,
        # Every bench visitor comes from 127.0.0.1 onto one gallery.
        "PROOFROOM_LIMIT_GATE_PER_ADDRESS": "1000000/60",
        "PROOFROOM_LIMIT_GATE_PER_GALLERY": "1000000/60",
        "PROOFROOM_LIMIT_SIGNUP_PER_ADDRESS": "100000/60",
        "PROOFROOM_LIMIT_SOCKETS_PER_ADDRESS": "1000000",
    }
    procs: list[subprocess.Popen] = []
    pids: list[int] = []  # whose CPU is the server's: with postgres, its Redis and worker too
    database = None
    if args.backend == "postgres":
        database = f"proofroom_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(pg_admin(args.pg, f'CREATE DATABASE "{database}"'))
        redis_proc, redis_url = private_redis(tmp / "redis")
        procs.append(redis_proc)
        pids.append(redis_proc.pid)
        env.update(
            DATABASE_URL=f"{args.pg}/{database}", REDIS_URL=redis_url, PROOFROOM_WORKER="external"
        )
    print(
        f"backend: {args.backend}; N = {', '.join(map(str, counts))} gallery sockets; "
        f"fetch concurrency {args.fetch_concurrency or 'unbounded'}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; logs in {tmp}",
        flush=True,
    )
    try:
        if database:
            time.sleep(0.5)  # the private redis-server listening
        procs.append(
            start(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
                env,
                tmp / "server.log",
            )
        )
        wait_up(base + "/login", procs[-1])
        pids.append(procs[-1].pid)
        if database:
            procs.append(
                start([sys.executable, "-m", "server.cli", "worker"], env, tmp / "worker.log")
            )
            pids.append(procs[-1].pid)
        asyncio.run(run(base, pids, counts, args.lead, args.deadline, args.fetch_concurrency))
        print(f"load average after: {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)
        if database:
            asyncio.run(pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
