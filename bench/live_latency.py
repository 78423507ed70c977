"""Live latency: client HTTP request → photographer's dashboard WebSocket.

Starts a real Proofroom server (embedded default, or --backend postgres), 10 photographers
each with one dashboard socket and a released gallery, and 200 gallery clients spread over
the galleries, each toggling a favorite about once a second over HTTP for --seconds. Prints
p50/p99/max latency from the start of each client's request to the dashboard's receipt of
that event, and how many events were lost (after a 3 s warm-up under the same load). Then
runs the same load against the floor (bench/floor_app.py: bare Starlette broadcasting from
memory) in the same run.

    python bench/live_latency.py                       # embedded default, 30 s
    python bench/live_latency.py --backend postgres    # PostgreSQL + Redis at 127.0.0.1
    python bench/live_latency.py --flat-out 20,50,100  # then N clients as fast as they can
    python bench/live_latency.py --action cart         # cart changes → SAVED CART row

`--action cart`: each client changes a cart line's quantity instead of toggling a favorite
(the studios sell from a starter price list); measured to the dashboard's receipt of the
`cart_updated` event that moves the Activity report's SAVED CART cell.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Hashable
from pathlib import Path

import httpx
from PIL import Image
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
PHOTOGRAPHERS, CLIENTS = 10, 200
WARMUP = 3.0  # seconds of the same load before measuring (connection pools, caches)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url}")


def _stat(path: Path) -> tuple[str, list[str]] | None:
    try:
        stat = path.read_text()
    except OSError:
        return None  # it ended
    return stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time (user + system) so far of each thread of a process and of its child
    processes (the embedded Redis), from /proc: a figure per request that machine noise
    moves far less than a latency tail."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (found := _stat(task / "stat")) is not None:
            name, fields = found
            key = "main" if task.name == str(pid) else f"{name}/{task.name}"
            totals[key] += (int(fields[11]) + int(fields[12])) / ticks
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (found := _stat(proc / "stat")) is not None:
            name, fields = found
            if fields[1] == str(pid):  # its parent is the server
                totals[f"{name}/{proc.name}"] += (int(fields[11]) + int(fields[12])) / ticks
    return totals


class CpuMeter:
    """The server's CPU per request over the measured window, main thread and the rest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before: dict[str, float] = {}
        self.after: dict[str, float] = {}

    async def measure(self, start: float, end: float) -> None:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        self.before = cpu_seconds(self.pid)
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        self.after = cpu_seconds(self.pid)

    def per_request_ms(self, requests: int) -> tuple[float, float]:
        main = self.after.get("main", 0) - self.before.get("main", 0)
        total = sum(value - self.before.get(key, 0) for key, value in self.after.items())
        return main * 1000 / max(requests, 1), total * 1000 / max(requests, 1)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class RawClient:
    """A minimal keep-alive HTTP/1.1 JSON POST client. httpx costs ~1 ms of CPU a request,
    which on a 2-core machine would measure the load generator instead of the server."""

    def __init__(self, base: str, cookies: str = "", headers: dict | None = None) -> None:
        self.host, self.port = base.split("//", 1)[1].split(":")
        self.port = int(self.port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.head = (f"Host: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                     f"Accept: application/json\r\n{extra}"
                     + (f"Cookie: {cookies}\r\n" if cookies else ""))
        self.reader = self.writer = None

    async def post(self, path: str, payload: dict) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps(payload).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}"
                          f"\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Tracker:
    """Matches each toggle to its push: per contact, pushes arrive in request order."""

    def __init__(self) -> None:
        self.pending: dict[int, deque] = defaultdict(deque)
        self.latencies: list[float] = []
        self.request_ms: list[float] = []
        self.measure_from = 0.0  # warm-up requests before this are delivered, not measured
        self.sent = 0
        self.received = 0

    def started(self, contact_id: Hashable) -> float:
        t = time.perf_counter()
        self.pending[contact_id].append(t)
        return t

    def failed(self, contact_id: Hashable, t: float) -> None:
        self.pending[contact_id].remove(t)

    def arrived(self, contact_id: Hashable) -> None:
        now = time.perf_counter()
        queue = self.pending.get(contact_id)
        if queue:
            began = queue.popleft()
            if began >= self.measure_from:
                self.latencies.append((now - began) * 1000)
            self.received += 1

    def lost(self) -> int:
        return sum(len(q) for q in self.pending.values())


