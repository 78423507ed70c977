"""`proofroom backup PATH` / `proofroom restore PATH` (server/backup.py), run as the operator
runs them: subprocesses configured by the environment, against real servers.

A populated instance (a photographer, a released gallery whose uploads were processed to
ready, a client's favorites and comment, their activity events) is backed up while it
serves, restored into a new empty database and media folder, and a server started on the
result must log the photographer in, serve the gallery and its thumbnails byte for byte,
show the same activity report and continue the seq. Restore refuses, and changes nothing,
for a non-empty target without --force, a garbage or cut-short file, or another backend.
A backup taken while clients keep writing is one consistent snapshot (SQLite).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from conftest import (
    BACKENDS,
    PG_ADMIN_URL,
    Client,
    Server,
    _create_pg_database,
    _drop_pg_database,
    gate_contact_id,
    released_gallery,
    rows,
    serve_backend,
    sign_up,
)
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from server.config import Settings
from server.migrate import alembic_config, upgrade

PASSWORD = "correct horse battery"  # what conftest.sign_up gives every photographer
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]


def proofroom(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def refusal(done: subprocess.CompletedProcess) -> str:
    """A refusal: exit status 1 and exactly one line on stderr."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proofroom restore: "), done.stderr
    return lines[0]


def media_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- the populated instance and its backup, once per backend ------------------------------

@dataclass
class Snapshot:
    """What the instance served just before its backup was taken."""

    email: str = ""
    photographer_id: int = 0
    event_id: int = 0
    slug: str = ""
    image_ids: list[int] = field(default_factory=list)
    thumbs: dict[int, bytes] = field(default_factory=dict)
    originals: dict[int, bytes] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    feed: list = field(default_factory=list)
    visitor_cookies: dict = field(default_factory=dict)


@dataclass
class Populated:
    server: Server
    archive: Path
    before: Snapshot


async def _populate(server: Server) -> Snapshot:
    engine = server.engine()
    photographer, visitor = Client(server.base_url), Client(server.base_url)
    try:
        await sign_up(photographer, engine, name="Backup Studio")
        event_id, slug, images = await released_gallery(photographer, 3, title="Backup Wedding")
        await gate_contact_id(visitor, slug, email="bride@example.com", name="Bea Bride")
        for image in images[:2]:
            res = await visitor.post_json(f"/g/{slug}/images/{image['id']}/favorite", {"on": True})
            assert res.status_code == 200, res.text
        res = await visitor.post_json(f"/g/{slug}/images/{images[0]['id']}/comments",
                                      {"body": "This one for the album"})
        assert res.status_code == 200, res.text
        return await _observe(photographer, visitor, event_id, slug, images)
    finally:
        await photographer.aclose()
        await visitor.aclose()
        await engine.dispose()


async def _observe(photographer: Client, visitor: Client, event_id: int, slug: str,
                   images: list[dict]) -> Snapshot:
    snap = Snapshot(email=photographer.email, photographer_id=photographer.photographer_id,
                    event_id=event_id, slug=slug, image_ids=[i["id"] for i in images])
    for image_id in snap.image_ids:
        snap.thumbs[image_id] = await _file(photographer, f"/panel/media/thumb/{image_id}")
        snap.originals[image_id] = await _file(photographer,
                                               f"/panel/media/original/{image_id}")
    snap.report = (await photographer.get("/panel/activity",
                                          headers={"Accept": "application/json"})).json()
    snap.feed = (await photographer.get("/panel/activity/feed.json")).json()["feed"]
    snap.visitor_cookies = dict(visitor.http.cookies)
    assert [f["kind"] for f in snap.feed] == ["comment_added", "favorite_added",
                                              "favorite_added", "visit"]
    return snap


async def _file(client: Client, url: str) -> bytes:
    res = await client.get(url)
    assert res.status_code == 200, (url, res.status_code)
    assert len(res.content) > 100
    return res.content


async def _favorite_later(server: Server, before: Snapshot) -> None:
    """An action after the backup: the source moves on, the backup must not have it."""
    visitor = Client(server.base_url)
    visitor.http.cookies.update(before.visitor_cookies)
    try:
        res = await visitor.post_json(
            f"/g/{before.slug}/images/{before.image_ids[2]}/favorite", {"on": True})
        assert res.status_code == 200, res.text
    finally:
        await visitor.aclose()


