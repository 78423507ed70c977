"""Settings, read once from the environment.

Only settings differ between the embedded default (SQLite + a private Redis + the worker
in-process) and production (PostgreSQL + Redis + separate arq workers).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
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
        )


def _async_driver(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the async driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