KIND_PREFIX = {"favorite": "favorite", "cart": "cart_updated"}


async def listen(ws, tracker: Tracker, stop: asyncio.Event, prefix: str = "favorite") -> None:
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            continue
        message = json.loads(raw)
        if message.get("type") == "activity" and message["kind"].startswith(prefix):
            # Proofroom's pushes name the client by email (the gate no longer tells a
            # browser its contact id); the floor echoes the number the client sent.
            tracker.arrived(message.get("contact_email") or message["contact_id"])


async def client_loop(http: RawClient, url: str, body_for, contact_id: Hashable,
                      tracker: Tracker, until: float, paced: bool = True) -> None:
    if paced:
        await asyncio.sleep(random.random())  # spread the clients over the second
    on = True
    while time.perf_counter() < until:
        began = tracker.started(contact_id)
        try:
            ok = await http.post(url, body_for(on)) == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
            http.writer = None
        measured = began >= tracker.measure_from
        if ok:
            tracker.sent += measured
        else:
            tracker.failed(contact_id, began)
        if measured:
            tracker.request_ms.append((time.perf_counter() - began) * 1000)
        on = not on
        if paced:
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))


async def drain(tracker: Tracker, seconds: float = 5.0) -> None:
    end = time.perf_counter() + seconds
    while tracker.lost() and time.perf_counter() < end:
        await asyncio.sleep(0.05)


def report(name: str, tracker: Tracker, seconds: float, cpu: CpuMeter) -> dict:
    lat = tracker.latencies
    figures = {
        "name": name, "requests": tracker.sent, "rate": tracker.sent / seconds,
        "p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat or [0]),
        "mean": statistics.fmean(lat) if lat else float("nan"), "lost": tracker.lost(),
    }
    print(f"{name:>24}: {figures['requests']} toggles ({figures['rate']:.0f}/s)  "
          f"p50 {figures['p50']:.1f} ms  p99 {figures['p99']:.1f} ms  "
          f"max {figures['max']:.1f} ms  lost {figures['lost']}  "
          f"(HTTP alone: p50 {percentile(tracker.request_ms, 50):.1f} ms, "
          f"p99 {percentile(tracker.request_ms, 99):.1f} ms)", flush=True)
    main, total = cpu.per_request_ms(tracker.sent)
    figures.update(cpu_main=main, cpu_total=total)
    print(f"{'':>24}  server CPU per toggle: {total:.2f} ms ({main:.2f} ms on the event "
          f"loop's thread; the rest: other threads, embedded Redis)", flush=True)
    return figures


# ---- Proofroom ----------------------------------------------------------------------

def small_jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (seed * 37 % 255, 120, 180)).save(out, "JPEG")
    return out.getvalue()


async def csrf(http: httpx.AsyncClient) -> str:
    if "pr_csrf" not in http.cookies:
        await http.get("/login")
    return http.cookies["pr_csrf"]


async def setup_photographer(base: str, n: int) -> tuple[httpx.AsyncClient, str, str]:
    http = httpx.AsyncClient(base_url=base, timeout=60)
    token = await csrf(http)
    email = f"bench{n}-{uuid.uuid4().hex[:6]}@example.com"
    res = await http.post("/signup", data={"email": email, "name": f"Studio {n}",
                                           "password": "bench-password", "csrf_token": token})
    assert res.status_code == 303, res.text
    # Logged in, forms carry the session's own token (the page's meta tag), not the cookie.
    page = (await http.get("/panel")).text
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    res = await http.post("/panel/events/new", data={
        "title": f"Bench Gallery {n}", "download_single": "on", "csrf_token": token})
    event_id = int(res.headers["location"].rsplit("/", 1)[1])
    files = [("files", (f"IMG_{n}{i:03d}.jpg", small_jpeg(i), "image/jpeg")) for i in range(4)]
    res = await http.post(f"/panel/events/{event_id}/images", data={"csrf_token": token},
                          files=files)
    assert res.status_code == 200, res.text
    for _ in range(300):
        images = (await http.get(f"/panel/events/{event_id}/images.json")).json()["images"]
        if all(i["state"] == "ready" for i in images):
            break
        await asyncio.sleep(0.1)
    await http.post(f"/panel/events/{event_id}/status",
                    data={"status": "released", "csrf_token": token})
    page = (await http.get(f"/panel/events/{event_id}")).text
    slug = page.split("/g/", 1)[1].split('"', 1)[0]
    return http, slug, email


