"""Index runs: what each `scenedex index` did, for status and for resuming."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import IndexRun


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_run(session: Session, command: str) -> IndexRun:
    host = socket.gethostname()
    # A run of this host still marked running whose process is gone was cut off (crash, kill -9): say so.
    for stale in session.scalars(select(IndexRun).where(IndexRun.status == "running", IndexRun.host == host)):
        if not _alive(stale.pid):
            stale.status = "crashed"
            stale.reason = f"process {stale.pid} on {host} ended without finishing the run (killed, or the machine " \
                           "stopped); run the same command again to go on"
    run = IndexRun(command=command, status="running", host=host, pid=os.getpid(), indexed=0, unchanged=0, failed=0,
                   removed=0)
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run_id: int, status: str, *, indexed: int, unchanged: int, failed: int,
               removed: int, reason: str | None = None) -> None:
    session.execute(update(IndexRun).where(IndexRun.id == run_id).values(
        status=status, finished_at=datetime.now(UTC), indexed=indexed, unchanged=unchanged, failed=failed,
        removed=removed, reason=reason))


def last_runs(session: Session, limit: int = 5) -> list[IndexRun]:
    return list(session.scalars(select(IndexRun).order_by(IndexRun.id.desc()).limit(limit)))
