"""Sending tasks and reading queue depths through the broker; enqueueing an index job."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery

from db.models import FileStage, JobState
from db.repositories import jobs as jobs_repo
from db.session import Database
from workers.celery_app import QUEUES, TASK_FRAMES, TASK_OCR, TASK_PROBE, TASK_SYNC, TASK_TEXT
from workers.index_run import catch_up_stored_text, model_ids, plan_index
from workers.jobs import JobSetup, StageTask
from workers.models import RunModels
from workers.reread_ocr import only_ocr_changed

log = logging.getLogger(__name__)
TASK_OF_STAGE = {FileStage.PROBE: TASK_PROBE, FileStage.FRAMES: TASK_FRAMES, FileStage.TEXT: TASK_TEXT,
                 FileStage.OCR: TASK_OCR}


class CeleryQueue:
    """``TaskQueue`` over a Celery app: tasks are sent by name with ids only."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_stage(self, task: StageTask, gpu: bool) -> None:
        queue = "gpu" if gpu else "cpu"
        self.app.send_task(TASK_OF_STAGE[FileStage(task.stage)], args=(task.job_id, task.media_id), queue=queue)

    def send_sync(self, job_id: int) -> None:
        self.app.send_task(TASK_SYNC, args=(job_id,), queue="index")


def queue_depths(app: Celery) -> dict[str, int | None]:
    """Messages waiting in each queue (None when the broker cannot be reached)."""
    depths: dict[str, int | None] = {}
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            for name in QUEUES:
                try:
                    depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                except Exception:  # noqa: BLE001 - a queue nobody declared yet holds nothing
                    depths[name] = 0
                    channel = connection.channel()
    except Exception as exc:  # noqa: BLE001 - status must work with the broker down
        log.info("broker unreachable: %s", exc)
        return {name: None for name in QUEUES}
    return depths


@dataclass(frozen=True)
class Enqueued:
    job_id: int | None  # None when nothing needed doing
    files: int  # queued to be indexed
    unchanged: int
    removed: list[str]
    reembedded: int = 0  # unchanged files whose stored text was chunked and embedded again (no speech or OCR)
    ocr_again: int = 0  # unchanged files queued to have their on-screen text alone read again (OCR changed)


def enqueue_index(db: Database, queue: CeleryQueue, paths: Sequence[Path], setup: JobSetup, extensions: Sequence[str],
                  job_settings: dict[str, Any], retry_failed: bool = False, force: bool = False) -> Enqueued:
    """Plan like an in-process run, record a job with its files, and send one probe task per file. Files whose
    settings differ only in the sentence model or the chunk rules get their stored text chunked and embedded
    again here, in Postgres, as an in-process run does; files whose settings differ in OCR's alone are queued for
    the OCR stage (their on-screen text read again by a worker, ``workers.reread_ocr``); the job's sync stage (the
    index writer) then brings the FAISS index up to date."""
    models = RunModels(setup.vision, setup.text, setup.qa_tower)
    ids = model_ids(db, models)
    caught_up = None if force else catch_up_stored_text(db, setup.ingest, models, ids, sync_index=False)
    reembedded = caught_up.media if caught_up is not None else 0
    ocr_again = [] if force or retry_failed or setup.text.ocr is None or models.text_info is None else \
        only_ocr_changed(db, setup.ingest, ids.vision, models.text.key(models.text_info))  # retry: all again
    plan = plan_index(db, paths, setup.ingest, extensions, models, ids, retry_failed, force)
    reading = set(ocr_again)
    todo = [m for m in plan.todo if m not in reading]
    unchanged = len(plan.seen) - len(todo)
    no_file_work = not todo and not ocr_again  # only removals or new vectors: the indexes still follow Postgres
    if no_file_work and not plan.removed and not reembedded:
        return Enqueued(None, 0, unchanged, plan.removed)
    with db.session() as session:
        job = jobs_repo.create_job(session, job_settings, [str(p) for p in paths], socket.gethostname(), todo,
                                   ocr_again)
        job_id = job.id
        if no_file_work:
            jobs_repo.set_job_state(session, job, JobState.SYNCING)
    if no_file_work:
        queue.send_sync(job_id)
    for media_id in todo:
        queue.send_stage(StageTask(job_id, media_id, FileStage.PROBE), gpu=False)
    for media_id in ocr_again:
        queue.send_stage(StageTask(job_id, media_id, FileStage.OCR), gpu=False)
    return Enqueued(job_id, len(todo), unchanged, plan.removed, reembedded, len(ocr_again))