async def sell_from_starter_list(database_url: str, emails: list[str]) -> None:
    """Every bench studio sells from the starter price list (before any client opens its
    gallery: the gallery cache would hold the store-less gallery for a moment)."""
    from sqlalchemy import select, update

    from server.db import Database
    from server.models import Event, Photographer
    from server.store.starter import add_starter_price_list

    def unit(session, email: str) -> None:
        pid = session.scalar(select(Photographer.id).where(Photographer.email == email))
        prices = add_starter_price_list(session, pid)
        session.execute(update(Event).where(Event.photographer_id == pid)
                        .values(price_list_id=prices.id))

    db = Database(database_url)
    try:
        for email in emails:
            await db.write(unit, email)
    finally:
        await db.dispose()


async def cart_line(http: httpx.AsyncClient, slug: str, image_id: int) -> str:
    """Put one print in the visitor's cart; the URL that changes its quantity."""
    store = (await http.get(f"/g/{slug}/store.json")).json()["store"]
    item = next(i for i in store["items"] if i["kind"] == "print")
    res = await http.post(f"/g/{slug}/cart/items", json={
        "item_id": item["id"], "image_id": image_id, "quantity": 1,
        "choices": {g["name"]: g["choices"][0]["name"] for g in item["options"]}},
        headers={"X-CSRF-Token": http.cookies["pr_csrf"]})
    assert res.status_code == 200, res.text
    return f"/g/{slug}/cart/items/{res.json()['lines'][0]['id']}"


async def action_for(action: str, slug: str, http: httpx.AsyncClient, image_id: int):
    """(URL, body for on/off) of one client's repeated action."""
    if action == "cart":
        return await cart_line(http, slug, image_id), lambda on: {"quantity": 2 if on else 1}
    return f"/g/{slug}/images/{image_id}/favorite", lambda on: {"on": on}


async def setup_visitor(base: str, slug: str, n: int) -> tuple[httpx.AsyncClient, str, int]:
    http = httpx.AsyncClient(base_url=base, timeout=30)
    page = (await http.get(f"/g/{slug}")).text
    data = json.loads(page.split('id="gallery-data">', 1)[1].split("</script>", 1)[0])
    token = http.cookies["pr_csrf"]
    res = await http.post(f"/g/{slug}/gate", json={"email": f"client{n}@example.com",
                                                   "name": f"Client {n}"},
                          headers={"X-CSRF-Token": token})
    assert res.status_code == 200, res.text
    return http, f"client{n}@example.com", random.choice(data["images"])["id"]


