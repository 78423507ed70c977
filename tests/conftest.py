"""Fixtures: a real Proofroom server per backend, HTTP clients that speak CSRF, test images,
a Playwright-driven Chromium.

The `server` fixture is parametrised over both backends, so every test that uses it runs
on the embedded default (SQLite + a private redis-server child + the in-process worker)
and on PostgreSQL + Redis at 127.0.0.1 with a separate arq worker process (the Procfile's
production shape). Each backend gets a fresh database; tests isolate themselves by
signing up their own photographers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

PG_ADMIN_URL = os.environ.get("PROOFROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_BASE = os.environ.get("PROOFROOM_TEST_REDIS", "redis://127.0.0.1:6379")
BACKENDS = [b for b in os.environ.get("PROOFROOM_TEST_BACKENDS", "sqlite,postgres").split(",") if b]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer at {url}:\n{log.read_text()[-4000:]}")


@dataclass
class Server:
    backend: str
    base_url: str
    database_url: str
    var_dir: Path
    env: dict
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def media_root(self) -> Path:
        return self.var_dir / "media"

    def engine(self) -> AsyncEngine:
        return create_async_engine(self.database_url)

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _run(coro):
    """Run a coroutine to its end from sync code, also under a test's running event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _create_pg_database() -> str:
    import asyncpg

    name = f"proofroom_test_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# The shared test servers sign up dozens of photographers, pass the gate hundreds of times
# and try wrong PINs, all from 127.0.0.1: relaxed limits. The per-account login limit stays
# (test_auth checks it); tests/test_throttles.py runs servers with the defaults.
RELAXED_LIMITS = {f"PROOFROOM_LIMIT_{name}": value for name, value in {
    "LOGIN_PER_ADDRESS": "100000/60", "LOGIN_GLOBAL": "100000/60",
    "SIGNUP_PER_ADDRESS": "100000/60", "GATE_PER_ADDRESS": "100000/60",
    "GATE_PER_GALLERY": "100000/60", "UNLOCK_PER_GALLERY": "100000/60",
    "PIN_PER_VISITOR": "1000/1", "PIN_PER_GALLERY": "1000/1",
    "SOCKETS_PER_ADDRESS": "100000", "ZIPS_PER_GALLERY": "1000",
}.items()}


#: base URL -> database URL of every server started here, for helpers that read rows
#: behind a visitor's back (gate_contact_id, verify_device).
DATABASES: dict[str, str] = {}


def start_server(backend: str, tmp: Path, *, worker: bool = True, port: int | None = None,
                 database_url: str | None = None, redis_url: str | None = None,
                 limits: dict[str, str] | None = None) -> Server:
    """Start `proofroom serve` (and, on PostgreSQL, a separate `proofroom worker`).
    `limits`: PROOFROOM_LIMIT_* (and other) variables instead of RELAXED_LIMITS ({} for
    the defaults). `redis_url` on SQLite too: that Redis instead of the private embedded
    one (the default). `database_url` on SQLite (`sqlite:///path`): another process on
    that file, e.g. a second web process of a server already started."""
    port = port or free_port()
    var_dir = tmp / f"var-{backend}-{port}"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PROOFROOM_VAR": str(var_dir), "PORT": str(port),
           "BASE_URL": f"http://127.0.0.1:{port}", "SECRET_KEY": "test-secret-" + backend,
           **(RELAXED_LIMITS if limits is None else limits)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    if backend == "postgres":
        env["DATABASE_URL"] = database_url
        env["PROOFROOM_WORKER"] = "external"
        db_url = database_url.replace("postgresql://", "postgresql+asyncpg://")
    elif database_url:
        env["DATABASE_URL"] = database_url
        db_url = database_url.replace("sqlite:///", "sqlite+aiosqlite:///", 1)
    else:
        db_url = f"sqlite+aiosqlite:///{var_dir / 'proofroom.db'}"
    log = var_dir / "server.log"
    server = Server(backend, f"http://127.0.0.1:{port}", db_url, var_dir, env)
    DATABASES[server.base_url] = db_url
    server.processes.append(_spawn(["server.cli", "serve", "--port", str(port)], env, log))
    wait_http(server.base_url + "/login", server.processes[0], log)
    if backend == "postgres" and worker:
        server.processes.append(_spawn(["server.cli", "worker"], env, var_dir / "worker.log"))
    return server


