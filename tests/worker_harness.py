"""Real processes for the queued-ingest tests: a private Redis server (so it can be restarted without touching
anyone else's) and `scenedex worker` subprocesses that can be SIGKILLed and started again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """redis-server on a free port, nothing kept on disk: a restart loses every queued message."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(self.folder)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), 10, "redis to start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class Worker:
    """`scenedex worker` in its own process group (SIGKILL takes the pool's children too)."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 1, pool: str = "prefork") -> None:
        self.env, self.log_path, self.concurrency, self.pool = env, log_path, concurrency, pool
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scenedex.cli", "-v", "worker", "--concurrency", str(self.concurrency),
             "--pool", self.pool, "--hostname", f"test{self.starts}@%h"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def children(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill(self, children_only: bool = False) -> None:
        assert self.process is not None
        if children_only:
            for pid in self.children():
                os.kill(pid, signal.SIGKILL)
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None


def worker_env(db_url: str, data_dir: Path, broker_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENEDEX_")}
    env.update({"SCENEDEX_DATABASE_URL": db_url, "SCENEDEX_DATA_DIR": str(data_dir), "SCENEDEX_BROKER_URL": broker_url,
                "SCENEDEX_DEVICE": "cpu", "SCENEDEX_WORKER_STALL_S": "8", "SCENEDEX_BROKER_VISIBILITY_TIMEOUT_S": "6",
                "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    env.update(extra)
    return env
