"""The embedded Postgres is stopped however a command is asked to stop: SIGTERM (service managers, `docker stop`)
and SIGHUP (a closed terminal) as Ctrl-C; a process killed outright leaves a stale handle that the next one cleans.
Real processes: `scenedex serve` and `scenedex index` on a private data directory and its embedded Postgres."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from db.embedded import HANDLE_FILE, prune_stale_handles
from scenedex.samples import Segment, make_clip
from tests.worker_harness import ROOT, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
SCENEDEX = [sys.executable, "-m", "scenedex.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENEDEX_")}
    env.update({"SCENEDEX_DATA_DIR": str(tmp_path / "data"), "SCENEDEX_CONFIG": str(tmp_path / "none.toml"),
                "SCENEDEX_DEVICE": "cpu", "SCENEDEX_OCR": "false", "SCENEDEX_SPEECH": "false",
                "PYTHONUNBUFFERED": "1"})
    return env


def _pgdata(tmp_path: Path) -> Path:
    return (tmp_path / "data" / "postgres").resolve()


def _postmaster_pid(tmp_path: Path) -> int | None:
    """The pid of the embedded server once it is up and ready (postmaster.pid's first and last lines)."""
    try:
        lines = (_pgdata(tmp_path) / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    return int(lines[0]) if len(lines) >= 8 and lines[7].strip() == "ready" else None


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


# the embedded Postgres stops within seconds on a quiet machine; a slow 2-core one under the whole suite once
# took more than 90 s (session 17), so the log says what it was doing if it ever takes this long
STOP_WAIT_S = 180


class _Serve:
    def __init__(self, tmp_path: Path, name: str) -> None:
        self.port = free_port()
        self.log = tmp_path / f"{name}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([*SCENEDEX, "serve", "--port", str(self.port)], cwd=ROOT,
                                            env=_env(tmp_path), stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: _healthy(self.port) or self.process.poll() is not None, 180, "the server to answer")
        assert self.process.poll() is None, self.log.read_text()

    def stop_with(self, signum: int) -> int:
        """The exit status after ``signum``; a server still running after STOP_WAIT_S fails with its log."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_WAIT_S} s after {signal.Signals(signum).name}:\n"
                        f"{self.log.read_text()}")
        finally:
            if self.process.poll() is None:
                self.process.kill()


def _handles(tmp_path: Path) -> list[int]:
    path = _pgdata(tmp_path) / HANDLE_FILE
    return json.loads(path.read_text() or "[]") if path.exists() else []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_serve_stops_its_embedded_postgres_on_a_signal_and_a_later_server_starts_clean(tmp_path: Path,
                                                                                        signum: int) -> None:
    first = _Serve(tmp_path, "first")
    postmaster = _postmaster_pid(tmp_path)
    assert postmaster is not None and _running(postmaster)
    assert first.stop_with(signum) == 128 + signum, first.log.read_text()
    assert not _running(postmaster), "the embedded Postgres outlived the server\n" + first.log.read_text()
    assert _handles(tmp_path) == []

    second = _Serve(tmp_path, "second")
    again = _postmaster_pid(tmp_path)
    assert again is not None and again != postmaster and _running(again)
    assert second.stop_with(signal.SIGTERM) == 128 + signal.SIGTERM, second.log.read_text()
    assert not _running(again) and _handles(tmp_path) == []


def test_a_server_killed_outright_leaves_a_stale_handle_that_the_next_one_cleans(tmp_path: Path) -> None:
    killed = _Serve(tmp_path, "killed")
    postmaster = _postmaster_pid(tmp_path)
    assert killed.stop_with(signal.SIGKILL) == -signal.SIGKILL
    assert postmaster is not None and _running(postmaster), "SIGKILL cannot clean up: the server stays"
    assert _handles(tmp_path) == [killed.process.pid]  # the stale pid that used to keep every later server up

    after = _Serve(tmp_path, "after")
    assert _handles(tmp_path) == [after.process.pid], "the dead server's pid was removed"
    assert after.stop_with(signal.SIGTERM) == 128 + signal.SIGTERM, after.log.read_text()
    assert not _running(postmaster) and _handles(tmp_path) == []


def test_index_stops_its_embedded_postgres_on_sigterm_and_the_next_run_resumes(tmp_path: Path) -> None:
    library = tmp_path / "library"
    for i in range(3):
        make_clip(library / f"clip{i}.mp4", [Segment("mandelbrot", 20.0, f"clip {i}")], size=(160, 120), clock=False)
    log = tmp_path / "index.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([*SCENEDEX, "index", str(library)], cwd=ROOT, env=_env(tmp_path), stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _postmaster_pid(tmp_path) is not None or process.poll() is not None, 180,
                 "the embedded Postgres to be ready")
        postmaster = _postmaster_pid(tmp_path)
        assert postmaster is not None, log.read_text()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert code in (0, 128 + signal.SIGTERM, 130), log.read_text()  # 0 only if it had already finished
    assert not _running(postmaster), "the embedded Postgres outlived `scenedex index`\n" + log.read_text()
    assert _handles(tmp_path) == []
    done = subprocess.run([*SCENEDEX, "index", str(library)], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "0 failed" in done.stdout, done.stdout + done.stderr


def test_prune_keeps_live_holders_and_drops_dead_ones(tmp_path: Path) -> None:
    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid names no process now
    (pgdata / HANDLE_FILE).write_text(json.dumps([os.getpid(), gone.pid]))
    assert prune_stale_handles(pgdata) == [gone.pid]
    assert json.loads((pgdata / HANDLE_FILE).read_text()) == [os.getpid()]
    assert prune_stale_handles(pgdata) == []
    later = subprocess.Popen(["sleep", "30"])  # alive, but started after the file was written: a reused pid
    try:
        os.utime(pgdata / HANDLE_FILE, (1.0, 1.0))
        (pgdata / HANDLE_FILE).write_text(json.dumps([later.pid]))
        os.utime(pgdata / HANDLE_FILE, (1.0, 1.0))  # the list was written long before that process started
        assert prune_stale_handles(pgdata) == [later.pid]
    finally:
        later.kill()
        later.wait()


def test_a_sighup_while_serving_stops_uvicorn_gracefully_and_is_raised_once_it_has() -> None:
    """A SIGHUP that landed inside a request's coroutine was caught by uvicorn as that request's error, and
    the server went on running (session 17, under the whole suite on a slow machine); now uvicorn is asked to
    stop, and scenedex's Terminated comes once it has: the embedded Postgres is stopped as after SIGTERM."""
    import uvicorn
    from fastapi import FastAPI

    from scenedex.runtime import Terminated, stop_on_signals
    from web.server import ServeServer

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGHUP, signal.SIGTERM)}
    try:
        stop_on_signals()
        server = ServeServer(uvicorn.Config(FastAPI()))
        asked_to_stop = False
        with pytest.raises(Terminated) as stopped:
            with server.capture_signals():
                signal.raise_signal(signal.SIGHUP)  # where a request's coroutine would be running
                asked_to_stop = server.should_exit  # reached: nothing was raised in the middle of serving
        assert asked_to_stop and stopped.value.signum == signal.SIGHUP
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
