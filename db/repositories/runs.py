"""Index runs: what each `scenedex index` did, for status and for resuming."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import IndexRun


def start_run(session: Session, command: str) -> IndexRun:
    # A run still marked running was cut off (crash, kill -9): say so instead of leaving it "running" forever.
    session.execute(update(IndexRun).where(IndexRun.status == "running").values(status="crashed"))
    run = IndexRun(command=command, status="running", indexed=0, unchanged=0, failed=0, removed=0)
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run_id: int, status: str, *, indexed: int, unchanged: int, failed: int,
               removed: int) -> None:
    session.execute(update(IndexRun).where(IndexRun.id == run_id).values(
        status=status, finished_at=datetime.now(UTC), indexed=indexed, unchanged=unchanged, failed=failed,
        removed=removed))


def last_runs(session: Session, limit: int = 5) -> list[IndexRun]:
    return list(session.scalars(select(IndexRun).order_by(IndexRun.id.desc()).limit(limit)))