async def run_proofroom(base: str, seconds: float, pid: int, action: str = "favorite",
                        database_url: str = "") -> dict:
    studios = await asyncio.gather(*(setup_photographer(base, n) for n in range(PHOTOGRAPHERS)))
    if action == "cart":
        await sell_from_starter_list(database_url, [email for *_, email in studios])
    visitors = []
    for n in range(CLIENTS):
        http, slug, _ = studios[n % PHOTOGRAPHERS]
        visitors.append((slug, *await setup_visitor(base, slug, n)))
    tracker, stop = Tracker(), asyncio.Event()
    sockets = []
    for http, *_ in studios:
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        page = (await http.get("/panel")).text
        last_seq = int(page.split('data-last-seq="', 1)[1].split('"', 1)[0])
        ws = await connect(base.replace("http", "ws") + "/ws/panel",
                           additional_headers={"Cookie": cookie, "Origin": base})
        await ws.send(json.dumps({"last_seq": last_seq}))  # live from here: no setup replay
        sockets.append(ws)
    listeners = [asyncio.create_task(listen(ws, tracker, stop, KIND_PREFIX[action]))
                 for ws in sockets]
    actions = [await action_for(action, slug, http, image_id)
               for slug, http, _, image_id in visitors]
    await asyncio.sleep(0.5)
    tracker.measure_from = time.perf_counter() + WARMUP
    until = tracker.measure_from + seconds
    cpu = CpuMeter(pid)
    metering = asyncio.create_task(cpu.measure(tracker.measure_from, until))
    loops, raws = [], []
    for (_, http, contact_id, _), (url, body_for) in zip(visitors, actions, strict=True):
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        raws.append(RawClient(base, cookie, {"X-CSRF-Token": http.cookies["pr_csrf"]}))
        loops.append(client_loop(raws[-1], url, body_for, contact_id, tracker, until))
    await asyncio.gather(*loops)
    for raw in raws:
        await raw.close()
    await drain(tracker)
    stop.set()
    await asyncio.gather(*listeners)
    for ws in sockets:
        await ws.close()
    for http, *_ in [(v[1],) for v in visitors] + [(s[0],) for s in studios]:
        await http.aclose()
    await metering
    return report("proofroom" if action == "favorite" else f"proofroom ({action})", tracker,
                  seconds, cpu)


async def run_flat_out(base: str, counts: list[int], seconds: float, pid: int) -> None:
    """N clients, each toggling again as soon as its last toggle answered: the most
    actions a second the server sustains, and the HTTP latency it takes to."""
    studios = await asyncio.gather(*(setup_photographer(base, 100 + n) for n in range(2)))
    visitors = [(studios[n % 2][1], *await setup_visitor(base, studios[n % 2][1], 1000 + n))
                for n in range(max(counts))]
    for count in counts:
        tracker, raws, loops = Tracker(), [], []
        tracker.measure_from = time.perf_counter() + 1.0
        until = tracker.measure_from + seconds
        cpu = CpuMeter(pid)
        metering = asyncio.create_task(cpu.measure(tracker.measure_from, until))
        for slug, http, contact_id, image_id in visitors[:count]:
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
            raws.append(RawClient(base, cookie, {"X-CSRF-Token": http.cookies["pr_csrf"]}))
            loops.append(client_loop(raws[-1], f"/g/{slug}/images/{image_id}/favorite",
                                     lambda on: {"on": on}, contact_id, tracker, until,
                                     paced=False))
        await asyncio.gather(*loops)
        for raw in raws:
            await raw.close()
        await metering
        main, total = cpu.per_request_ms(tracker.sent)
        print(f"flat-out {count:>3} clients: {tracker.sent / seconds:.0f} actions/s  HTTP "
              f"p50 {percentile(tracker.request_ms, 50):.1f} ms  "
              f"p99 {percentile(tracker.request_ms, 99):.1f} ms  "
              f"CPU {total:.2f} ms/action", flush=True)
    for http, *_ in [(v[1],) for v in visitors] + [(s[0],) for s in studios]:
        await http.aclose()


# ---- floor --------------------------------------------------------------------------

