"""Queued ingest: one task per file and stage (probe → frames → text), each idempotent and keyed by ids.

A task claims its file's row (``FOR UPDATE``), does the stage's work outside any transaction, then moves the
file forward only if it still holds the claim; the text stage's write and the move to FINISHED share one
transaction, so a file is written once even when a task runs twice. Starts are counted: a file that crashed its
worker ``max_attempts`` times is recorded as failed and the queue goes on. When the last file of a job
finishes, one sync task brings the vector indexes up to date (one writer per index). The frames task reads the
on-screen text from the same decode when both sample the same pictures (the defaults) and stages it with the
frames, so a file is decoded once, and runs subtitles and speech meanwhile in a thread of its own (both staged
with the frames); the text task computes what was not staged and writes. An indexed file whose OCR
settings alone changed takes one task instead, the OCR stage (``workers.reread_ocr``: its on-screen text read
again, the rest kept); if that fails it goes back to the probe stage and is indexed again whole.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from db.models import FileStage, FileState, JobFile, JobState, MediaStatus
from db.repositories import jobs as jobs_repo
from db.repositories import library as library_repo
from db.session import Database
from workers import faults
from workers.channels import ChannelOutcome
from workers.ingest import (IngestConfig, ModelIds, Probed, commit_media, frames_stage, frames_task_stage,
                            probe_stage, text_stage)
from workers.models import QaTowerChannel, RunModels, TextChannels, VisionChannel
from workers.reread_ocr import read_again
from workers.staging import read_frames, read_text, remove_staged, staging_file, write_frames
from workers.vectors import sync_text_index, sync_vector_index

log = logging.getLogger(__name__)
STAGE_ORDER = (FileStage.PROBE, FileStage.FRAMES, FileStage.TEXT)
HEARTBEAT_EVERY_S = 2.0


@dataclass(frozen=True)
class StageTask:
    job_id: int
    media_id: int
    stage: FileStage


class TaskQueue(Protocol):
    def send_stage(self, task: StageTask, gpu: bool) -> None: ...
    def send_sync(self, job_id: int) -> None: ...


@dataclass(frozen=True)
class JobSetup:
    """What a job's settings mean on this machine."""

    ingest: IngestConfig
    vision: VisionChannel | None
    text: TextChannels
    qa_tower: QaTowerChannel | None = None


SetupFn = Callable[[dict[str, Any]], JobSetup]  # a job's stored settings -> typed setup (built at the edge)


@dataclass(frozen=True)
class JobLimits:
    max_attempts: int = 5  # starts of one stage of one file before it is recorded as failed
    stall_s: float = 300.0  # a running file without a heartbeat this long is taken over


class StageResult(StrEnum):
    RAN = "ran"
    SKIPPED = "skipped"  # already done, cancelled or gone: nothing to do
    BUSY = "busy"  # another live worker holds it


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_alive(row: JobFile, limits: JobLimits) -> bool:
    if row.claimed_by is None or row.claimed_by == worker_name():
        return False
    if row.updated_at < datetime.now(UTC) - timedelta(seconds=limits.stall_s):
        return False
    host, _, pid = row.claimed_by.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


class _Prepared:
    def __init__(self, setup: JobSetup, models: RunModels, ids: ModelIds) -> None:
        self.setup, self.models, self.ids = setup, models, ids