class RedisDbLock:
    """A Redis database number held by this test session alone, so concurrent test runs on
    one machine never see each other's arq queues (job ids repeat across fresh databases)."""

    def __init__(self, db: int, token: str) -> None:
        self.db, self.token = db, token
        self.url = f"{TEST_REDIS_BASE}/{db}"

    def release(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        client.flushdb()
        client.close()


def claim_redis_db() -> RedisDbLock:
    import redis

    token = uuid.uuid4().hex
    for db in range(1, 16):
        client = redis.Redis.from_url(f"{TEST_REDIS_BASE}/{db}")
        try:
            if client.set("proofroom:test-lock", token, nx=True, ex=3 * 3600):
                client.flushdb()  # leftovers of a crashed run
                client.set("proofroom:test-lock", token, ex=3 * 3600)
                return RedisDbLock(db, token)
        finally:
            client.close()
    raise RuntimeError("no free Redis database (1-15) for this test session")


def serve_backend(backend: str, tmp: Path, *, database_url: str | None = None,
                  redis_url: str | None = None, **start: object) -> Iterator[Server]:
    """Start a server on `backend` with a database (and, on PostgreSQL, a Redis db) of its
    own, yield it, then stop it and drop what it made. `database_url`, `redis_url`: use
    these instead (not dropped); without `redis_url` SQLite runs its embedded Redis.
    `start`: start_server's other keywords."""
    database = lock = srv = None
    try:
        if backend == "postgres" and redis_url is None:
            lock = claim_redis_db()
            redis_url = lock.url
        if backend == "postgres" and database_url is None:
            database = _run(_create_pg_database())
            database_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
        srv = start_server(backend, tmp, database_url=database_url, redis_url=redis_url,
                           **start)
        yield srv
    finally:
        if srv:
            srv.stop()
            shutil.rmtree(srv.var_dir, ignore_errors=True)
        if database:
            _run(_drop_pg_database(database))
        if lock:
            lock.release()


class PrivateRedis:
    """A redis-server of the test's own on a free port, nothing persisted: the test may
    pause (`proc`), kill, start again (it comes back empty) and flush it, and no one else
    sees it."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: no goodbye to any client."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


@pytest.fixture
def own_redis_server(tmp_path_factory) -> Iterator[Callable[..., tuple[Server, PrivateRedis]]]:
    """Factory for a Proofroom server on a Redis the test owns: `start(backend)` starts
    one on a fresh database and a PrivateRedis and returns (server, redis). `worker=False`:
    no worker at all (on SQLite the in-process one is off; the test may spawn `proofroom
    worker`); `env`: more variables over RELAXED_LIMITS; `own_redis=False`: serve_backend's
    Redis instead (redis None); other keywords go to serve_backend. All of it is stopped,
    and the database dropped, after the test."""
    with contextlib.ExitStack() as stack:
        def start(backend: str, *, worker: bool = True, env: dict | None = None,
                  own_redis: bool = True, **kw: object) -> tuple[Server, PrivateRedis]:
            tmp = tmp_path_factory.mktemp(f"own-{backend}")  # short: a unix socket lives here
            redis = PrivateRedis(tmp / "redis") if own_redis else None
            if redis:
                stack.callback(redis.kill)
                redis.start()
            limits = {**RELAXED_LIMITS, **(env or {})}
            if not worker:
                limits["PROOFROOM_WORKER"] = "external"
            srv = stack.enter_context(contextlib.contextmanager(serve_backend)(
                backend, tmp, redis_url=redis and redis.url, worker=worker, limits=limits,
                **kw))
            return srv, redis

        yield start


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, tmp_path_factory) -> Iterator[Server]:
    yield from serve_backend(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture
async def db(server: Server) -> AsyncIterator[AsyncEngine]:
    """A direct connection to the server's database, for asserting on rows."""
    engine = server.engine()
    yield engine
    await engine.dispose()


async def rows(engine: AsyncEngine, sql: str, **params) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def scalar(engine: AsyncEngine, sql: str, **params):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Client:
    """An httpx client that fetches and sends the CSRF token the way the pages do."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=30)
        self.photographer_id: int | None = None
        self.email: str | None = None
        self._csrf: tuple[str | None, str] | None = None  # (session cookie, token)

    async def csrf(self, url: str = "/panel") -> str:
        """The token the page posting to `url` embeds: behind the login (/panel…, /logout)
        the session's own (it changes with every login), elsewhere (login, sign-up, the
        client gallery) the anonymous double-submit cookie's."""
        session = self.http.cookies.get("pr_session")
        if session and (url.startswith("/panel") or url == "/logout"):
            if self._csrf is None or self._csrf[0] != session:
                page = await self.http.get("/panel/settings/account")
                found = CSRF_META.search(page.text) if page.status_code == 200 else None
                if found:
                    self._csrf = (session, found.group(1))
            if self._csrf is not None and self._csrf[0] == session:
                return self._csrf[1]
        if "pr_csrf" not in self.http.cookies:
            await self.http.get("/login")
        return self.http.cookies["pr_csrf"]

    async def get(self, url: str, **kw) -> httpx.Response:
        return await self.http.get(url, **kw)

    async def post_form(self, url: str, data: dict | None = None, files=None,
                        csrf: bool = True, **kw) -> httpx.Response:
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = await self.csrf(url)
        return await self.http.post(url, data=data, files=files, **kw)

    async def post_json(self, url: str, payload: dict | None = None,
                        csrf: bool = True) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if csrf:
            headers["X-CSRF-Token"] = await self.csrf(url)
        return await self.http.post(url, json=payload or {}, headers=headers)

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def new_client(server: Server):
    """Factory for fresh, cookie-less clients (a photographer, a gallery visitor…)."""
    made: list[Client] = []

    def make() -> Client:
        made.append(Client(server.base_url))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def sign_up(client: Client, engine: AsyncEngine, name: str = "Pat Lens") -> Client:
    email = f"{uuid.uuid4().hex[:12]}@studio.example.com"
    res = await client.post_form("/signup", {"email": email, "name": name,
                                             "password": "correct horse battery"})
    assert res.status_code == 303, res.text
    client.email = email
    client.photographer_id = await scalar(engine, "SELECT id FROM photographers WHERE email=:e",
                                          e=email)
    return client