async def run_floor(base: str, seconds: float, pid: int) -> dict:
    tracker, stop = Tracker(), asyncio.Event()
    sockets = [await connect(base.replace("http", "ws") + f"/t/{t}/ws")
               for t in range(PHOTOGRAPHERS)]
    listeners = [asyncio.create_task(listen(ws, tracker, stop)) for ws in sockets]
    clients = [RawClient(base) for _ in range(CLIENTS)]
    tracker.measure_from = time.perf_counter() + WARMUP
    until = tracker.measure_from + seconds
    cpu = CpuMeter(pid)
    metering = asyncio.create_task(cpu.measure(tracker.measure_from, until))
    loops = []
    for n, http in enumerate(clients):
        tenant = n % PHOTOGRAPHERS
        loops.append(client_loop(http, f"/t/{tenant}/favorite",
                                 lambda on, n=n: {"on": on, "contact_id": n}, n, tracker,
                                 until))
    await asyncio.gather(*loops)
    await drain(tracker)
    stop.set()
    await asyncio.gather(*listeners)
    for ws in sockets:
        await ws.close()
    for http in clients:
        await http.close()
    await metering
    return report("floor (bare Starlette)", tracker, seconds, cpu)


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--flat-out", default="", metavar="N,N,...",
                        help="after the paced run, N clients toggling flat out for 10 s each")
    parser.add_argument("--no-paced", action="store_true", help="skip the paced run")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor run")
    parser.add_argument("--action", choices=["favorite", "cart"], default="favorite",
                        help="what each client of the paced run does")
    parser.add_argument("--clients", type=int, default=200,
                        help="paced clients (each acts about once a second)")
    args = parser.parse_args()
    global CLIENTS
    CLIENTS = args.clients
    tmp = Path(tempfile.mkdtemp(prefix="proofroom-bench-"))
    env = {**os.environ, "PROOFROOM_VAR": str(tmp / "var"), "SECRET_KEY": "bench",
           # Every bench client comes from 127.0.0.1: the per-address limits would refuse
           # the 200 gate passes and 10 sign-ups of the setup.
           "PROOFROOM_LIMIT_GATE_PER_ADDRESS": "100000/60",
           "PROOFROOM_LIMIT_SIGNUP_PER_ADDRESS": "100000/60",
           "PROOFROOM_LIMIT_SOCKETS_PER_ADDRESS": "100000"}
    procs, database = [], None
    if args.backend == "postgres":
        import asyncpg
        import redis

        database = f"proofroom_bench_{uuid.uuid4().hex[:8]}"

        async def create() -> None:
            conn = await asyncpg.connect(f"{args.pg}/test")
            await conn.execute(f'CREATE DATABASE "{database}"')
            await conn.close()

        asyncio.run(create())
        redis.Redis.from_url(args.redis).flushdb()
        env.update(DATABASE_URL=f"{args.pg}/{database}", REDIS_URL=args.redis,
                   PROOFROOM_WORKER="external")
    port = free_port()
    env["BASE_URL"] = base = f"http://127.0.0.1:{port}"
    print(f"backend: {args.backend}; {PHOTOGRAPHERS} dashboards, {CLIENTS} clients, "
          f"{args.seconds:.0f} s each; logs in {tmp}", flush=True)
    try:
        procs.append(start([sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
                           env, tmp / "server.log"))
        wait_up(base + "/login", procs[-1])
        if args.backend == "postgres":
            procs.append(start([sys.executable, "-m", "server.cli", "worker"], env,
                               tmp / "worker.log"))
        if not args.no_paced:
            database_url = env.get("DATABASE_URL", "").replace(
                "postgresql://", "postgresql+asyncpg://"
            ) or f"sqlite+aiosqlite:///{tmp / 'var' / 'proofroom.db'}"
            mine = asyncio.run(run_proofroom(base, args.seconds, procs[0].pid, args.action,
                                             database_url))
        if args.flat_out:
            counts = [int(n) for n in args.flat_out.split(",")]
            asyncio.run(run_flat_out(base, counts, 10.0, procs[0].pid))
        if args.no_floor or args.no_paced:
            return
        floor_port = free_port()
        procs.append(start([sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--port",
                            str(floor_port), "--log-level", "warning"], env,
                           tmp / "floor.log"))
        wait_up(f"http://127.0.0.1:{floor_port}/t/0/favorite", procs[-1])
        floor = asyncio.run(run_floor(f"http://127.0.0.1:{floor_port}", args.seconds,
                                      procs[-1].pid))
        ratio = mine["p99"] / floor["p99"] if floor["p99"] else float("nan")
        print(f"p99 proofroom / floor: {ratio:.2f}x", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        if database:
            async def drop() -> None:
                conn = await asyncpg.connect(f"{args.pg}/test")
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await conn.close()

            asyncio.run(drop())


if __name__ == "__main__":
    main()
