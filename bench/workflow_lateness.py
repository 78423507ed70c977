"""Workflow lateness: how late do timed workflow emails leave, and does any leave twice?

Schedules --actions per-contact ScheduledAction rows (default 10,000) across --galleries
released galleries (default 500) of one studio, due spread uniformly over --spread seconds
(default 60) starting --lead seconds from now, and lets ONE `proofroom worker` process
(arq, the Procfile's shape) send them to an aiosmtpd sink in this process. Prints p50/p99/
max lateness (the row's due time → the sink has the whole message, i.e. handed to SMTP),
duplicates (messages beyond one per recipient; must be 0), missing, throughput in
emails/s, the rows' end states, and arq's own `poll_delay` (read from the worker's
configuration) as the baseline: a deferred job waits up to one poll before any code of
ours runs. Targets (issue 13): p99 under 1 s, 0 duplicates.

    python bench/workflow_lateness.py                          # SQLite, 10,000 in 60 s
    python bench/workflow_lateness.py --actions 500 --galleries 25 --spread 10
    python bench/workflow_lateness.py --backend postgres       # PostgreSQL at 127.0.0.1
    python bench/workflow_lateness.py --spread 0               # all due at once: capacity
    python bench/workflow_lateness.py --profile /tmp/worker.txt  # py-spy of the worker

The due times are shuffled across the galleries (neighbouring due times belong to
different galleries). `--spread 0` is a send time of day: everything due in the same
second, so the throughput is the worker's capacity. CPU is reported per process over the
run, with the seconds the worker was runnable but waiting for a CPU (/proc schedstat):
on a shared machine that, not our code, can be what made it late; the load average is
printed next to the figures.

All real parts: migrations by `proofroom migrate`, a redis-server of the bench's own (a
free port, nothing persisted), the worker as `python -m server.cli worker`, SMTP over TCP.
The rows are made the production way: each gallery's rows in one unit of work
(`Database.write`, wired by server.app.build_services) through the planner's own insert
(`planner._insert`: INSERT … ON CONFLICT DO NOTHING on the row's key, then its arq job
enqueued after the commit by the outbox: name "run_scheduled_action", the planner's
deterministic job id, deferred to the due time). The worker's startup reconcile and its
minute cron see the same rows (due within the hour) and find their jobs already there.
Every contact has its own address (c<gallery>-<n>@bench.test): the sink maps each message
to its row by recipient.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from server import app as composition
from server.config import Settings
from server.models import Contact, Event, OutboundEmail, Photographer
from server.workflows import planner
from server.workflows.models import (
    GalleryClient,
    ScheduledAction,
    Workflow,
    WorkflowStep,
)

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "bench.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# ---- the SMTP sink -------------------------------------------------------------------

@dataclass
class Sink:
    """aiosmtpd handler: when each message arrived (wall clock), to whom, its Message-ID."""

    received: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        at = time.time()
        found = re.search(rb"^Message-ID: *(<[^>]+>)", envelope.content, re.M | re.I)
        message_id = found.group(1).decode() if found else "?"
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((at, rcpt.lower(), message_id))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[tuple[float, str, str]]:
        with self.lock:
            return list(self.received)


# ---- processes ------------------------------------------------------------------------

def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    import redis

    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)


def wait_worker_ready(redis_url: str, proc: subprocess.Popen, log: Path) -> None:
    """arq writes its health-check key once its loop runs (after the startup reconcile)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited:\n{log.read_text()[-3000:]}")
        if client.exists("arq:queue:health-check"):
            return
        time.sleep(0.05)
    raise SystemExit(f"worker not ready:\n{log.read_text()[-3000:]}")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_wait(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (schedstat):
    what other processes on a busy machine took from it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, IndexError, ValueError):  # a thread ended
            total += int(task.read_text().split()[1])
    return total / 1e9


def worker_config(settings: Settings) -> tuple[float, int]:
    """arq's poll_delay and max_jobs of a `proofroom worker`, read from the composition
    root (not copied here): its make_worker, and the max_jobs _standalone_worker passes.
    (Building an arq Worker connects to nothing.)"""
    services = SimpleNamespace(redis=None, db=None, media=None, settings=settings)
    poll_delay = composition.make_worker(services, 1).poll_delay_s
    found = re.search(r"supervise_worker\(services, max_jobs=(\d+)\)",
                      inspect.getsource(composition._standalone_worker))
    return poll_delay, int(found.group(1)) if found else -1


# ---- seeding --------------------------------------------------------------------------