async def sign_up_on(server: Server, client: Client) -> Client:
    """Sign `client` up on `server` (a server of the test's own, not the shared one)."""
    client.http.base_url = server.base_url
    engine = server.engine()
    try:
        return await sign_up(client, engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def photographer(new_client, db) -> Client:
    return await sign_up(new_client(), db)


@pytest.fixture
async def other_photographer(new_client, db) -> Client:
    return await sign_up(new_client(), db, name="Other Studio")


def jpeg_bytes(width: int = 640, height: int = 480, color=(120, 160, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", quality=80)
    return out.getvalue()


async def create_gallery(client: Client, **fields) -> int:
    data = {"title": "Smith Wedding", "download_single": "on", "download_bulk": "on",
            "download_size": "original", **fields}
    res = await client.post_form("/panel/events/new", data)
    assert res.status_code == 303, res.text
    return int(res.headers["location"].rstrip("/").rsplit("/", 1)[1])


async def upload(client: Client, event_id: int, files: list[tuple[str, bytes]]) -> httpx.Response:
    return await client.post_form(
        f"/panel/events/{event_id}/images",
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        headers={"Accept": "application/json"},
    )


async def wait_processed(client: Client, event_id: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        images = (await client.get(f"/panel/events/{event_id}/images.json")).json()["images"]
        if images and all(i["state"] != "processing" for i in images):
            return images
        await asyncio.sleep(0.1)
    raise AssertionError(f"images still processing after {timeout}s: {images}")


async def released_gallery(client: Client, n_images: int = 3, **fields) -> tuple[int, str, list]:
    """A released gallery with processed images: (event id, slug, images)."""
    event_id = await create_gallery(client, **fields)
    res = await upload(client, event_id, [(f"IMG_{1000 + i}.jpg", jpeg_bytes(
        color=(40 * i % 255, 90, 160))) for i in range(n_images)])
    assert res.status_code == 200, res.text
    images = await wait_processed(client, event_id)
    res = await client.post_form(f"/panel/events/{event_id}/status", {"status": "released"})
    assert res.status_code == 303
    detail = (await client.get(f"/panel/events/{event_id}")).text
    slug = detail.split("/g/", 1)[1].split('"', 1)[0]
    return event_id, slug, images


async def gallery_photos(visitor: Client, slug: str) -> list[dict]:
    """Every photo of a client gallery, in its order, as gallery.js gets them."""
    res = await visitor.get(f"/g/{slug}/photos.json")
    assert res.status_code == 200, res.text
    return res.json()


async def pass_gate(visitor: Client, slug: str, email: str = "jane@example.com",
                    name: str = "Jane Client") -> httpx.Response:
    await visitor.get(f"/g/{slug}")
    res = await visitor.post_json(f"/g/{slug}/gate", {"email": email, "name": name})
    assert res.status_code == 200, res.text
    return res


async def gate_contact_id(visitor: Client, slug: str, email: str = "jane@example.com",
                          name: str = "Jane Client") -> int:
    """Pass the gate; the contact's id, read from the database (the gate's answer is the
    same for every address, so it can't say)."""
    await pass_gate(visitor, slug, email=email, name=name)
    engine = create_async_engine(DATABASES[str(visitor.http.base_url).rstrip("/")])
    try:
        return await scalar(engine, "SELECT c.id FROM contacts c JOIN events e "
                                    "ON e.photographer_id = c.photographer_id "
                                    "WHERE e.slug = :s AND c.email = :m",
                            s=slug, m=email.strip().lower())
    finally:
        await engine.dispose()


async def open_gallery_socket(visitor: Client, slug: str, last_seq: int = 0,
                              origin: str | None = None):
    """The gallery page's live socket, as the browser opens it: cookies, our Origin, then
    the last seq it has seen. For a known visitor it is also their "viewing now"."""
    from websockets.asyncio.client import connect

    base_url = str(visitor.http.base_url).rstrip("/")
    cookie = "; ".join(f"{k}={v}" for k, v in visitor.http.cookies.items())
    ws = await connect(base_url.replace("http://", "ws://") + f"/ws/gallery/{slug}",
                       additional_headers={"Cookie": cookie, "Origin": origin or base_url})
    await ws.send(json.dumps({"last_seq": last_seq}))
    return ws


async def viewing_now(photographer: Client, until, timeout: float = 10) -> list[dict]:
    """The dashboard's "viewing now" once `until(viewers)` holds (a socket's presence beat
    lands just after its hello), else AssertionError with what it last was."""
    deadline = time.monotonic() + timeout
    while True:
        viewers = (await photographer.get("/panel/activity/viewing.json")).json()["viewers"]
        if until(viewers):
            return viewers
        if time.monotonic() > deadline:
            raise AssertionError(f"viewing now stayed {viewers}")
        await asyncio.sleep(0.05)


async def verify_device(visitor: Client, slug: str, email: str) -> httpx.Response:
    """Follow the newest "continue on this device" link emailed to `email` for this gallery,
    as the client would: open it, press the button. Returns the POST's answer."""
    path = await verify_link_path(visitor, slug, email)
    assert (await visitor.get(path)).status_code == 200
    return await visitor.post_form(path)


async def verify_link_path(visitor: Client, slug: str, email: str) -> str:
    """The path of the newest "continue on this device" link emailed to `email` for this
    gallery (of the server `visitor` talks to)."""
    engine = create_async_engine(DATABASES[str(visitor.http.base_url).rstrip("/")])
    try:
        body = await scalar(engine, "SELECT o.body_text FROM outbound_emails o "
                                    "JOIN events e ON e.id = o.event_id "
                                    "WHERE o.kind = 'verify_device' AND o.recipient = :m "
                                    "AND e.slug = :s ORDER BY o.id DESC",
                            m=email.strip().lower(), s=slug)
    finally:
        await engine.dispose()
    assert body, f"no verification email to {email}"
    return "/g/" + body.split("/g/", 1)[1].split()[0]


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


async def open_watched_page(browser, url: str, width: int, height: int = 900):
    """A new browser context at `width` × `height` on `url`, and the list its console
    errors and uncaught page errors collect into: (context, page, problems)."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}")
            if msg.type == "error" else None)
    await page.goto(url)
    return context, page, problems


def random_token() -> str:
    return secrets.token_hex(4)


async def seed_price_list(engine: AsyncEngine, photographer_id: int,
                          event_id: int | None = None) -> dict[str, int]:
    """A price list with one of everything (ids by short name), set on `event_id` if given:
    a 5x7 print with paper choices, web/full/whole-gallery digitals, a framed canvas with
    two option groups, and a package of 3 × 5x7 + 2 web digitals."""
    from sqlalchemy import insert, update

    from server.models import Event
    from server.store.models import PriceItem, PriceList

    paper = [{"name": "Paper", "choices": [{"name": "Lustre", "price": 0},
                                           {"name": "Metallic", "price": 300}]}]
    canvas = [{"name": "Size", "choices": [{"name": "12x18", "price": 0},
                                           {"name": "20x30", "price": 6000}]},
              {"name": "Frame", "choices": [{"name": "None", "price": 0},
                                            {"name": "Black", "price": 2500}]}]
    ids: dict[str, int] = {}
    async with engine.begin() as conn:
        ids["list"] = (await conn.execute(insert(PriceList).values(
            photographer_id=photographer_id, name="Wedding prices").returning(PriceList.id))
        ).scalar_one()
        rows = [("print", "5x7 print", 1500, paper, None, []),
                ("web", "Digital file (web)", 900, [], "web", []),
                ("full", "Digital file (full resolution)", 2500, [], "full", []),
                ("gallery", "The whole gallery (digital)", 20000, [], "gallery", []),
                ("canvas", "Canvas", 12000, canvas, None, [])]
        kinds = {"print": "print", "web": "digital", "full": "digital", "gallery": "digital",
                 "canvas": "product"}
        for position, (key, name, price, options, scope, contents) in enumerate(rows):
            ids[key] = (await conn.execute(insert(PriceItem).values(
                photographer_id=photographer_id, price_list_id=ids["list"], kind=kinds[key],
                name=name, description="", price=price, position=position, options=options,
                digital_scope=scope, contents=contents).returning(PriceItem.id))).scalar_one()
        ids["package"] = (await conn.execute(insert(PriceItem).values(
            photographer_id=photographer_id, price_list_id=ids["list"], kind="package",
            name="Keepsake package", description="", price=5000, position=9, options=[],
            digital_scope=None, contents=[{"item_id": ids["print"], "quantity": 3},
                                          {"item_id": ids["web"], "quantity": 2}],
        ).returning(PriceItem.id))).scalar_one()
        if event_id is not None:
            await conn.execute(update(Event).where(Event.id == event_id)
                               .values(price_list_id=ids["list"]))
    return ids


#: What a seeded step is unless a test says otherwise: an email to the gallery's clients,
#: sent exactly at its time (tests use offsets of seconds, not the studio's 09:00).
STEP_DEFAULTS = {"kind": "email", "name": "", "anchor": "release", "offset_seconds": 0,
                 "audience": "clients", "at_send_time": False,
                 "content": {"subject": "{gallery_title} is ready",
                             "body": "Hi {first_name},\n\nYour photos are waiting."}}


async def seed_workflow(engine: AsyncEngine, photographer_id: int,
                        gallery_type_id: int | None = None,
                        steps: list[dict] | tuple[dict, ...] = ({},),
                        name: str = "Test workflow") -> tuple[int, list[int]]:
    """An active workflow (of `gallery_type_id`, if given) and its steps, written with SQL
    behind the server's back: each step is STEP_DEFAULTS updated with its dict, in order.
    Returns (workflow id, step ids). Nothing is planned: a gallery picks it up when it is
    next planned (released, edited)."""
    from sqlalchemy import insert

    from server.models import utcnow
    from server.workflows.models import Workflow, WorkflowStep

    async with engine.begin() as conn:
        workflow_id = (await conn.execute(insert(Workflow).values(
            photographer_id=photographer_id, name=name, description="",
            gallery_type_id=gallery_type_id, active=True, created_at=utcnow(),
            updated_at=utcnow()).returning(Workflow.id))).scalar_one()
        step_ids = []
        for position, step in enumerate(steps):
            values = {**STEP_DEFAULTS, **step}
            step_ids.append((await conn.execute(insert(WorkflowStep).values(
                photographer_id=photographer_id, workflow_id=workflow_id, position=position,
                end_offset_seconds=0, updated_at=utcnow(), **values,
            ).returning(WorkflowStep.id))).scalar_one())
    return workflow_id, step_ids


async def add_gallery_client(engine: AsyncEngine, photographer_id: int, event_id: int,
                             email: str, name: str) -> int:
    """Make `email` a client contact of the gallery (the "clients" audience), with SQL:
    the contact (reused if the studio has it) and its gallery_clients row. Its id."""
    from sqlalchemy import insert, select

    from server.models import Contact, utcnow
    from server.workflows.models import GalleryClient

    async with engine.begin() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(
            Contact.photographer_id == photographer_id, Contact.email == email))).scalar()
        if contact_id is None:
            contact_id = (await conn.execute(insert(Contact).values(
                photographer_id=photographer_id, email=email, name=name, source="manual",
                created_at=utcnow()).returning(Contact.id))).scalar_one()
        await conn.execute(insert(GalleryClient).values(
            event_id=event_id, contact_id=contact_id, photographer_id=photographer_id,
            created_at=utcnow()))
    return contact_id
