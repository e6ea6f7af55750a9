"""Fault injection for the fault tests. Never set these outside tests.

SDX_FAULT_KILL_GLOB="<stage>:<glob>": the worker process kills itself (SIGKILL, like a decoder segfault or the OOM
killer) whenever it starts that stage on a file whose path matches the glob.

SDX_FAULT_DROP_DB_GLOB="<stage>:<glob>": the first time a worker reports progress in that stage of a matching
file (inside a channel, from the heartbeat's transaction), Postgres terminates that connection, as a server restart
or a failover would. Once per file and stage across every worker process: a marker file is created (O_EXCL) in
``<data dir>/fault-markers``, so tests can count the drops and a retry runs clean.

SDX_FAULT_PAUSE_GLOB="<glob>[;<glob>...]" with SDX_FAULT_PAUSE_DIR=<folder>: an in-process ingest of a matching
file stops after its channels ran and before their result is written, writes ``<folder>/<name>.<k>.paused`` (k
counts the passes over that file, from 1) and waits until ``<folder>/<name>.<k>.go`` exists: a test changes the
file at exactly that point, from outside the process.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import time
from pathlib import Path

from sqlalchemy.orm import Session

from db.session import terminate_own_connection

ENV = "SDX_FAULT_KILL_GLOB"
DROP_DB_ENV = "SDX_FAULT_DROP_DB_GLOB"
MARKERS = "fault-markers"


def _matches(env: str, stage: str, path: str) -> bool:
    spec = os.environ.get(env)
    if not spec or ":" not in spec:
        return False
    wanted_stage, pattern = spec.split(":", 1)
    return wanted_stage in (stage, "*") and fnmatch.fnmatch(path, pattern)


PAUSE_ENV, PAUSE_DIR_ENV = "SDX_FAULT_PAUSE_GLOB", "SDX_FAULT_PAUSE_DIR"
PAUSE_LIMIT_S = 300.0


def maybe_pause(path: str) -> None:
    """Hand the file to the test between reading it and writing its result (see above)."""
    patterns, folder = os.environ.get(PAUSE_ENV), os.environ.get(PAUSE_DIR_ENV)
    if not patterns or not folder or not any(fnmatch.fnmatch(path, p) for p in patterns.split(";")):
        return
    name = Path(path).name
    k = 1
    while (Path(folder) / f"{name}.{k}.paused").exists():
        k += 1
    (Path(folder) / f"{name}.{k}.paused").touch()
    go = Path(folder) / f"{name}.{k}.go"
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def maybe_kill(stage: str, path: str) -> None:
    if _matches(ENV, stage, path):
        os.kill(os.getpid(), signal.SIGKILL)


def maybe_drop_connection(stage: str, path: str, media_id: int, data_dir: Path, session: Session) -> None:
    """Terminate ``session``'s connection the first time this stage of this file gets here (see above)."""
    if not _matches(DROP_DB_ENV, stage, path):
        return
    folder = data_dir / MARKERS
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(folder / f"drop-{stage}-{media_id}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    terminate_own_connection(session)
