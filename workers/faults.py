"""Fault injection for the fault tests. Never set these outside tests.

SDX_FAULT_KILL_GLOB="<stage>:<glob>": the worker process kills itself (SIGKILL, like a decoder segfault or the OOM
killer) whenever it starts that stage on a file whose path matches the glob.

SDX_FAULT_DROP_DB_GLOB="<stage>:<glob>": the first time a worker reports progress in that stage of a matching
file (inside a channel, from the heartbeat's transaction), Postgres terminates that connection, as a server restart
or a failover would. Once per file and stage across every worker process: a marker file is created (O_EXCL) in
``<data dir>/fault-markers``, so tests can count the drops and a retry runs clean.
"""

from __future__ import annotations

import fnmatch
import os
import signal
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