def seed_studio(session, galleries: int, per_gallery: list[int], tag: str
                ) -> tuple[int, int, list[int]]:
    """One studio, one active workflow with one email step (to the clients), `galleries`
    released galleries following it, and each gallery's client contacts."""
    now = datetime.now(UTC)
    studio = Photographer(email=f"bench-{tag}@{DOMAIN}", name="Bench Studio",
                          business_name="Bench Studio", password_hash="x")
    session.add(studio)
    session.flush()
    workflow = Workflow(photographer_id=studio.id, name="Bench", active=True)
    session.add(workflow)
    session.flush()
    step = WorkflowStep(photographer_id=studio.id, workflow_id=workflow.id, kind="email",
                        name="Bench email", anchor="release", offset_seconds=0,
                        audience="clients", at_send_time=False,
                        content={"subject": "{gallery_title} is ready, {first_name}",
                                 "body": "Hello {first_name},\n\nYour photos: {gallery_link}",
                                 "buttons": [{"action": "gallery", "label": "Open"}]})
    events = [Event(photographer_id=studio.id, title=f"Bench Gallery {g}",
                    slug=f"bench-{tag}-{g}", status="released", released_at=now,
                    expires_at=now + timedelta(days=30), workflow_id=workflow.id)
              for g in range(galleries)]
    session.add(step)
    session.add_all(events)
    session.flush()
    for event, count in zip(events, per_gallery, strict=True):
        contacts = [Contact(photographer_id=studio.id, email=address(event.id, n),
                            name=f"Client {n}", source="manual") for n in range(count)]
        session.add_all(contacts)
        session.flush()
        session.add_all(GalleryClient(event_id=event.id, contact_id=c.id,
                                      photographer_id=studio.id) for c in contacts)
    session.flush()
    return studio.id, step.id, [e.id for e in events]


def address(event_id: int, n: int) -> str:
    return f"c{event_id}-{n}@{DOMAIN}"


def schedule_gallery(session, event_id: int, step_id: int, dues: list[datetime]) -> None:
    """One gallery's rows, the planner's way: one per client contact, each with its job."""
    event = session.get(Event, event_id)
    step = session.get(WorkflowStep, step_id)
    contacts = list(session.scalars(
        select(GalleryClient.contact_id).where(GalleryClient.event_id == event_id)
        .order_by(GalleryClient.contact_id)))
    now = datetime.now(UTC)
    for contact_id, due in zip(contacts, dues, strict=True):
        planner._insert(session, event, planner.key(event_id, step_id, contact_id),
                        planner.Wanted(step, contact_id, due), None, now)


async def due_by_address(db) -> dict[str, float]:
    async with db.reader() as session:
        rows = await session.execute(
            select(Contact.email, ScheduledAction.next_attempt_at)
            .join(ScheduledAction, ScheduledAction.contact_id == Contact.id))
        return {email: as_utc(due).timestamp() for email, due in rows}


def as_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def states(db) -> tuple[dict[str, int], dict[str, int]]:
    async with db.reader() as session:
        actions = dict((await session.execute(
            select(ScheduledAction.state, func.count()).group_by(ScheduledAction.state))).all())
        emails = dict((await session.execute(
            select(OutboundEmail.state, func.count()).group_by(OutboundEmail.state))).all())
    return actions, emails


# ---- the run --------------------------------------------------------------------------

@dataclass
class Run:
    args: argparse.Namespace
    env: dict
    sink: Sink
    worker_pid: int
    redis_pid: int
    overlapped: bool = False


async def seed_and_schedule(db, args: argparse.Namespace) -> tuple[datetime, float]:
    """Seed, then schedule; the first due time and how long after scheduling it comes."""
    per_gallery = [args.actions // args.galleries + (g < args.actions % args.galleries)
                   for g in range(args.galleries)]
    began = time.perf_counter()
    _, step_id, event_ids = await db.write(seed_studio, args.galleries, per_gallery,
                                           uuid.uuid4().hex[:8])
    print(f"seeded 1 studio, {args.galleries} galleries, {args.actions} client contacts "
          f"in {time.perf_counter() - began:.1f} s", flush=True)
    start = datetime.now(UTC) + timedelta(seconds=args.lead)
    dues = [start + timedelta(seconds=args.spread * i / args.actions)
            for i in range(args.actions)]
    random.Random(args.seed).shuffle(dues)
    began = time.perf_counter()
    at = 0
    for event_id, count in zip(event_ids, per_gallery, strict=True):
        await db.write(schedule_gallery, event_id, step_id, dues[at:at + count])
        at += count
    slack = (start - datetime.now(UTC)).total_seconds()
    print(f"scheduled {args.actions} actions (rows + arq jobs) in "
          f"{time.perf_counter() - began:.1f} s; the first is due in {slack:.1f} s", flush=True)
    if slack < 1:
        print("WARNING: scheduling ran into the due window; raise --lead", flush=True)
    return start, slack


