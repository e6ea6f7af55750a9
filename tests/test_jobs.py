"""The job runner on the real Postgres, tasks run in this process through a recording queue (the broker itself
is exercised by tests/test_workers.py): stages, claims, duplicates, crashes counted, cancel and retry."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from db.models import FileStage, FileState, JobState, MediaStatus
from db.repositories import jobs as jobs_repo
from db.repositories import library as library_repo
from db.session import Database
from tests.library_state import assert_same_content, snapshot
from tests.test_index_run import NO_OCR, config_for, vision_for
from workers.index_run import index_paths, model_ids, plan_index
from workers.jobs import JobLimits, JobRunner, JobSetup, StageResult, StageTask
from workers.models import RunModels

pytestmark = pytest.mark.integration


class RecordingQueue:
    def __init__(self) -> None:
        self.stages: list[tuple[StageTask, bool]] = []
        self.syncs: list[int] = []

    def send_stage(self, task: StageTask, gpu: bool) -> None:
        self.stages.append((task, gpu))

    def send_sync(self, job_id: int) -> None:
        self.syncs.append(job_id)


@pytest.fixture
def library(tmp_path: Path, generated_media) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(generated_media[name][0], root / name)
    (root / "empty.mp4").write_bytes(b"")
    return root


def _setup(tmp_path: Path, tiny_clip_dir: Path, name: str) -> JobSetup:
    vision = vision_for(tiny_clip_dir)
    return JobSetup(config_for(tmp_path / name, vision), vision, NO_OCR)


def _job(db: Database, setup: JobSetup, library: Path) -> tuple[int, list[int]]:
    models = RunModels(setup.vision, setup.text)
    plan = plan_index(db, [library], setup.ingest, (".mp4",), models, model_ids(db, models))
    with db.session() as session:
        job = jobs_repo.create_job(session, {}, [str(library)], "test", plan.todo)
        return job.id, plan.todo


def _drain(runner: JobRunner, queue: RecordingQueue, job_id: int, media_ids: list[int]) -> list[StageResult]:
    pending = [StageTask(job_id, m, FileStage.PROBE) for m in media_ids]
    results = []
    while pending:
        task = pending.pop(0)
        before = len(queue.stages)
        results.append(runner.run_stage(task))
        pending += [t for t, _ in queue.stages[before:]]
    for synced in queue.syncs:
        runner.sync(synced)
    return results


def test_stage_by_stage_equals_the_in_process_run(db, db_url, tmp_path, library, tiny_clip_dir, template_db):
    setup = _setup(tmp_path, tiny_clip_dir, "queued")
    queue = RecordingQueue()
    runner = JobRunner(db, lambda _: setup, queue)
    job_id, media_ids = _job(db, setup, library)
    _drain(runner, queue, job_id, media_ids)
    frames_tasks = [gpu for t, gpu in queue.stages if t.stage == FileStage.FRAMES]
    assert frames_tasks == [True, True], "frames go to the GPU queue when a vision model is configured"
    assert queue.syncs == [job_id]
    with db.session() as session:
        overview = jobs_repo.job_overviews(session, job_id=job_id)[0]
    assert overview.state == JobState.DONE and overview.counts == {"done": 3}
    assert all(f.progress == 1.0 for f in overview.files) and overview.work_s > 0

    from tests.conftest import create_database, drop_database

    name, url = create_database(template=template_db)
    other = Database(url)
    try:
        clean = _setup(tmp_path, tiny_clip_dir, "clean")
        index_paths(other, [library], clean.ingest, (".mp4",), clean.vision, text=clean.text)
        assert_same_content(snapshot(db, setup.ingest.layout, setup.vision.info),
                            snapshot(other, clean.ingest.layout, clean.vision.info))
    finally:
        other.dispose()
        drop_database(name)
    assert not list((tmp_path / "queued").rglob("staging/*")), "staging files are removed once written"


def test_a_duplicate_task_does_nothing_and_a_live_holder_is_left_alone(db, tmp_path, library, tiny_clip_dir):
    setup = _setup(tmp_path, tiny_clip_dir, "data")
    queue = RecordingQueue()
    runner = JobRunner(db, lambda _: setup, queue)
    job_id, media_ids = _job(db, setup, library)
    first = StageTask(job_id, media_ids[0], FileStage.PROBE)
    assert runner.run_stage(first) == StageResult.RAN
    assert runner.run_stage(first) == StageResult.SKIPPED  # redelivered after it finished: nothing to do
    frames = StageTask(job_id, media_ids[0], FileStage.FRAMES)
    with db.session() as session:  # another live process on this host holds the file
        row = jobs_repo.lock_file(session, job_id, media_ids[0])
        jobs_repo.start_attempt(session, row, f"{socket.gethostname()}:{os.getppid()}")
    assert runner.run_stage(frames) == StageResult.BUSY
    with db.session() as session:  # ...and now a process that is gone
        row = jobs_repo.lock_file(session, job_id, media_ids[0])
        row.claimed_by = f"{socket.gethostname()}:{2 ** 22 + 12345}"
    assert runner.run_stage(frames) == StageResult.RAN
    with db.session() as session:
        row = jobs_repo.lock_file(session, job_id, media_ids[0])
        assert (row.stage, row.state) == (FileStage.TEXT, FileState.QUEUED)


def test_a_file_that_keeps_killing_its_worker_is_recorded_failed(db, tmp_path, library, tiny_clip_dir):
    setup = _setup(tmp_path, tiny_clip_dir, "data")
    queue = RecordingQueue()
    runner = JobRunner(db, lambda _: setup, queue, JobLimits(max_attempts=2))
    job_id, media_ids = _job(db, setup, library)
    victim = media_ids[0]
    for _ in range(2):  # two starts that never finished (the process died: its pid no longer exists)
        with db.session() as session:
            row = jobs_repo.lock_file(session, job_id, victim)
            jobs_repo.start_attempt(session, row, f"{socket.gethostname()}:{2 ** 22 + 999}")
    assert runner.run_stage(StageTask(job_id, victim, FileStage.PROBE)) == StageResult.SKIPPED
    with db.session() as session:
        media = library_repo.get_media(session, victim)
        row = jobs_repo.lock_file(session, job_id, victim)
        assert media.status == MediaStatus.FAILED and "2 times in the probe stage" in media.error_reason
        assert row.state == FileState.FAILED and "scenedex jobs retry" in row.error
    _drain(runner, queue, job_id, media_ids[1:])  # the others go on, and the job finishes
    with db.session() as session:
        assert jobs_repo.job_overviews(session, job_id=job_id)[0].state == JobState.DONE
        assert jobs_repo.retry_job(session, job_id) == [victim]
    queue.syncs.clear()
    with db.session() as session:
        jobs_repo.set_job_state(session, jobs_repo.get_job(session, job_id), JobState.RUNNING)
    _drain(runner, queue, job_id, [victim])
    with db.session() as session:
        assert library_repo.get_media(session, victim).status == MediaStatus.INDEXED


def test_cancel_stops_what_has_not_started(db, tmp_path, library, tiny_clip_dir):
    setup = _setup(tmp_path, tiny_clip_dir, "data")
    queue = RecordingQueue()
    runner = JobRunner(db, lambda _: setup, queue)
    job_id, media_ids = _job(db, setup, library)
    with db.session() as session:
        assert jobs_repo.cancel_job(session, job_id) == 3
    assert runner.run_stage(StageTask(job_id, media_ids[0], FileStage.PROBE)) == StageResult.SKIPPED
    with db.session() as session:
        assert library_repo.get_media(session, media_ids[0]).status == MediaStatus.PENDING


def test_the_library_route_shows_open_jobs(db, tmp_path, library, tiny_clip_dir):
    from web.library_routes import queued_jobs

    setup = _setup(tmp_path, tiny_clip_dir, "data")
    runner = JobRunner(db, lambda _: setup, RecordingQueue())
    job_id, media_ids = _job(db, setup, library)
    runner.run_stage(StageTask(job_id, media_ids[0], FileStage.PROBE))
    jobs = queued_jobs(db)()
    assert jobs and jobs[0]["id"] == str(job_id) and jobs[0]["total"] == 3 and jobs[0]["state"] == "running"
    assert jobs[0]["running"][0]["media_id"] == media_ids[0] and 0 < jobs[0]["running"][0]["fraction"] < 1


def test_a_done_file_leaves_no_staging_behind_not_even_a_killed_writers_temporary(tmp_path: Path) -> None:
    """A frames task SIGKILLed mid-write leaves `.<name>.<pid>.tmp`; the retry writes the file; once the file's
    result is written both go (test_workers' SIGKILL test found such an orphan); another file's staging stays."""
    from workers.staging import remove_staged, staging_file

    staged = staging_file(tmp_path, 6, "f1e9a3d173447fb1aa")
    staged.parent.mkdir(parents=True)
    orphan = staged.with_name(f".{staged.name}.12925.tmp")
    other = staging_file(tmp_path, 7, "0123456789abcdef00")
    for path in (staged, orphan, other, other.with_name(f".{other.name}.1.tmp")):
        path.write_bytes(b"x")
    remove_staged(staged)
    assert sorted(p.name for p in staged.parent.iterdir()) == sorted([other.name, f".{other.name}.1.tmp"])


def test_a_queued_index_of_a_library_chunked_by_older_rules_reads_nothing_again(db, tmp_path, library,
                                                                                tiny_clip_dir):
    """An upgrade changes the chunk rules (``indexer.text_chunks.CHUNK_RULE``): `scenedex index --queue`
    cuts and embeds the stored text again in Postgres and sends only the index writer's sync, no file
    stage."""
    from indexer.text_chunks import CHUNK_RULE
    from workers.queueing import enqueue_index

    setup = _setup(tmp_path, tiny_clip_dir, "data")
    first = index_paths(db, [library], setup.ingest, (".mp4",), setup.vision, text=setup.text)
    assert len(first.indexed) == 2
    with db.session() as session:  # the library as the release before the rule left it
        for media in library_repo.list_media(session):
            if media.channels_key:
                media.channels_key = media.channels_key.removesuffix(f"/{CHUNK_RULE}")
    queue = RecordingQueue()
    done = enqueue_index(db, queue, [library], setup, (".mp4",), {})
    assert (done.files, done.reembedded) == (0, 2) and queue.stages == [] and queue.syncs == [done.job_id]
    runner = JobRunner(db, lambda _: setup, queue)
    assert runner.sync(done.job_id) == StageResult.RAN
    with db.session() as session:
        assert jobs_repo.job_overviews(session, job_id=done.job_id)[0].state == JobState.DONE
        keys = [m.channels_key for m in library_repo.list_media(session) if m.status == MediaStatus.INDEXED]
    assert len(keys) == 2 and all(k.endswith(f"/{CHUNK_RULE}") for k in keys)
    again = enqueue_index(db, RecordingQueue(), [library], setup, (".mp4",), {})
    assert again.job_id is None and again.reembedded == 0
