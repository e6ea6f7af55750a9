"""Queued ingest jobs and the files they hold. Callers commit; locking reads use FOR UPDATE so two workers
never both move the same file forward."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import FileStage, FileState, Job, JobFile, JobState, MediaFile

TERMINAL_FILE_STATES = (FileState.DONE, FileState.FAILED, FileState.CANCELLED)
OPEN_JOB_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.SYNCING)


def _now() -> datetime:
    return datetime.now(UTC)


def create_job(session: Session, settings: dict[str, Any], paths: Sequence[str], created_by: str,
               media_ids: Sequence[int], ocr_again: Sequence[int] = ()) -> Job:
    """A job indexing ``media_ids`` (from the probe stage on) and reading the on-screen text of ``ocr_again``
    again (the OCR stage alone)."""
    job = Job(kind="index", state=JobState.QUEUED, settings=settings, paths=list(paths), created_by=created_by)
    session.add(job)
    session.flush()
    stages = {**{m: FileStage.OCR for m in ocr_again}, **{m: FileStage.PROBE for m in media_ids}}
    session.add_all(JobFile(job_id=job.id, media_id=m, stage=stage, state=FileState.QUEUED, attempts=0,
                            progress=0.0, work_s=0.0) for m, stage in stages.items())
    session.flush()
    return job


def get_job(session: Session, job_id: int, lock: bool = False) -> Job | None:
    query = select(Job).where(Job.id == job_id)
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def lock_file(session: Session, job_id: int, media_id: int) -> JobFile | None:
    """The job's row for this file, locked until the transaction ends."""
    return session.scalars(select(JobFile).where(JobFile.job_id == job_id, JobFile.media_id == media_id)
                           .with_for_update()).one_or_none()


def start_attempt(session: Session, row: JobFile, worker: str) -> None:
    row.state, row.claimed_by, row.attempts, row.updated_at = FileState.RUNNING, worker, row.attempts + 1, _now()
    session.execute(update(Job).where(Job.id == row.job_id, Job.state == JobState.QUEUED)
                    .values(state=JobState.RUNNING, updated_at=_now()))


def release(session: Session, job_id: int, media_id: int, worker: str, refund_attempt: bool = False) -> None:
    """Hand a file back to the queue after an error (only when ``worker`` still holds it); ``refund_attempt``: the
    error was the infrastructure's, so this start does not count against the file's attempts."""
    session.execute(update(JobFile).where(JobFile.job_id == job_id, JobFile.media_id == media_id,
                                          JobFile.state == FileState.RUNNING, JobFile.claimed_by == worker)
                    .values(state=FileState.QUEUED, claimed_by=None, updated_at=_now(),
                            attempts=JobFile.attempts - (1 if refund_attempt else 0)))


def heartbeat(session: Session, job_id: int, media_id: int, worker: str, progress: float) -> None:
    session.execute(update(JobFile).where(JobFile.job_id == job_id, JobFile.media_id == media_id,
                                          JobFile.claimed_by == worker, JobFile.state == FileState.RUNNING)
                    .values(progress=progress, updated_at=_now()))


def advance(session: Session, row: JobFile, stage: FileStage, progress: float, work_s: float) -> None:
    row.stage, row.state, row.attempts, row.claimed_by = stage, FileState.QUEUED, 0, None
    row.progress, row.work_s, row.updated_at = progress, row.work_s + work_s, _now()


def finish_file(session: Session, row: JobFile, state: FileState, work_s: float = 0.0,
                error: str | None = None) -> None:
    row.stage = FileStage.FINISHED
    row.state, row.error, row.claimed_by = state, error, None
    row.progress, row.work_s, row.updated_at, row.finished_at = 1.0, row.work_s + work_s, _now(), _now()


def open_files(session: Session, job_id: int) -> int:
    return session.scalar(select(func.count()).select_from(JobFile).where(
        JobFile.job_id == job_id, JobFile.state.not_in(TERMINAL_FILE_STATES))) or 0


