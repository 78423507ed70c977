"""`proofroom backup PATH` and `proofroom restore PATH`: one archive holding an instance's
database, its media folder and (embedded default only) its generated secret key.

The archive is a gzip'd tar (FORMAT_VERSION 1):

    database.sqlite3   SQLite: a consistent online copy (sqlite3's backup API), or
    database.pgdump    PostgreSQL: `pg_dump --format=custom`
    media/             the media root as it is (original/, thumb/, preview/)
    secret_key         only when the instance signs with the generated var/secret_key
    manifest.json      {"format", "version", "backend", "alembic_revision", "created_at",
                        "media_files", "secret_key"}: no passwords, no URLs

The manifest is written last, so an archive cut short is refused as "not a Proofroom
backup" rather than restored in part. Settings come from the environment exactly as
`proofroom serve` reads them (Settings.from_env).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, literal, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from .config import Settings
from .migrate import alembic_config, upgrade

FORMAT = "proofroom-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SECRET = "secret_key"
DATABASE_FILE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
PG_BIN = Path("/usr/bin")


class BackupError(Exception):
    """A refusal or failure, said in one line for the operator."""


def backend_of(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


# --- backup ---------------------------------------------------------------------------------

def backup(settings: Settings, path: Path) -> dict:
    """Write the archive to `path` atomically (a temporary file beside it, then a rename):
    a failed backup never leaves a half file at `path`. Returns the manifest."""
    path = Path(path).resolve()
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a directory")
    backend = backend_of(settings)
    try:
        with tempfile.TemporaryDirectory(prefix=".proofroom-backup-", dir=path.parent) as work:
            dump = Path(work) / DATABASE_FILE[backend]
            # The database first, the media after: files of images added meanwhile are
            # harmless extras, whereas media first would leave rows whose files were never
            # copied.
            manifest = {"format": FORMAT, "version": FORMAT_VERSION, "backend": backend,
                        "alembic_revision": _dump_database(settings, dump),
                        "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
            _write_archive(path, Path(work) / "archive.part", dump, settings, manifest)
    except (OSError, sqlite3.Error) as exc:  # a full disk, a file size limit…
        raise BackupError(f"cannot write {path}: {exc}") from None
    return manifest


def _dump_database(settings: Settings, dump: Path) -> str:
    """Copy the database to `dump`; returns the copy's Alembic revision."""
    if settings.is_sqlite:
        revision = _sqlite_snapshot(_sqlite_path(settings), dump)
    else:
        # Read just before the dump: migrations run at deploys, not during a backup.
        revision = _database_state(settings.database_url)[0]
        _pg_dump(settings.database_url, dump)
    if revision is None:
        raise BackupError("the database has no Proofroom schema (run `proofroom migrate`)")
    return revision


def _write_archive(path: Path, part: Path, dump: Path, settings: Settings,
                   manifest: dict) -> None:
    # 0600: the archive holds password hashes, sessions and maybe the signing key.
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        # Level 1: photos do not compress; the database does, cheaply.
        with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
            tar.add(dump, arcname=dump.name)
            manifest["media_files"] = _add_media(tar, settings.media_root)
            secret = _generated_secret(settings)
            manifest["secret_key"] = secret is not None
            if secret is not None:
                tar.add(secret, arcname=SECRET)
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, path)  # same directory, so the rename is atomic
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # and durable: the new name survives a power cut
    finally:
        os.close(folder)


def _add_media(tar: tarfile.TarFile, root: Path) -> int:
    _add_dir(tar, "media")  # present even when there are no photos yet
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".part"):  # MediaStore's half-written file, renamed when done
                continue
            file = Path(folder) / name
            # A file deleted while we walk (an image removed meanwhile) is simply skipped.
            with contextlib.suppress(FileNotFoundError):
                tar.add(file, arcname=f"media/{file.relative_to(root).as_posix()}",
                        recursive=False)
                count += 1
    return count


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def _generated_secret(settings: Settings) -> Path | None:
    """var/secret_key when it is what this instance signs with (SECRET_KEY not set): cookies
    and emailed links keep working after a restore. A SECRET_KEY from the environment
    stays the operator's to carry."""
    path = settings.var_dir / SECRET
    if path.is_file() and path.read_text().strip() == settings.secret_key:
        return path
    return None


