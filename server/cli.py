"""`proofroom serve | worker | migrate | demo | createuser | backup | restore`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from .config import Settings


def _settings(port: int | None = None) -> Settings:
    if port is not None:
        os.environ.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    return Settings.from_env()


def cmd_migrate(args: argparse.Namespace) -> None:
    from .migrate import upgrade

    settings = _settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    print("Database is up to date.")


async def _demo(settings: Settings) -> tuple[str, str, bool]:
    from .db import Database
    from .demo import seed
    from .media import MediaStore

    db = Database(settings.database_url)
    try:
        return await seed(db, MediaStore(settings.media_root), settings.max_image_pixels,
                          base_url=settings.base_url)
    finally:
        await db.dispose()


async def _demo_slugs(settings: Settings) -> list[str]:
    """The demo account's released galleries, read from this installation's database."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from .demo_clients import demo_slugs

    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return list(await conn.scalars(demo_slugs()))
    finally:
        await engine.dispose()


def cmd_simulate(args: argparse.Namespace) -> None:
    """`proofroom demo --simulate`: clients acting live against a running server."""
    from .demo_clients import simulate

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per action is ours
    settings = _settings()
    base = (args.base or settings.base_url).rstrip("/")
    slugs = args.gallery or asyncio.run(_demo_slugs(settings))
    if not slugs:
        raise SystemExit("proofroom demo --simulate: no demo galleries here; start "
                         "`proofroom serve --demo` first, or name one with --gallery SLUG.")
    print(f"Simulating clients on {base} in {len(slugs)} galleries, one action every "
          f"{args.interval:g} s. Watch the dashboard; Ctrl-C stops.", flush=True)
    try:
        asyncio.run(simulate(base, slugs, interval=args.interval, actions=args.actions))
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)


def cmd_demo(args: argparse.Namespace) -> None:
    if args.simulate:
        cmd_simulate(args)
        return
    cmd_migrate(args)
    settings = _settings()
    print("Creating demo galleries (about 130 generated photos) and their visitors…",
          flush=True)
    email, password, created = asyncio.run(_demo(settings))
    print(("Demo data created." if created else "Demo data already present."), flush=True)
    _print_login(settings, email, password)


def _print_login(settings: Settings, email: str, password: str) -> None:
    print(f"\n  Proofroom demo login: {email} / {password}\n", flush=True)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .app import create_app
    from .migrate import upgrade

    port = args.port or int(os.environ.get("PORT", "8000"))
    settings = _settings(port)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    if args.demo:
        print("Preparing demo galleries (first run takes a little while)…", flush=True)
        email, password, _ = asyncio.run(_demo(settings))
        _print_login(settings, email, password)
    print(f"  Open {settings.base_url}/ in your browser.\n", flush=True)
    uvicorn.run(
        create_app(settings), host=args.host, port=port, log_level="info",
        ws_max_size=64 * 1024, ws_per_message_deflate=False, ws_ping_interval=30,
        proxy_headers=True, access_log=args.access_log,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    from .app import run_standalone_worker

    run_standalone_worker()


def cmd_createuser(args: argparse.Namespace) -> None:
    from .auth import create_account
    from .db import Database

    cmd_migrate(args)
    password = args.password or getpass.getpass("Password: ")

    async def create() -> None:
        db = Database(_settings().database_url)
        try:
            await create_account(db, email=args.email, name=args.name, password=password)
        finally:
            await db.dispose()

    asyncio.run(create())
    print(f"Created {args.email}.")


def _quiet_alembic() -> None:
    # Alembic announces its plugins at INFO when imported: a refusal should stay one line.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def cmd_backup(args: argparse.Namespace) -> None:
    _quiet_alembic()
    from .backup import BackupError, backup

    try:
        manifest = backup(_settings(), args.path)
    except BackupError as exc:
        raise SystemExit(f"proofroom backup: {exc}") from None  # one line, exit status 1
    print(f"Backed up the {manifest['backend']} database (revision "
          f"{manifest['alembic_revision']}) and {manifest['media_files']} media files "
          f"to {args.path}.")


def cmd_restore(args: argparse.Namespace) -> None:
    _quiet_alembic()
    from .backup import BackupError, restore

    settings = _settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    try:
        manifest = restore(settings, args.path, force=args.force)
    except BackupError as exc:
        raise SystemExit(f"proofroom restore: {exc}") from None
    print(f"Restored the backup of {manifest['created_at']} ({manifest['media_files']} "
          "media files); the database is migrated and up to date.")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="proofroom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web app (embedded default unless configured)")
    serve.add_argument("--demo", action="store_true", help="create demo data first")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="run an arq worker (needs REDIS_URL)").set_defaults(
        func=cmd_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    demo = sub.add_parser("demo", help="create the demo photographer, galleries and visitors; "
                                       "--simulate: clients acting live on a running server")
    demo.add_argument("--simulate", action="store_true",
                      help="act as clients against a running server until Ctrl-C")
    demo.add_argument("--base", help="the server's address (default: BASE_URL)")
    demo.add_argument("--gallery", action="append", metavar="SLUG",
                      help="a gallery to visit (repeatable; default: the demo galleries)")
    demo.add_argument("--interval", type=float, default=3.0, help="seconds between actions")
    demo.add_argument("--actions", type=int, default=None, help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo)
    create = sub.add_parser("createuser", help="create a photographer account")
    create.add_argument("email")
    create.add_argument("name")
    create.add_argument("--password")
    create.set_defaults(func=cmd_createuser)
    back = sub.add_parser("backup", help="write the database and media to one archive")
    back.add_argument("path", type=Path, help="the archive to write (e.g. proofroom.tar.gz)")
    back.set_defaults(func=cmd_backup)
    rest = sub.add_parser("restore", help="restore an archive written by `proofroom backup`")
    rest.add_argument("path", type=Path)
    rest.add_argument("--force", action="store_true",
                      help="replace a database and media folder that are not empty")
    rest.set_defaults(func=cmd_restore)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