@pytest.fixture(scope="module", params=BACKENDS)
def populated(request, tmp_path_factory) -> Populated:
    tmp = tmp_path_factory.mktemp(f"backup-{request.param}")
    servers = serve_backend(request.param, tmp)
    server = next(servers)
    try:
        before = asyncio.run(_populate(server))
        archive = tmp / "proofroom-backup.tar.gz"
        done = proofroom(server.env, "backup", str(archive))  # while the server is serving
        assert done.returncode == 0, done.stderr
        asyncio.run(_favorite_later(server, before))
        yield Populated(server, archive, before)
    finally:
        servers.close()  # stops the server, drops its database


# --- an empty target instance -------------------------------------------------------------

@dataclass
class Target:
    backend: str
    var: Path
    env: dict
    serve: Callable  # conftest's own_redis_server
    database: str | None = None
    server: Server | None = None

    @property
    def media(self) -> Path:
        return self.var / "media"

    def start(self) -> Server:
        """A server on the restored database and media folder."""
        url = self.env.get("DATABASE_URL") or f"sqlite:///{self.var / 'proofroom.db'}"
        self.server, _ = self.serve(self.backend, own_redis=False, database_url=url,
                                    env={"MEDIA_ROOT": str(self.media)})
        return self.server

    def tables(self) -> list:
        if self.backend == "sqlite" and not (self.var / "proofroom.db").exists():
            return []
        return asyncio.run(self._read(lambda c: inspect(c).get_table_names()))

    def revision(self) -> str:
        return asyncio.run(self._read(
            lambda c: c.execute(text("SELECT version_num FROM alembic_version")).scalar()))

    async def _read(self, query):
        engine = create_async_engine(Settings.from_env(self.env).database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(query)
        finally:
            await engine.dispose()


@pytest.fixture
def target(populated, tmp_path_factory, own_redis_server) -> Target:
    # Not tmp_path: a folder named after a long test would make the embedded Redis's unix
    # socket path too long.
    tmp_path = tmp_path_factory.mktemp("target")
    backend = populated.server.backend
    env = {**os.environ, "PROOFROOM_VAR": str(tmp_path / "restored"),
           "SECRET_KEY": populated.server.env["SECRET_KEY"]}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("MEDIA_ROOT", None)
    found = Target(backend, tmp_path / "restored", env, own_redis_server)
    if backend == "postgres":
        found.database = asyncio.run(_create_pg_database())
        env["DATABASE_URL"] = f"{PG_BASE}/{found.database}"
    yield found
    if found.server:
        found.server.stop()
    if found.database:
        asyncio.run(_drop_pg_database(found.database))


# --- the round trip -----------------------------------------------------------------------

def test_a_restored_instance_migrates_serves_and_continues_the_seq(populated, target):
    done = proofroom(target.env, "restore", str(populated.archive))
    assert done.returncode == 0, done.stderr
    assert "Restored the backup" in done.stdout
    server = target.start()
    asyncio.run(_check_restored(server, populated.before))


async def _check_restored(server: Server, before: Snapshot) -> None:
    photographer, visitor = Client(server.base_url), Client(server.base_url)
    engine = server.engine()
    try:
        res = await photographer.post_form("/login", {"email": before.email,
                                                      "password": PASSWORD})
        assert res.status_code == 303, res.text
        detail = await photographer.get(f"/panel/events/{before.event_id}")
        assert detail.status_code == 200 and "Backup Wedding" in detail.text
        images = (await photographer.get(
            f"/panel/events/{before.event_id}/images.json")).json()["images"]
        assert [(i["id"], i["state"]) for i in images] == [
            (image_id, "ready") for image_id in before.image_ids]
        for image_id in before.image_ids:
            assert await _file(photographer, f"/panel/media/thumb/{image_id}") == \
                before.thumbs[image_id]
            assert await _file(photographer, f"/panel/media/original/{image_id}") == \
                before.originals[image_id]
        # The client's browser (its cookies, its device row) is still known to the gallery.
        visitor.http.cookies.update(before.visitor_cookies)
        assert (await visitor.get(f"/g/{before.slug}")).status_code == 200
        thumb = await _file(visitor, f"/g/{before.slug}/media/thumb/{before.image_ids[0]}")
        assert thumb == before.thumbs[before.image_ids[0]]
        assert (await photographer.get("/panel/activity", headers={
            "Accept": "application/json"})).json() == before.report
        assert (await photographer.get("/panel/activity/feed.json")).json()["feed"] == \
            before.feed
        await _check_seq_continues(photographer, visitor, engine, before)
    finally:
        await photographer.aclose()
        await visitor.aclose()
        await engine.dispose()


async def _check_seq_continues(photographer: Client, visitor: Client, engine,
                               before: Snapshot) -> None:
    last = before.feed[0]["seq"]
    res = await visitor.post_json(
        f"/g/{before.slug}/images/{before.image_ids[2]}/favorite", {"on": True})
    assert res.status_code == 200, res.text
    feed = (await photographer.get("/panel/activity/feed.json")).json()["feed"]
    assert (feed[0]["seq"], feed[0]["kind"]) == (last + 1, "favorite_added")
    seqs = [r[0] for r in await rows(
        engine, "SELECT seq FROM activity_events WHERE photographer_id = :p ORDER BY seq",
        p=before.photographer_id)]
    assert seqs == list(range(1, last + 2))  # no gap, no duplicate


# --- refusals -----------------------------------------------------------------------------

def test_restore_into_a_database_in_use_refuses_and_changes_nothing(populated):
    """The source instance itself: it is serving and has moved on since the backup."""
    server = populated.server
    media_before = media_files(server.media_root)
    seqs_before = asyncio.run(_seqs(server, populated.before.photographer_id))
    assert len(seqs_before) == populated.before.feed[0]["seq"] + 1  # the later favorite

    line = refusal(proofroom(server.env, "restore", str(populated.archive)))
    assert "not empty" in line and "--force" in line

    assert asyncio.run(_seqs(server, populated.before.photographer_id)) == seqs_before
    assert media_files(server.media_root) == media_before


async def _seqs(server: Server, photographer_id: int) -> list:
    engine = server.engine()
    try:
        return await rows(engine, "SELECT seq, kind FROM activity_events "
                                  "WHERE photographer_id = :p ORDER BY seq", p=photographer_id)
    finally:
        await engine.dispose()


def test_force_replaces_a_non_empty_instance(populated, target):
    assert proofroom(target.env, "restore", str(populated.archive)).returncode == 0
    restored = media_files(target.media)
    assert restored and all(name.split("/")[0] in ("original", "thumb", "preview")
                            for name in restored)
    stray = target.media / "thumb" / "zz" / "stray.jpg"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not from the backup")

    assert "not empty" in refusal(proofroom(target.env, "restore", str(populated.archive)))
    assert stray.exists()

    done = proofroom(target.env, "restore", "--force", str(populated.archive))
    assert done.returncode == 0, done.stderr
    assert media_files(target.media) == restored  # the stray file went with the old folder
    assert not [p for p in target.var.iterdir() if p.name.startswith(".proofroom-")]


def test_garbage_and_cut_short_files_are_refused(populated, target, tmp_path):
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(os.urandom(4096))
    assert refusal(proofroom(target.env, "restore", str(garbage))).endswith(
        "is not a Proofroom backup")

    foreign = tmp_path / "foreign.tar.gz"  # a real archive, but not one of ours
    with tarfile.open(foreign, "w:gz") as tar:
        data = b'{"hello": "world"}'
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert "is not a Proofroom backup" in refusal(
        proofroom(target.env, "restore", str(foreign)))

    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(populated.archive.read_bytes()[: populated.archive.stat().st_size // 2])
    assert "is not a Proofroom backup" in refusal(proofroom(target.env, "restore", str(cut)))

    future = tmp_path / "future.tar.gz"  # ours, from a Proofroom with a newer schema
    with tarfile.open(populated.archive) as src, tarfile.open(future, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "manifest.json":
                data = json.dumps({**json.loads(data), "alembic_revision": "9999"}).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    assert "newer than this Proofroom" in refusal(
        proofroom(target.env, "restore", str(future)))

    missing = tmp_path / "nowhere.tar.gz"
    assert refusal(proofroom(target.env, "restore", str(missing))).endswith("no such file")

    assert target.tables() == []  # nothing was restored
    assert not media_files(target.media) if target.media.exists() else True


def test_a_backup_of_another_backend_is_refused(populated, target):
    env = dict(target.env)
    if target.backend == "sqlite":
        env["DATABASE_URL"] = f"{PG_BASE}/proofroom_never_created"
    else:
        env.pop("DATABASE_URL")
    line = refusal(proofroom(env, "restore", str(populated.archive)))
    assert "configured database is" in line
    assert target.tables() == []
    assert not target.media.exists()


def test_the_manifest_names_no_database_url_or_password(populated, tmp_path):
    env = dict(populated.server.env)
    if populated.server.backend == "postgres":  # trust auth: the password goes unused
        env["DATABASE_URL"] = env["DATABASE_URL"].replace("postgres@", "postgres:hunter2-pw@")
    archive = tmp_path / "again.tar.gz"
    done = proofroom(env, "backup", str(archive))
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert set(manifest) == {"format", "version", "backend", "alembic_revision",
                             "created_at", "media_files", "secret_key"}
    assert manifest["backend"] == {"sqlite": "sqlite", "postgres": "postgresql"}[
        populated.server.backend]
    text = json.dumps(manifest)
    assert "hunter2" not in text and "127.0.0.1" not in text and "/" not in text
    assert oct(archive.stat().st_mode & 0o777) == "0o600"  # it holds password hashes


def test_an_older_backup_is_migrated_to_head_by_restore(target, tmp_path_factory):
    """A backup of the schema one migration back comes up to date during the restore
    itself, before any server starts."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    older = script.get_revision(head).down_revision
    source = dict(target.env, PROOFROOM_VAR=str(tmp_path_factory.mktemp("older")))
    database = None
    if target.backend == "postgres":
        database = asyncio.run(_create_pg_database())
        source["DATABASE_URL"] = f"{PG_BASE}/{database}"
    try:
        upgrade(Settings.from_env(source).database_url, older)
        archive = Path(source["PROOFROOM_VAR"]) / "older.tar.gz"
        assert proofroom(source, "backup", str(archive)).returncode == 0
        done = proofroom(target.env, "restore", str(archive))
        assert done.returncode == 0, done.stderr
    finally:
        if database:
            asyncio.run(_drop_pg_database(database))
    with tarfile.open(archive) as tar:
        assert json.loads(tar.extractfile("manifest.json").read())["alembic_revision"] == older
    assert target.revision() == head


def test_a_failed_backup_leaves_the_previous_archive_whole(tmp_path):
    """The archive grows past a file size limit half-way: the backup says so in one line,
    and the archive already at PATH is untouched, with nothing left beside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEDIA_ROOT")}
    env.update(PROOFROOM_VAR=str(tmp_path / "var"), SECRET_KEY="s")
    (tmp_path / "var").mkdir()
    upgrade(Settings.from_env(env).database_url)  # about 250 KB of database
    photo = tmp_path / "var" / "media" / "original" / "ab" / "ab12.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(os.urandom(3_000_000))  # incompressible, past the limit below
    out = tmp_path / "out"
    out.mkdir()
    (out / "backup.tar.gz").write_bytes(b"yesterday's backup")

    def limit_files() -> None:  # in the child: EFBIG past 1 MB, not a killing SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    done = subprocess.run([sys.executable, "-m", "server.cli", "backup",
                           str(out / "backup.tar.gz")], env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=limit_files, check=False)
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("proofroom backup: cannot write"), line
    assert (out / "backup.tar.gz").read_bytes() == b"yesterday's backup"
    assert [p.name for p in out.iterdir()] == ["backup.tar.gz"]


# --- a backup while clients write (SQLite) ------------------------------------------------

@pytest.fixture
def busy_sqlite(tmp_path_factory):
    if "sqlite" not in BACKENDS:
        pytest.skip("SQLite not in PROOFROOM_TEST_BACKENDS")
    yield from serve_backend("sqlite", tmp_path_factory.mktemp("busy"))


def test_a_backup_under_writes_is_one_consistent_snapshot(busy_sqlite, tmp_path):
    """Three backups while six clients toggle favorites as fast as the server answers.
    A reader holds an old snapshot meanwhile, as a slow report would: the checkpointer
    cannot move the WAL into the database file, so a copy of the file alone would miss
    every write since (the backup must read through the WAL)."""
    pin = sqlite3.connect(busy_sqlite.var_dir / "proofroom.db", isolation_level=None)
    try:
        pin.execute("BEGIN")
        pin.execute("SELECT count(*) FROM activity_events").fetchone()
        snapshots = asyncio.run(_backups_under_writes(busy_sqlite, tmp_path))
    finally:
        pin.close()
    for archive, acked_before in snapshots:
        with tarfile.open(archive) as tar:
            tar.extract("database.sqlite3", tmp_path / archive.stem, filter="data")
        db = sqlite3.connect(tmp_path / archive.stem / "database.sqlite3")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            _assert_consistent(db, acked_before)
        finally:
            db.close()


VISITORS = 6


async def _backups_under_writes(server: Server, tmp: Path) -> list[tuple[Path, int]]:
    engine = server.engine()
    photographer = Client(server.base_url)
    visitors = [Client(server.base_url) for _ in range(VISITORS)]
    acked = [0]
    stop = asyncio.Event()
    try:
        await sign_up(photographer, engine)
        _, slug, images = await released_gallery(photographer, VISITORS)
        for n, visitor in enumerate(visitors):
            await gate_contact_id(visitor, slug, email=f"writer{n}@example.com")
        writers = [asyncio.create_task(_toggle(v, slug, images[n]["id"], stop, acked))
                   for n, v in enumerate(visitors)]
        await asyncio.sleep(1)
        snapshots = []
        for n in range(3):
            acked_before = acked[0]
            archive = tmp / f"busy-{n}.tar.gz"
            backup = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server.cli", "backup", str(archive), env=server.env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await backup.communicate()
            assert backup.returncode == 0, err.decode()
            assert acked[0] > acked_before, "no write landed while the backup ran"
            snapshots.append((archive, acked_before))
        stop.set()
        await asyncio.gather(*writers)
        return snapshots
    finally:
        for client in (photographer, *visitors):
            await client.aclose()
        await engine.dispose()


async def _toggle(visitor: Client, slug: str, image_id: int, stop: asyncio.Event,
                  acked: list[int]) -> None:
    on = True
    while not stop.is_set():
        res = await visitor.post_json(f"/g/{slug}/images/{image_id}/favorite", {"on": on})
        assert res.status_code == 200, res.text
        acked[0] += 1
        on = not on


def _assert_consistent(db: sqlite3.Connection, acked_before: int) -> None:
    """State and log agree in the copy: the seq has no gap and matches the counter kept
    on the photographer, and each client's favorites are their adds minus their removes."""
    ((pid, counter),) = db.execute(
        "SELECT id, last_event_seq FROM photographers WHERE last_event_seq > 0").fetchall()
    seqs = [r[0] for r in db.execute(
        "SELECT seq FROM activity_events WHERE photographer_id = ? ORDER BY seq", (pid,))]
    assert seqs == list(range(1, counter + 1))
    # Every toggle acknowledged before the backup started is in it (plus the gate visits).
    assert counter >= acked_before + VISITORS
    for contact_id, favorites in db.execute(
            "SELECT c.id, (SELECT count(*) FROM favorites f WHERE f.contact_id = c.id) "
            "FROM contacts c WHERE c.photographer_id = ?", (pid,)).fetchall():
        added, removed = (db.execute(
            "SELECT count(*) FROM activity_events WHERE contact_id = ? AND kind = ?",
            (contact_id, kind)).fetchone()[0] for kind in ("favorite_added",
                                                          "favorite_removed"))
        assert favorites == added - removed



def test_the_generated_secret_key_travels_with_the_backup(tmp_path):
    """Embedded default without SECRET_KEY: cookies and emailed links are signed with
    var/secret_key, so a restore brings it along; a SECRET_KEY set on the target wins."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "MEDIA_ROOT", "SECRET_KEY")}
    source, target, keyed = (dict(base, PROOFROOM_VAR=str(tmp_path / name))
                             for name in ("source", "target", "keyed"))
    keyed["SECRET_KEY"] = "set-by-the-operator"
    assert proofroom(source, "migrate").returncode == 0
    archive = tmp_path / "with-key.tar.gz"
    assert proofroom(source, "backup", str(archive)).returncode == 0
    for env in (target, keyed):
        (Path(env["PROOFROOM_VAR"]) / "secret_key").parent.mkdir()
        (Path(env["PROOFROOM_VAR"]) / "secret_key").write_text("the target's own")
        done = proofroom(env, "restore", str(archive))
        assert done.returncode == 0, done.stderr
    key = (tmp_path / "source" / "secret_key").read_text()
    assert (tmp_path / "target" / "secret_key").read_text() == key
    assert (tmp_path / "keyed" / "secret_key").read_text() == "the target's own"
