"""Settings, read once from the environment.

Only settings differ between the embedded default (SQLite + a private Redis + the worker
in-process) and production (PostgreSQL + Redis + separate arq workers).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path


def _default_secret(var_dir: Path) -> str:
    """A per-installation secret kept under var/, so sessions survive a restart."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Rate:
    """At most `count` per `seconds` (a fixed window that starts at the first hit)."""

    count: int
    seconds: int


@dataclass(frozen=True)
class Lockout:
    """`free` failures, then a lockout of `first` seconds that doubles with each further
    failure (capped at `longest`); the failure count is forgotten after `memory` seconds
    without one."""

    free: int
    first: int = 30
    longest: int = 3600
    memory: int = 24 * 3600


@dataclass(frozen=True)
class Limits:
    """What server/throttle.py enforces. Each can be set from the environment as
    PROOFROOM_LIMIT_<NAME>: `count/seconds` for a Rate, `free/first` (seconds) for a
    Lockout, a plain number for a cap on concurrent sockets or downloads; e.g.
    PROOFROOM_LIMIT_LOGIN_PER_ADDRESS=20/900, PROOFROOM_LIMIT_PIN_PER_VISITOR=5/30."""

    login_per_account: Rate = Rate(10, 900)  # failed logins per email
    login_per_address: Rate = Rate(20, 900)  # failed logins per client address
    login_global: Rate = Rate(200, 900)  # failed logins on the whole server
    signup_per_address: Rate = Rate(10, 3600)  # sign-up posts per address
    gate_per_address: Rate = Rate(30, 600)  # email-gate posts per address
    gate_per_gallery: Rate = Rate(300, 600)  # email-gate posts per gallery
    unlock_per_visitor: Rate = Rate(10, 900)  # wrong gallery passwords per gallery+address
    unlock_per_gallery: Rate = Rate(100, 900)  # wrong gallery passwords per gallery
    pin_per_visitor: Lockout = Lockout(5)  # wrong PINs per gallery+address+cookie
    pin_per_gallery: Lockout = Lockout(25)  # wrong PINs per gallery
    sockets_per_visitor: int = 8  # live gallery sockets per gate cookie (device)
    sockets_per_session: int = 8  # live panel sockets per login session
    sockets_per_address: int = 64  # live sockets of both kinds per address
    zips_per_visitor: int = 2  # concurrent bulk ZIP downloads per visitor
    zips_per_gallery: int = 10  # concurrent bulk ZIP downloads per gallery

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Limits:
        """Defaults, overridden by PROOFROOM_LIMIT_<NAME> variables; a malformed value
        stops the start with a message naming it."""
        values = {}
        for item in fields(cls):
            raw = env.get(f"PROOFROOM_LIMIT_{item.name.upper()}")
            if raw is None:
                continue
            default = getattr(cls, item.name)
            try:
                numbers = [int(part) for part in raw.replace(" ", "").split("/")]
                if isinstance(default, Rate):
                    values[item.name] = Rate(*numbers)
                elif isinstance(default, Lockout):
                    values[item.name] = replace(default, **dict(zip(("free", "first"),
                                                                    numbers, strict=False)))
                else:
                    (values[item.name],) = numbers
            except (TypeError, ValueError):
                raise ValueError(f"PROOFROOM_LIMIT_{item.name.upper()}={raw!r} is not "
                                 "`count/seconds`, `free/seconds` or a number") from None
        return cls(**values)


@dataclass
class Settings:
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""  # empty: start a private redis-server on a unix socket under var/
    secret_key: str = ""
    media_root: Path = Path("var/media")
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str = ""  # empty: mail stays in the outbox and the panel's mail log
    mail_from: str = "Proofroom <no-reply@proofroom.local>"
    run_worker: bool = True  # the arq worker inside the web process (embedded default)
    max_upload_bytes: int = 80 * 1024 * 1024
    max_image_pixels: int = 120_000_000
    secure_cookies: bool = False
    # A panel login ends after this long without a request, and this long after it began.
    session_idle: timedelta = timedelta(days=3)
    session_max_age: timedelta = timedelta(days=30)
    limits: Limits = field(default_factory=Limits)
    signup_open: bool = True  # PROOFROOM_SIGNUP=closed: accounts only via `proofroom createuser`
    metrics_token: str = ""  # PROOFROOM_METRICS_TOKEN: empty means no /metrics at all (404)
    # /healthz turns red when pending work (an image to process, an email to send) is older.
    job_late_after: timedelta = timedelta(minutes=15)
    extra: dict = field(default_factory=dict)

    @property
    def channel_namespace(self) -> str:
        """Pub/sub channels are global to a Redis server (not per database number), so two
        deployments sharing one Redis must not hear each other: derive a prefix from the
        database they share."""
        digest = hashlib.sha1(self.database_url.encode()).hexdigest()[:10]
        return f"proofroom:{digest}:"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("PROOFROOM_VAR", "var")).resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'proofroom.db'}"
        database_url = _async_driver(database_url)
        base_url = env.get("BASE_URL", f"http://127.0.0.1:{env.get('PORT', '8000')}")
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL", ""),
            secret_key=env.get("SECRET_KEY") or _default_secret(var_dir),
            media_root=Path(env.get("MEDIA_ROOT") or var_dir / "media").resolve(),
            base_url=base_url.rstrip("/"),
            smtp_url=env.get("SMTP_URL", ""),
            mail_from=env.get("MAIL_FROM", cls.mail_from),
            run_worker=env.get("PROOFROOM_WORKER", "inprocess") == "inprocess",
            secure_cookies=base_url.startswith("https://"),
            limits=Limits.from_env(env),
            signup_open=env.get("PROOFROOM_SIGNUP", "open").strip().lower() != "closed",
            metrics_token=env.get("PROOFROOM_METRICS_TOKEN", "").strip(),
            job_late_after=timedelta(minutes=float(env.get("PROOFROOM_JOB_LATE_MINUTES", 15))),
            session_idle=timedelta(hours=float(env.get("PROOFROOM_SESSION_IDLE_HOURS", 72))),
            session_max_age=timedelta(days=float(env.get("PROOFROOM_SESSION_MAX_DAYS", 30))),
        )


def _async_driver(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the async driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
