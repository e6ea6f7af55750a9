"""`scenedex index --queue` on a library whose on-screen text was read under older OCR rules: real `scenedex
worker` processes read that text alone again (the OCR stage), through a worker killed mid-stage and a Postgres
connection dropped inside it, and end where a fresh in-process index ends. Real Redis, Postgres, ffmpeg and the
packaged OCR models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from db.models import FileStage, FileState, JobState
from db.repositories import jobs as jobs_repo
from tests.test_reread_ocr import _as_before_the_rules, _clip_with_a_clock, _state
from tests.test_workers import _cli, _wait_done, queued, redis_server  # noqa: F401 - fixtures
from tests.worker_harness import Worker, wait_for, worker_env
from workers.faults import DROP_DB_ENV, MARKERS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _running_ocr(db, job_id: int) -> bool:  # type: ignore[no-untyped-def]
    with db.session() as session:
        (row,) = jobs_repo.job_overviews(session, job_id=job_id)[0].files
    return row.stage == FileStage.OCR and row.state == FileState.RUNNING


def test_queued_workers_read_the_text_again_through_a_kill_and_a_dropped_connection(queued, redis_server,
                                                                                    tmp_path):
    url, db = queued
    library, data = tmp_path / "lib", tmp_path / "data"
    library.mkdir()
    _clip_with_a_clock(library)
    env = worker_env(url, data, redis_server.url, SCENEDEX_SPEECH="false", SCENEDEX_WORKER_MAX_ATTEMPTS="5",
                     **{DROP_DB_ENV: "ocr:*/bakery.mp4"})
    _cli(env, "index", str(library))
    media_id, key, segments, frame_ids = _state(db)
    assert any("oven" in s[1].lower() for s in segments if s[0] == "ocr")
    _as_before_the_rules(db, media_id, key)

    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        out = json.loads(_cli(env, "index", str(library), "--queue", "--json").stdout)
        assert (out["files"], out["ocr_again"]) == (0, 1), out
        job_id = int(out["job_id"])
        wait_for(lambda: _running_ocr(db, job_id), 120, "a worker to start reading the text again")
        worker.kill(children_only=True)  # the pool process dies mid-stage; the task is handed back
        _wait_done(db, job_id)
    finally:
        worker.stop()
    with db.session() as session:
        overview = jobs_repo.job_overviews(session, job_id=job_id)[0]
    assert overview.state == JobState.DONE and [f.state for f in overview.files] == [FileState.DONE]
    assert overview.files[0].attempts >= 2  # the killed start counts; the dropped connection is refunded
    assert [p.name for p in (data / MARKERS).iterdir()] == [f"drop-ocr-{media_id}"]  # the connection was dropped
    again_id, again_key, again_segments, again_frames = _state(db)
    assert (again_id, again_key) == (media_id, key)
    assert sorted(again_segments) == sorted(segments)  # as a fresh index reads it: the stale reading is gone
    assert (again_frames == frame_ids).all()  # the frames were not indexed again
    log = (tmp_path / "worker.log").read_text()
    assert "transient error on media" in log and "unexpected error" not in log, log[-3000:]