def files_in_state(session: Session, job_id: int, state: FileState) -> int:
    return session.scalar(select(func.count()).select_from(JobFile).where(
        JobFile.job_id == job_id, JobFile.state == state)) or 0


def set_job_state(session: Session, job: Job, state: JobState) -> None:
    job.state, job.updated_at = state, _now()
    if state in (JobState.DONE, JobState.CANCELLED):
        job.finished_at = _now()


@dataclass(frozen=True)
class StaleFile:
    job_id: int
    media_id: int
    stage: str
    state: str


def claim_stale_files(session: Session, older_than_s: float, states: Sequence[str], limit: int = 100
                      ) -> list[StaleFile]:
    """Files in ``states`` untouched for ``older_than_s``; touched now, so another reconciler skips them."""
    cutoff = _now() - timedelta(seconds=older_than_s)
    rows = list(session.scalars(select(JobFile).where(JobFile.state.in_(states), JobFile.updated_at < cutoff)
                                .order_by(JobFile.id).limit(limit).with_for_update(skip_locked=True)))
    for row in rows:
        row.updated_at = _now()
    return [StaleFile(r.job_id, r.media_id, r.stage, r.state) for r in rows]


def claim_stale_syncs(session: Session, older_than_s: float) -> list[int]:
    cutoff = _now() - timedelta(seconds=older_than_s)
    jobs = list(session.scalars(select(Job).where(Job.state == JobState.SYNCING, Job.updated_at < cutoff)
                                .with_for_update(skip_locked=True)))
    for job in jobs:
        job.updated_at = _now()
    return [j.id for j in jobs]


def cancel_job(session: Session, job_id: int) -> int:
    """Cancel what has not finished; returns the number of files cancelled. Files already written stay."""
    result = session.execute(update(JobFile).where(JobFile.job_id == job_id,
                                                   JobFile.state.not_in(TERMINAL_FILE_STATES))
                             .values(state=FileState.CANCELLED, finished_at=_now(), updated_at=_now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def retry_job(session: Session, job_id: int) -> list[int]:
    """Put failed and cancelled files back at the start; returns their media ids."""
    rows = list(session.scalars(select(JobFile).where(
        JobFile.job_id == job_id, JobFile.state.in_((FileState.FAILED, FileState.CANCELLED))).with_for_update()))
    for row in rows:
        row.stage, row.state, row.attempts, row.error, row.claimed_by = (FileStage.PROBE, FileState.QUEUED, 0,
                                                                          None, None)
        row.progress, row.finished_at, row.updated_at = 0.0, None, _now()
    return [r.media_id for r in rows]


@dataclass(frozen=True)
class FileProgress:
    media_id: int
    path: str
    stage: str
    state: str
    progress: float
    attempts: int
    error: str | None
    media_status: str
    media_error: str | None


@dataclass(frozen=True)
class JobOverview:
    id: int
    state: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]  # file state -> count
    work_s: float
    files: list[FileProgress]


def job_overviews(session: Session, limit: int = 5, job_id: int | None = None) -> list[JobOverview]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if job_id is not None:
        query = select(Job).where(Job.id == job_id)
    out = []
    for job in session.scalars(query):
        rows = session.execute(select(JobFile, MediaFile.path, MediaFile.status, MediaFile.error_reason).join(
            MediaFile, MediaFile.id == JobFile.media_id).where(JobFile.job_id == job.id).order_by(JobFile.id)).all()
        counts: dict[str, int] = {}
        files = []
        for row, path, media_status, media_error in rows:
            counts[row.state] = counts.get(row.state, 0) + 1
            files.append(FileProgress(row.media_id, path, row.stage, row.state, row.progress, row.attempts, row.error,
                                      str(media_status), media_error))
        out.append(JobOverview(job.id, job.state, job.created_at, job.finished_at, counts,
                               sum(r.work_s for r, *_ in rows), files))
    return out


def open_jobs(session: Session) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.state.in_(OPEN_JOB_STATES)).order_by(Job.id)))