# --- SQLite ---------------------------------------------------------------------------------

def _sqlite_path(settings: Settings) -> Path:
    return Path(make_url(settings.database_url).database).resolve()


def _sqlite_snapshot(source: Path, dest: Path) -> str | None:
    """Copy a live database with the online backup API; returns its Alembic revision."""
    if not source.is_file():
        raise BackupError(f"no database at {source}: nothing to back up")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        # pages=-1 (the default): the whole copy is one step under one read transaction, so
        # it is one snapshot; in WAL mode the server's writers carry on meanwhile.
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy of {source} fails integrity_check: {check}")
        return _sqlite_revision(dst)
    finally:
        src.close()
        dst.close()


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: never migrated
        return None
    return row[0] if row else None


def _sqlite_restore(copy: Path, target: Path) -> None:
    """Pour the copy into the target with the backup API too: it replaces every page under
    the target's own locks and journal, so a stale -wal of the old file can never be
    replayed over the new one (as it could if the file were swapped by a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(copy)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot write {target} ({exc}); is Proofroom still running?") \
            from None
    finally:
        src.close()
        dst.close()


# --- PostgreSQL -----------------------------------------------------------------------------

def _pg_env(database_url: str) -> tuple[dict, str]:
    """libpq's variables for the configured URL, and the database name. The password goes
    through PGPASSWORD, never the command line (where `ps` would show it)."""
    url = make_url(database_url)
    env = dict(os.environ)
    for var, value in (("PGHOST", url.host or url.query.get("host")), ("PGPORT", url.port),
                       ("PGUSER", url.username), ("PGPASSWORD", url.password),
                       ("PGSSLMODE", url.query.get("sslmode") or url.query.get("ssl"))):
        if value:
            env[var] = str(value)
    return env, url.database or ""


def _pg_run(tool: str, args: list[str], database_url: str) -> None:
    env, name = _pg_env(database_url)
    command = [str(PG_BIN / tool), "--no-password", f"--dbname={name}", *args]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"{PG_BIN / tool} is missing (install postgresql-client)") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{tool} failed: {lines[0] if lines else done.returncode}")


def _pg_dump(database_url: str, dest: Path) -> None:
    # One snapshot (pg_dump's repeatable-read transaction) while the server keeps writing.
    _pg_run("pg_dump", ["--format=custom", f"--file={dest}"], database_url)


def _pg_restore(dump: Path, database_url: str) -> None:
    # --single-transaction: a restore that fails half-way changes nothing.
    _pg_run("pg_restore", ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                           "--single-transaction", str(dump)], database_url)


# --- the database, on either backend --------------------------------------------------------

def _database_state(database_url: str) -> tuple[str | None, list[str]]:
    """(Alembic revision or None, the tables holding rows) of the configured database."""
    try:
        return asyncio.run(_read_state(database_url))
    except (OSError, SQLAlchemyError) as exc:
        raise BackupError(f"cannot read the database: {str(exc).splitlines()[0]}") from None


async def _read_state(database_url: str) -> tuple[str | None, list[str]]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            filled = [name for name in tables if name != "alembic_version" and (
                await conn.execute(select(literal(1)).select_from(table(name)).limit(1))
            ).first()]
            revision = None
            if "alembic_version" in tables:
                revision = (await conn.execute(
                    text("SELECT version_num FROM alembic_version"))).scalar()
            return revision, filled
    finally:
        await engine.dispose()


# --- restore --------------------------------------------------------------------------------

def restore(settings: Settings, path: Path, force: bool = False) -> dict:
    """Refuse (BackupError) unless `path` is a backup of this backend with a revision this
    code knows and the target is empty (or `force`); then replace the database and the
    media, and migrate to head. Returns the manifest."""
    path = Path(path)
    with _open_archive(path) as tar:
        manifest = _read_manifest(tar, path)
        _check_compatible(settings, manifest)
        if not force:
            _check_empty(settings)
        try:
            _replace_instance(tar, manifest, settings)
        except OSError as exc:  # a full disk while unpacking, a read-only folder…
            raise BackupError(f"restore failed: {exc}") from None
    upgrade(settings.database_url)  # an older backup comes up to date
    return manifest


def _replace_instance(tar: tarfile.TarFile, manifest: dict, settings: Settings) -> None:
    settings.media_root.parent.mkdir(parents=True, exist_ok=True)
    # Staged beside the media root, so the new folder moves in with a rename.
    with tempfile.TemporaryDirectory(prefix=".proofroom-restore-",
                                     dir=settings.media_root.parent) as work:
        staged = _extract(tar, manifest, Path(work))
        dump = staged / DATABASE_FILE[manifest["backend"]]
        if manifest["backend"] == "sqlite":
            _sqlite_restore(dump, _sqlite_path(settings))
        else:
            _pg_restore(dump, settings.database_url)
        _swap_media(staged / "media", settings.media_root, Path(work) / "replaced")
        _restore_secret(staged / SECRET, settings)


def _open_archive(path: Path) -> tarfile.TarFile:
    if not path.exists():
        raise BackupError(f"{path}: no such file")
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise BackupError(f"{path} is not a Proofroom backup") from None


def _read_manifest(tar: tarfile.TarFile, path: Path) -> dict:
    try:
        member = tar.extractfile(MANIFEST)
        manifest = json.loads(member.read()) if member else None
    except (KeyError, ValueError, tarfile.TarError, OSError, EOFError, zlib.error):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a Proofroom backup (no {MANIFEST} of ours in it)")
    if manifest.get("version") != FORMAT_VERSION or manifest.get("backend") not in DATABASE_FILE:
        raise BackupError(f"{path} is a Proofroom backup of a format this version cannot "
                          f"read (version {manifest.get('version')!r})")
    return manifest


def _check_compatible(settings: Settings, manifest: dict) -> None:
    here = backend_of(settings)
    if manifest["backend"] != here:
        raise BackupError(f"this backup is of a {manifest['backend']} database but the "
                          f"configured database is {here}; set DATABASE_URL accordingly")
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(settings.database_url))
    known = {rev.revision for rev in script.walk_revisions()}
    if manifest.get("alembic_revision") not in known:
        raise BackupError(f"this backup's schema ({manifest.get('alembic_revision')}) is newer "
                          "than this Proofroom's: upgrade Proofroom first")


def _check_empty(settings: Settings) -> None:
    if settings.is_sqlite and not _sqlite_path(settings).exists():
        filled: list[str] = []
    else:
        filled = _database_state(settings.database_url)[1]
    if filled:
        raise BackupError(f"the configured database is not empty ({', '.join(filled[:3])}"
                          f"{'…' if len(filled) > 3 else ''} hold rows); "
                          "use --force to replace it")
    if any(p.is_file() for p in settings.media_root.rglob("*")):
        raise BackupError(f"the media folder {settings.media_root} is not empty; "
                          "use --force to replace it")


def _extract(tar: tarfile.TarFile, manifest: dict, work: Path) -> Path:
    """Unpack what we expect, nothing else, into `work`/staged. The "data" filter refuses
    absolute paths, `..` and links leading out."""
    wanted = {DATABASE_FILE[manifest["backend"]], SECRET}
    members = [m for m in tar.getmembers() if (m.isfile() or m.isdir()) and (
        m.name in wanted or m.name == "media" or m.name.startswith("media/"))]
    staged = work / "staged"
    try:
        tar.extractall(staged, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"the backup is damaged: {exc}") from None
    if not (staged / DATABASE_FILE[manifest["backend"]]).is_file():
        raise BackupError(f"the backup holds no {DATABASE_FILE[manifest['backend']]}")
    (staged / "media").mkdir(exist_ok=True)
    return staged


def _swap_media(new: Path, root: Path, replaced: Path) -> None:
    try:
        if root.exists():
            root.rename(replaced)
        new.rename(root)
    except OSError:
        # MEDIA_ROOT is a mount point (a shared volume): replace what is inside it instead.
        root.mkdir(parents=True, exist_ok=True)
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        shutil.copytree(new, root, dirs_exist_ok=True)
    shutil.rmtree(replaced, ignore_errors=True)


def _restore_secret(staged: Path, settings: Settings) -> None:
    """The backed-up generated key replaces this instance's generated one; a SECRET_KEY
    set in the environment wins and is left alone."""
    if staged.is_file() and _generated_secret(settings) is not None:
        target = settings.var_dir / SECRET
        shutil.copyfile(staged, target)
        target.chmod(0o600)