async def run(r: Run) -> None:
    args = r.args
    settings = Settings.from_env(r.env)
    services = await composition.build_services(settings)
    db = services.db
    try:
        start, slack = await seed_and_schedule(db, args)
        r.overlapped = slack < 1
        pids = {"worker": r.worker_pid, "redis": r.redis_pid, "bench+sink": os.getpid()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        waited_before = run_queue_wait(r.worker_pid)
        profiler = start_profiler(args, r.worker_pid, slack)
        samples: list[tuple[float, float, float]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_worker(r.worker_pid, samples, stop))
        end = start.timestamp() + args.spread
        await wait_done(db, r.sink, args.actions, deadline=end + args.timeout)
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["worker waited for a CPU"] = run_queue_wait(r.worker_pid) - waited_before
        stop.set()
        await sampler
        if profiler is not None:
            profiler.wait()
        await report(args, r.env, db, r.sink, start.timestamp(), cpu, r.overlapped, samples)
    finally:
        await services.close()


def start_profiler(args: argparse.Namespace, pid: int, slack: float
                   ) -> subprocess.Popen | None:
    """py-spy of the worker over the due window (collapsed stacks: grep and sort them)."""
    if not args.profile:
        return None
    duration = int(slack + args.spread + 5)
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--format", "raw",
                             "--duration", str(duration), "--rate", "50", "--nonblocking",
                             "--output", args.profile],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def sample_worker(pid: int, samples: list[tuple[float, float, float]],
                        stop: asyncio.Event) -> None:
    """Every second: (wall time, worker CPU seconds, seconds it waited for a CPU)."""
    while not stop.is_set():
        samples.append((time.time(), cpu_seconds(pid), run_queue_wait(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def slices(args: argparse.Namespace, first_due: float, late_at: list[tuple[float, float]],
           samples: list[tuple[float, float, float]]) -> None:
    """Per tenth of the due window: p99 lateness of the rows due in it, and how busy the
    worker was (on a CPU, and waiting for one) while they were due."""
    width = max(args.spread / 10, 1.0)
    print(f"per {width:.0f} s of due time: p99 lateness ms | worker on CPU / waiting for a "
          "CPU, share of the slice")
    parts = []
    for n in range(10 if args.spread else 1):
        begin, end = first_due + n * width, first_due + (n + 1) * width
        late = [ms for due, ms in late_at if begin <= due < end]
        inside = [s for s in samples if begin - 1 <= s[0] <= end + 1]
        busy = wait = float("nan")
        if len(inside) >= 2:
            span = inside[-1][0] - inside[0][0]
            busy = (inside[-1][1] - inside[0][1]) / span
            wait = (inside[-1][2] - inside[0][2]) / span
        parts.append(f"{n * width:.0f}s: {percentile(late, 99):.0f} | {busy:.0%}/{wait:.0%}")
    for at in range(0, len(parts), 5):
        print("  " + "   ".join(parts[at:at + 5]))


async def wait_done(db, sink: Sink, actions: int, deadline: float) -> None:
    """Until no row is pending or claimed and every email left (or the deadline), then a
    little longer, so a late duplicate still counts."""
    while time.time() < deadline:
        await asyncio.sleep(1.0)
        if len(sink.snapshot()) < actions and time.time() < deadline - 1:
            continue
        rows, emails = await states(db)
        if not (rows.get("pending") or rows.get("claimed") or emails.get("sending")
                or emails.get("queued")):
            break
    await asyncio.sleep(3.0)


async def report(args: argparse.Namespace, env: dict, db, sink: Sink, first_due: float,
                 cpu: dict[str, float], overlapped: bool,
                 samples: list[tuple[float, float, float]]) -> None:
    dues = await due_by_address(db)
    received = sink.snapshot()
    counts: dict[str, int] = {}
    lateness: list[float] = []
    late_at: list[tuple[float, float]] = []
    for at, rcpt, _ in received:
        counts[rcpt] = counts.get(rcpt, 0) + 1
        if counts[rcpt] == 1 and rcpt in dues:
            lateness.append((at - dues[rcpt]) * 1000)
            late_at.append((dues[rcpt], lateness[-1]))
    duplicates = sum(n - 1 for n in counts.values())
    stray = sum(1 for rcpt in counts if rcpt not in dues)
    missing = sum(1 for rcpt in dues if rcpt not in counts)
    rows, emails = await states(db)
    poll_delay, max_jobs = worker_config(Settings.from_env(env))
    last = max((at for at, _, _ in received), default=first_due)
    rate = len(received) / max(last - first_due, 1e-9)
    load = os.getloadavg()
    print(f"\nbackend {args.backend}: {args.actions} actions, {args.galleries} galleries, "
          f"due over {args.spread:.0f} s; 1 worker process (arq max_jobs {max_jobs})")
    print(f"baseline: arq poll_delay {poll_delay * 1000:.0f} ms (a deferred job waits up to "
          f"one poll before it runs)")
    print(f"lateness (due -> handed to SMTP): p50 {percentile(lateness, 50):.0f} ms  "
          f"p99 {percentile(lateness, 99):.0f} ms  max {max(lateness, default=0):.0f} ms  "
          f"mean {statistics.fmean(lateness) if lateness else float('nan'):.0f} ms")
    print(f"messages {len(received)}; duplicates {duplicates}; missing {missing}; "
          f"unknown recipients {stray}")
    due_rate = f"{args.actions / args.spread:.1f}/s" if args.spread else "all at once"
    print(f"throughput: {rate:.1f} emails/s (messages / (last received - first due)); "
          f"due rate {due_rate}")
    print(f"rows: {dict(sorted(rows.items()))}; outbound emails: {dict(sorted(emails.items()))}")
    per_email = cpu["worker"] * 1000 / max(len(received), 1)
    others = ", ".join(f"{name} {secs:.1f} s" for name, secs in cpu.items() if name != "worker")
    print(f"CPU over the run: worker {cpu['worker']:.1f} s ({per_email:.1f} ms per email), "
          f"{others}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} cores")
    slices(args, first_due, late_at, samples)
    p99 = percentile(lateness, 99)
    verdict = "MET" if p99 < 1000 and duplicates == 0 and missing == 0 else "NOT MET"
    if overlapped:
        verdict += " (INVALID run: scheduling overlapped the due window; raise --lead)"
    print(f"targets (p99 < 1000 ms, 0 duplicates, none missing): {verdict}", flush=True)


# ---- main -----------------------------------------------------------------------------

def make_env(args: argparse.Namespace, tmp: Path, redis_url: str, smtp_port: int,
             database: str | None) -> dict:
    env = {**os.environ, "PROOFROOM_VAR": str(tmp / "var"), "SECRET_KEY": "bench",
           "BASE_URL": "http://127.0.0.1:8000", "REDIS_URL": redis_url,
           "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "PROOFROOM_WORKER": "external"}
    if database:
        env["DATABASE_URL"] = f"{args.pg}/{database}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'var' / 'proofroom.db'}"
    return env


async def pg(args: argparse.Namespace, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{args.pg}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--galleries", type=int, default=500)
    parser.add_argument("--spread", type=float, default=60, help="seconds the due times span")
    parser.add_argument("--lead", type=float, default=30,
                        help="seconds from the start of scheduling to the first due time "
                             "(scheduling must end before it: the run says INVALID if not)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds after the last due time to wait for the rest")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--profile", default="", metavar="FILE",
                        help="py-spy the worker over the due window into FILE (raw stacks)")
    args = parser.parse_args()
    if args.actions < args.galleries:
        parser.error("--actions must be at least --galleries")
    tmp = Path(tempfile.mkdtemp(prefix="proofroom-wf-bench-"))
    (tmp / "var").mkdir()
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    database = f"proofroom_bench_{uuid.uuid4().hex[:8]}" if args.backend == "postgres" else None
    procs: list[subprocess.Popen] = []
    try:
        if database:
            asyncio.run(pg(args, f'CREATE DATABASE "{database}"'))
        redis_proc, redis_url = start_redis(tmp / "redis")
        procs.append(redis_proc)
        env = make_env(args, tmp, redis_url, smtp_port, database)
        log = tmp / "worker.log"
        with (tmp / "migrate.log").open("wb") as out:
            subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=ROOT,
                           check=True, stdout=out, stderr=subprocess.STDOUT)
        procs.append(spawn(["server.cli", "worker"], env, log))
        wait_worker_ready(redis_url, procs[-1], log)
        print(f"backend {args.backend}; worker pid {procs[-1].pid} ready; logs in {tmp}",
              flush=True)
        asyncio.run(run(Run(args, env, sink, procs[-1].pid, redis_proc.pid)))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        controller.stop()
        if database:
            asyncio.run(pg(args, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