class JobRunner:
    """Runs stage tasks in this process. Models are loaded once per process and job settings."""

    def __init__(self, db: Database, setup_for: SetupFn, queue: TaskQueue, limits: JobLimits = JobLimits()) -> None:
        self.db, self.setup_for, self.queue, self.limits = db, setup_for, queue, limits
        self._prepared: dict[str, _Prepared] = {}
        self.overrides: dict[str, Any] = {}  # e.g. a smaller encode batch after running out of GPU memory

    def prepare(self, job_settings: dict[str, Any]) -> _Prepared:
        from workers.index_run import model_ids

        job_settings = {**job_settings, **self.overrides}
        key = json.dumps(job_settings, sort_keys=True)
        if key not in self._prepared:
            setup = self.setup_for(job_settings)
            models = RunModels(setup.vision, setup.text, setup.qa_tower)
            self._prepared[key] = _Prepared(setup, models, model_ids(self.db, models))
        return self._prepared[key]

    # --- one stage of one file ---------------------------------------------------------------------------
    def run_stage(self, task: StageTask) -> StageResult:
        claimed = self._claim(task)
        if not isinstance(claimed, tuple):
            return claimed
        settings, path = claimed
        faults.maybe_kill(task.stage, path)
        prepared = self.prepare(settings)
        started = time.perf_counter()
        beat = self._heartbeat(task, path, prepared.setup.ingest.layout.data_dir)
        probed = probe_stage(self.db, task.media_id)
        if not isinstance(probed, Probed):  # unreadable (recorded on the media row) or gone
            self._finish(task, time.perf_counter() - started)
            return StageResult.RAN
        if task.stage == FileStage.PROBE:
            self._advance(task, FileStage.FRAMES if probed.stream is not None else FileStage.TEXT,
                          time.perf_counter() - started, prepared)
        elif task.stage == FileStage.OCR:
            self._ocr_again(task, probed, prepared, beat, started)
        elif task.stage == FileStage.FRAMES:
            frames, *text = frames_task_stage(probed, prepared.setup.ingest, prepared.models, beat)
            write_frames(staging_file(prepared.setup.ingest.layout.data_dir, task.media_id, probed.fingerprint),
                         frames, text)
            self._advance(task, FileStage.TEXT, time.perf_counter() - started, prepared)
        else:
            self._text(task, probed, prepared, beat, started)
        return StageResult.RAN

    def _claim(self, task: StageTask) -> StageResult | tuple[dict[str, Any], str]:
        with self.db.session() as session:
            job = jobs_repo.get_job(session, task.job_id)
            row = jobs_repo.lock_file(session, task.job_id, task.media_id)
            if job is None or row is None or row.state in jobs_repo.TERMINAL_FILE_STATES or row.stage != task.stage:
                return StageResult.SKIPPED
            if row.state == FileState.RUNNING and _holder_alive(row, self.limits):
                return StageResult.BUSY
            media = library_repo.get_media(session, task.media_id)
            if row.attempts >= self.limits.max_attempts:
                self._give_up(session, row, media)
                give_up = True
            else:
                jobs_repo.start_attempt(session, row, worker_name())
                row.error = None  # an interruption noted by an earlier try is over
                give_up = False
            settings, path = dict(job.settings), media.path if media is not None else ""
        if give_up:
            self._after_file(task.job_id)
            return StageResult.SKIPPED
        return settings, path

    def _give_up(self, session: Session, row: JobFile, media: Any) -> None:
        reason = (f"the worker died or failed {row.attempts} times in the {row.stage} stage of this file "
                  "(a decoder crash or out of memory?)")
        hint = ("check the file with `ffprobe`, re-encode or remove it; after fixing, run "
                f"`scenedex jobs retry {row.job_id}`")
        jobs_repo.finish_file(session, row, FileState.FAILED, error=f"{reason}; {hint}")
        if media is not None:
            library_repo.mark_problem(session, media, MediaStatus.FAILED, reason, hint, "")
        log.warning("giving up on media %d: %s", row.media_id, reason)

    def _heartbeat(self, task: StageTask, path: str, data_dir: Path) -> Callable[[float, float], None]:
        last = [0.0]
        base, stages = (STAGE_ORDER.index(task.stage), len(STAGE_ORDER)) if task.stage in STAGE_ORDER else (0, 1)
        me = worker_name()

        def beat(t_s: float, duration_s: float) -> None:
            now = time.monotonic()
            if now - last[0] < HEARTBEAT_EVERY_S:
                return
            last[0] = now
            fraction = min(t_s / duration_s, 1.0) if duration_s > 0 else 0.0
            with self.db.session() as session:
                faults.maybe_drop_connection(task.stage, path, task.media_id, data_dir, session)
                jobs_repo.heartbeat(session, task.job_id, task.media_id, me, (base + fraction) / stages)

        return beat

    def _still_mine(self, session: Session, task: StageTask) -> JobFile | None:
        row = jobs_repo.lock_file(session, task.job_id, task.media_id)
        if row is None or row.stage != task.stage or row.state != FileState.RUNNING or row.claimed_by != worker_name():
            return None
        return row

    def _advance(self, task: StageTask, stage: FileStage, work_s: float, prepared: _Prepared) -> None:
        with self.db.session() as session:
            row = self._still_mine(session, task)
            if row is None:
                return
            jobs_repo.advance(session, row, stage, STAGE_ORDER.index(stage) / len(STAGE_ORDER), work_s)
        self.queue.send_stage(StageTask(task.job_id, task.media_id, stage),
                              gpu=stage == FileStage.FRAMES and prepared.setup.vision is not None)

    def _text(self, task: StageTask, probed: Probed, prepared: _Prepared, beat: Callable[[float, float], None],
              started: float) -> None:
        staged = staging_file(prepared.setup.ingest.layout.data_dir, task.media_id, probed.fingerprint)
        frames: ChannelOutcome
        text: list[ChannelOutcome] = []
        if probed.stream is None:
            frames = frames_stage(probed, prepared.setup.ingest, prepared.models)
        else:
            try:
                frames, text = read_frames(staged), read_text(staged)
            except FileNotFoundError:  # the file changed since the frames stage (or staging was lost): redo it
                self._back_to_frames(task)
                return
        outcomes = [frames, *text_stage(probed, frames, prepared.models, beat, text)]

        def guard(session: Session) -> bool:
            row = self._still_mine(session, task)
            if row is None:
                return False
            jobs_repo.finish_file(session, row, FileState.DONE, work_s=time.perf_counter() - started)
            return True

        commit_media(self.db, task.media_id, probed, outcomes, prepared.setup.ingest, prepared.models, prepared.ids,
                     guard=guard)
        remove_staged(staged)
        self._after_file(task.job_id)

    def _ocr_again(self, task: StageTask, probed: Probed, prepared: _Prepared,
                   beat: Callable[[float, float], None], started: float) -> None:
        lost = False

        def guard(session: Session) -> bool:
            nonlocal lost
            row = self._still_mine(session, task)
            if row is None:
                lost = True
                return False
            jobs_repo.finish_file(session, row, FileState.DONE, work_s=time.perf_counter() - started)
            return True

        models = prepared.models
        assert models.text_info is not None
        if read_again(self.db, task.media_id, probed, models, prepared.ids.text, models.text.key(models.text_info),
                      beat, guard):
            self._after_file(task.job_id)
        elif not lost:  # OCR failed or the file changed: index it again whole, from the probe on
            self._advance(task, FileStage.PROBE, time.perf_counter() - started, prepared)

    def _back_to_frames(self, task: StageTask) -> None:
        with self.db.session() as session:
            row = self._still_mine(session, task)
            if row is not None:
                row.stage, row.state, row.claimed_by = FileStage.FRAMES, FileState.QUEUED, None
        self.queue.send_stage(StageTask(task.job_id, task.media_id, FileStage.FRAMES), gpu=False)

    def _finish(self, task: StageTask, work_s: float) -> None:
        with self.db.session() as session:
            row = self._still_mine(session, task)
            if row is not None:
                jobs_repo.finish_file(session, row, FileState.DONE, work_s=work_s)
        self._after_file(task.job_id)

    def _after_file(self, job_id: int) -> None:
        """The last file of a job to finish hands the job to the index sync."""
        with self.db.session() as session:
            job = jobs_repo.get_job(session, job_id, lock=True)
            if job is None or job.state not in (JobState.QUEUED, JobState.RUNNING):
                return
            if jobs_repo.open_files(session, job_id):
                return
            jobs_repo.set_job_state(session, job, JobState.SYNCING)
        self.queue.send_sync(job_id)

    # --- the index writer ---------------------------------------------------------------------------------
    def sync(self, job_id: int) -> StageResult:
        with self.db.session() as session:
            job = jobs_repo.get_job(session, job_id)
            if job is None or job.state != JobState.SYNCING:
                return StageResult.SKIPPED
            settings = dict(job.settings)
        prepared = self.prepare(settings)
        layout = prepared.setup.ingest.layout
        if prepared.ids.vision is not None:
            sync_vector_index(self.db, layout, prepared.ids.vision)
        if prepared.ids.text is not None:
            sync_text_index(self.db, layout, prepared.ids.text)
        with self.db.session() as session:
            job = jobs_repo.get_job(session, job_id, lock=True)
            if job is not None and job.state == JobState.SYNCING:
                cancelled = jobs_repo.files_in_state(session, job_id, FileState.CANCELLED) > 0
                jobs_repo.set_job_state(session, job, JobState.CANCELLED if cancelled else JobState.DONE)
        return StageResult.RAN

    def interrupted(self, task: StageTask, reason: str) -> None:
        """The infrastructure kept failing under this file: say so on its job row, which stays queued (the
        reconciler resends it later); the media row is left as it was, never marked failed."""
        with self.db.session() as session:
            row = jobs_repo.lock_file(session, task.job_id, task.media_id)
            if row is not None and row.state not in jobs_repo.TERMINAL_FILE_STATES:
                row.error = reason

    def release(self, task: StageTask, refund_attempt: bool = False) -> None:
        """After an error: give the file back so the retried task can claim it at once. ``refund_attempt`` for a
        transient error (workers.transient): infrastructure faults never use up the file's attempts."""
        with self.db.session() as session:
            jobs_repo.release(session, task.job_id, task.media_id, worker_name(), refund_attempt)

