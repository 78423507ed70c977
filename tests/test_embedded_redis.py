"""The embedded redis-server child: it dies with its parent (even on kill -9, even when the
thread that started it has ended), every start has its own socket path, and a stray of an
earlier start is stopped at the next one. Real redis-server and python processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import redis

from server.embedded_redis import EmbeddedRedis, find_redis_server

ROOT = Path(__file__).resolve().parents[1]

#: Starts the embedded Redis from a thread that then ends (as asyncio.to_thread's pool
#: threads do), prints the redis pid and socket, and waits to be killed.
PARENT = textwrap.dedent("""
    import sys, threading, time
    from server.embedded_redis import EmbeddedRedis
    embedded = EmbeddedRedis(sys.argv[1])
    starter = threading.Thread(target=embedded.start)
    starter.start()
    starter.join()
    print(embedded.process.pid, embedded.socket_path, flush=True)
    time.sleep(600)
""")


def gone(pid: int) -> bool:
    """No such process, or a zombie (this sandbox's init may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def wait_until(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def ping(socket_path: Path | str) -> bool:
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2)
    try:
        return client.ping()
    except redis.RedisError:
        return False
    finally:
        client.close()


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def orphan(*argv: str) -> int:
    """Start argv as an orphan (its parent shell exits at once), like a redis-server whose
    web process was killed before this fix; returns its pid."""
    shell = subprocess.run(
        ["sh", "-c", '"$@" >/dev/null 2>&1 </dev/null & echo $!', "sh", *argv],
        capture_output=True, text=True, check=True)
    return int(shell.stdout.strip())


def test_redis_dies_with_its_parent_on_kill_9_even_after_its_starting_thread_ended(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "var")],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    redis_pid = None
    try:
        line = parent.stdout.readline().split()
        assert line, "the parent process did not start its Redis"
        redis_pid, socket_path = int(line[0]), line[1]
        # The thread that started it has ended; the process lives on, and so must Redis.
        time.sleep(0.5)
        assert not gone(redis_pid) and ping(socket_path)

        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert wait_until(lambda: gone(redis_pid)), "redis-server outlived its parent"
    finally:
        kill(parent.pid)
        parent.wait(5)
        parent.stdout.close()
        if redis_pid:
            kill(redis_pid)


def test_a_stray_of_an_earlier_start_is_stopped_at_the_next_start_and_nothing_else(tmp_path):
    redis_dir = tmp_path / "var" / "redis"
    redis_dir.mkdir(parents=True)
    stray_socket = redis_dir / "redis-1-stray.sock"
    stray = orphan(find_redis_server(), "--port", "0", "--unixsocket", str(stray_socket),
                   "--save", "", "--appendonly", "no", "--dir", str(redis_dir))
    # A pidfile whose pid now belongs to something else (pid reuse): never signalled.
    bystander = orphan(shutil.which("sleep"), "300")
    records = {"redis-1-stray.pid": (stray, stray_socket),
               "redis-2-reused.pid": (bystander, redis_dir / "redis-2-reused.sock")}
    for name, (pid, sock) in records.items():
        (redis_dir / name).write_text(json.dumps({"pid": pid, "parent": 1_000_000_000,
                                                  "socket": str(sock)}))
    embedded = EmbeddedRedis(tmp_path / "var")
    try:
        assert wait_until(lambda: ping(stray_socket))
        embedded.start()

        assert gone(stray), "the stray redis-server is still running"
        assert not stray_socket.exists()
        assert not gone(bystander), "a process that is not our redis-server was signalled"
        assert sorted(p.name for p in redis_dir.iterdir()) == sorted(
            [embedded.socket_path.name, embedded.pidfile.name])
        assert ping(embedded.socket_path)
    finally:
        embedded.stop()
        kill(stray)
        kill(bystander)


def test_every_start_has_its_own_socket_and_an_earlier_ones_exit_cannot_break_the_next(
        tmp_path):
    first, second = EmbeddedRedis(tmp_path / "var"), EmbeddedRedis(tmp_path / "var")
    try:
        first.start()
        second.start()  # the first's starter (this process) still runs: not a stray
        assert first.socket_path != second.socket_path
        assert ping(first.socket_path) and ping(second.socket_path)

        first.stop()  # redis removes its socket file as it exits: only its own
        assert ping(second.socket_path)
        assert json.loads(second.pidfile.read_text()) == {
            "pid": second.process.pid, "parent": os.getpid(),
            "socket": str(second.socket_path)}
    finally:
        first.stop()
        second.stop()
    assert list((tmp_path / "var" / "redis").iterdir()) == []
