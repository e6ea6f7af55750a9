"""Celery tasks: thin, idempotent, ids in. The worker's entry point (`scenedex worker` or
`celery -A workers.tasks worker`); settings are read here, once per process, and nowhere below.

Transient errors (workers.transient: the database or broker unreachable, a dropped connection, a serialization
failure, a full or failing data disk) are retried with exponential backoff and never blamed on the file; after
the last retry the file's job row says why it was interrupted and the file goes back to the queue (the reconciler
resends it once the infrastructure is back). Out of GPU memory retries with half the encode batch; every other
problem of a file is recorded on its row by the pipeline and is not an error of the task.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import torch
from celery import Task
from celery.signals import worker_process_init

from db.models import FileStage
from db.session import Database
from scenedex.job_settings import job_setup
from scenedex.settings import Settings
from workers.celery_app import TASK_FRAMES, TASK_OCR, TASK_PROBE, TASK_SYNC, TASK_TEXT, make_app
from workers.jobs import JobLimits, JobRunner, StageResult, StageTask
from workers.queueing import CeleryQueue
from workers.transient import describe, is_out_of_memory, is_transient

log = logging.getLogger(__name__)
_settings = Settings()
app = make_app(_settings.broker_url, _settings.broker_visibility_timeout_s)
MAX_RETRIES = 10


@lru_cache(maxsize=1)
def runner() -> JobRunner:
    """This process's runner (created after the fork, so no connection is shared between processes)."""
    settings = Settings()
    if settings.database_url is None:
        raise RuntimeError("workers need SCENEDEX_DATABASE_URL: the embedded database lives inside one process")
    limits = JobLimits(max_attempts=settings.worker_max_attempts, stall_s=settings.worker_stall_s)
    return JobRunner(Database(settings.database_url), lambda stored: job_setup(settings, stored), CeleryQueue(app),
                     limits)


@worker_process_init.connect
def _fresh_process(**_: Any) -> None:
    runner.cache_clear()


def _backoff_s(retries: int) -> float:
    return min(2.0 ** retries, 60.0)


def _run(task: Task, job_id: int, media_id: int, stage: FileStage, batch_size: int | None = None) -> str:
    work = runner()
    work.overrides = {"encode_batch_size": batch_size} if batch_size else {}
    step = StageTask(job_id, media_id, stage)
    try:
        result = work.run_stage(step)
    except Exception as exc:
        # Whatever happens next, the file must not stay claimed by this attempt; a fault of the infrastructure
        # (or of the machine's memory) does not count against the file.
        _release(work, step, refund_attempt=is_transient(exc))
        current = batch_size or work.prepare({}).setup.ingest.sampling.batch_frames
        if is_out_of_memory(exc) and current > 1:
            smaller = max(1, current // 2)
            log.warning("out of memory on media %d; retrying with batch %d", media_id, smaller)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise task.retry(exc=exc, countdown=1, kwargs={"batch_size": smaller}) from exc
        if not is_transient(exc):
            raise
        if task.request.retries >= (task.max_retries or 0):
            _interrupted(work, step, f"interrupted after {task.request.retries} retries: {describe(exc)}")
            raise
        log.warning("transient error on media %d (%s), retrying: %s", media_id, stage, describe(exc))
        raise task.retry(exc=exc, countdown=_backoff_s(task.request.retries)) from exc
    if result == StageResult.BUSY:  # another live worker has it: look again later, the reconciler is the backstop
        raise task.retry(countdown=min(work.limits.stall_s, 30.0))
    return str(result)


def _interrupted(work: JobRunner, step: StageTask, reason: str) -> None:
    log.warning("giving up for now on media %d (%s): %s; the file is not marked failed", step.media_id, step.stage,
                reason)
    try:
        work.interrupted(step, reason)
    except Exception as exc:  # noqa: BLE001 - the database may be the thing that is down
        log.info("could not record the interruption of media %d: %s", step.media_id, exc)


def _release(work: JobRunner, step: StageTask, refund_attempt: bool) -> None:
    try:
        work.release(step, refund_attempt)
    except Exception as exc:  # noqa: BLE001 - the database may be the thing that is down
        log.info("could not release media %d: %s", step.media_id, exc)


@app.task(name=TASK_PROBE, bind=True, max_retries=MAX_RETRIES)
def probe_file(self: Task, job_id: int, media_id: int) -> str:
    return _run(self, job_id, media_id, FileStage.PROBE)


@app.task(name=TASK_FRAMES, bind=True, max_retries=MAX_RETRIES)
def encode_frames(self: Task, job_id: int, media_id: int, batch_size: int | None = None) -> str:
    return _run(self, job_id, media_id, FileStage.FRAMES, batch_size)


@app.task(name=TASK_TEXT, bind=True, max_retries=MAX_RETRIES)
def read_text(self: Task, job_id: int, media_id: int) -> str:
    return _run(self, job_id, media_id, FileStage.TEXT)


@app.task(name=TASK_OCR, bind=True, max_retries=MAX_RETRIES)
def read_screen_text_again(self: Task, job_id: int, media_id: int) -> str:
    return _run(self, job_id, media_id, FileStage.OCR)


@app.task(name=TASK_SYNC, bind=True, max_retries=MAX_RETRIES)
def sync_vectors(self: Task, job_id: int) -> str:
    try:
        return str(runner().sync(job_id))
    except Exception as exc:
        if not is_transient(exc):
            raise
        raise self.retry(exc=exc, countdown=_backoff_s(self.request.retries)) from exc
