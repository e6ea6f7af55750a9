"""Queued ingest on real processes: a real Redis, real `scenedex worker` processes (Celery prefork), the real
Postgres. Workers are SIGKILLed at random points, Redis is restarted mid-ingest, Postgres drops the workers'
connections (inside a channel, for every file, and from outside whenever the job makes progress), and a poison
file kills its worker every time: each run must end equal to a clean in-process run.

Faults are gated on observed progress, never on how long something takes: the assertions hold however fast or
slow the machine is."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from sqlalchemy.engine import make_url

from db.models import JobState, MediaStatus
from db.repositories import jobs as jobs_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.encoders import EncoderSpec, describe_vision_encoder
from scenedex.samples import Segment, make_bad_files, make_clip
from tests.conftest import create_database, drop_database
from tests.library_state import assert_same_content, snapshot
from tests.worker_harness import ROOT, RedisServer, Worker, wait_for, worker_env
from workers.faults import DROP_DB_ENV, MARKERS
from workers.faults import ENV as FAULT_ENV
from workers.layout import DataLayout

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]  # a backstop: _wait_done fails a stuck job
KILLS = 22
STAGE_PROGRESS = 0.34  # a file's progress is (stage + fraction) / 3: a rise above 1/3 means a stage was finished
SOURCES = ("bars", "mandelbrot", "life", "red", "blue", "green")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve short clips (one with an SRT sidecar, so text chunks are embedded too) and the usual bad files."""
    root = tmp_path_factory.mktemp("queued") / "library"
    rng = random.Random(7)
    for i in range(12):
        segments = [Segment(rng.choice(SOURCES), rng.choice((1.5, 2.0, 2.5)), f"Clip {i} part {j}") for j in range(2)]
        make_clip(root / f"clip{i:02d}.mp4", segments, size=(160, 120), clock=False)
    (root / "clip00.srt").write_text("1\n00:00:00,500 --> 00:00:01,800\nThe first line of clip zero\n\n"
                                     "2\n00:00:02,000 --> 00:00:03,000\nA second line about fractals\n")
    make_bad_files(root / "bad", root / "clip01.mp4")
    return root


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _env(db_url: str, data_dir: Path, broker: str, tiny_clip_dir: Path, **extra: str) -> dict[str, str]:
    return worker_env(db_url, data_dir, broker, SCENEDEX_VISION_MODEL=str(tiny_clip_dir), SCENEDEX_OCR="false",
                      SCENEDEX_SPEECH="false", SCENEDEX_ENCODE_BATCH_SIZE="4", **extra)


def _cli(env: dict[str, str], *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "scenedex.cli", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout_s)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="module")
def clean_run(library: Path, tiny_clip_dir: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Database, DataLayout]]:
    """The reference: the same library indexed in-process, no faults."""
    name, url = create_database()
    data = tmp_path_factory.mktemp("clean") / "data"
    _cli(_env(url, data, "redis://unused", tiny_clip_dir), "index", str(library))
    database = Database(url)
    yield database, DataLayout(data)
    database.dispose()
    drop_database(name)


def _enqueue(env: dict[str, str], library: Path) -> int:
    out = _cli(env, "index", str(library), "--queue", "--json")
    import json

    return int(json.loads(out.stdout)["job_id"])


def _progress(db: Database, job_id: int) -> tuple[str, float]:
    with db.session() as session:
        overview = jobs_repo.job_overviews(session, job_id=job_id)[0]
    return overview.state, sum(f.progress for f in overview.files)


def _wait_done(db: Database, job_id: int, timeout_s: float = 240) -> None:
    """Wait for the job to finish, failing only when it stops moving: no progress for ``timeout_s`` (a stuck job),
    never because a loaded machine is slow (a fixed deadline failed runs that were progressing at load 15)."""
    last, moved_at = None, time.monotonic()
    while True:
        state, progress = _progress(db, job_id)
        if state == JobState.DONE:
            return
        if (state, progress) != last:
            last, moved_at = (state, progress), time.monotonic()
        assert time.monotonic() - moved_at < timeout_s, f"job {job_id} made no progress for {timeout_s:.0f} s: {last}"
        time.sleep(0.5)


def _text_rows(db: Database) -> dict[str, list[tuple[str, float, float, str]]]:
    with db.session() as session:
        return {Path(m.path).name: [(str(s.channel), round(s.start_s, 3), round(s.end_s, 3), s.text)
                                    for s in text_repo.segments_of(session, m.id)]
                for m in library_repo.list_media(session)}


def _assert_equal_to_clean(db: Database, data: Path, clean: tuple[Database, DataLayout], info) -> None:  # type: ignore[no-untyped-def]
    clean_db, clean_layout = clean
    ours = snapshot(db, DataLayout(data), info)
    theirs = snapshot(clean_db, clean_layout, info)
    assert_same_content(ours, theirs)
    assert len(ours.vector_ids) == len(set(ours.vector_ids)) == len(ours.frame_ids_with_vectors)  # no duplicates
    assert sorted(ours.vector_ids) == sorted(ours.frame_ids_with_vectors)  # no orphans
    assert len(ours.feature_files) == len(theirs.feature_files)
    assert _text_rows(db) == _text_rows(clean_db)
    leftovers = [p for p in data.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or "staging" in p.parts)]
    assert leftovers == [], leftovers


@pytest.fixture
def queued(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    name, url = create_database()
    from db.session import upgrade

    upgrade(url)
    database = Database(url)
    yield url, database
    database.dispose()
    drop_database(name)


def _info(tiny_clip_dir: Path):  # type: ignore[no-untyped-def]
    return describe_vision_encoder(EncoderSpec(model=str(tiny_clip_dir), device="cpu"))


def test_sigkilled_workers_lose_nothing(library, clean_run, queued, redis_server, tiny_clip_dir, tmp_path):
    """At least 20 SIGKILLs at random points (pool processes mid-task and whole workers), restarts: the end state
    equals the clean in-process run."""
    url, db = queued
    data = tmp_path / "data"
    env = _env(url, data, redis_server.url, tiny_clip_dir, SCENEDEX_WORKER_MAX_ATTEMPTS="50")
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    job_id = _enqueue(env, library)
    rng = random.Random(20261121)
    kills, last_progress = 0, -1.0
    try:
        while _progress(db, job_id)[0] != JobState.DONE and kills < KILLS:
            state, progress = _progress(db, job_id)
            if progress <= last_progress:  # let some work happen between kills, or nothing would ever finish
                time.sleep(0.1)
                continue
            time.sleep(rng.uniform(0.0, 0.6))
            whole = rng.random() < 0.25
            if whole:
                worker.kill()
                worker.start()
            elif not worker.children():
                continue
            else:
                worker.kill(children_only=True)
            kills += 1
            last_progress = progress
        _wait_done(db, job_id)
    finally:
        worker.stop()
    assert kills >= 20, f"only {kills} kills happened before the job finished"
    _assert_equal_to_clean(db, data, clean_run, _info(tiny_clip_dir))


def test_redis_restart_mid_ingest_completes(library, clean_run, queued, redis_server, tiny_clip_dir, tmp_path):
    """Redis keeps nothing on disk: a restart loses every queued task; Postgres knows, and the work is resent."""
    url, db = queued
    data = tmp_path / "data"
    env = _env(url, data, redis_server.url, tiny_clip_dir)
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        job_id = _enqueue(env, library)
        wait_for(lambda: _progress(db, job_id)[1] >= 2, 120, "some files to make progress")
        redis_server.stop()
        time.sleep(2)
        redis_server.start()  # same port, empty
        _wait_done(db, job_id)
    finally:
        worker.stop()
    _assert_equal_to_clean(db, data, clean_run, _info(tiny_clip_dir))


def _drop_worker_connections(db_url: str) -> int:
    url = make_url(db_url)
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid() AND application_name NOT LIKE 'pytest%%'", (url.database,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_postgres_connections_dropped_mid_task_are_retried(library, clean_run, queued, redis_server, tiny_clip_dir,
                                                           tmp_path):
    """The issue's failure: a connection dropped while a channel runs was recorded as a broken file ('frames
    failed'). Every good file's frames channel now loses its connection once, for certain (Postgres terminates it
    during the channel's first heartbeat), and the test drops every worker connection again each time the job
    makes progress. No file or channel may fail: the end state equals the clean run."""
    url, db = queued
    data = tmp_path / "data"
    env = _env(url, data, redis_server.url, tiny_clip_dir, **{DROP_DB_ENV: "frames:*/clip*.mp4"})
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    rounds, dropped, last_progress = 0, 0, -STAGE_PROGRESS
    try:
        job_id = _enqueue(env, library)
        while (progress := _progress(db, job_id))[0] != JobState.DONE:
            if progress[1] < last_progress + STAGE_PROGRESS:  # a whole stage's work is saved between drops:
                time.sleep(0.1)  # so the job always moves on (polling only: nothing depends on how long it takes)
                continue
            last_progress = progress[1]
            db.dispose()  # our own pool too: its connections are among those dropped
            dropped += _drop_worker_connections(url)
            rounds += 1
        _wait_done(db, job_id)
    finally:
        worker.stop()
    with db.session() as session:
        clips = {m.id for m in library_repo.list_media(session) if Path(m.path).name.startswith("clip")}
    markers = {int(p.name.rsplit("-", 1)[1]) for p in (data / MARKERS).iterdir()}
    assert markers == clips and len(clips) == 12, "each clip's frames channel lost its connection once"
    log = (tmp_path / "worker.log").read_text()
    assert log.count("transient error on media") >= len(clips), log[-3000:]
    assert "unexpected error" not in log, "a dropped connection was treated as a bug of the file"
    assert rounds >= 1
    _assert_equal_to_clean(db, data, clean_run, _info(tiny_clip_dir))


def test_poison_file_is_failed_after_its_attempts_and_the_queue_goes_on(queued, redis_server, tiny_clip_dir, tmp_path,
                                                                        generated_media):
    url, db = queued
    root = tmp_path / "library"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(generated_media[name][0], root / name)
    shutil.copy(generated_media["c30.mp4"][0], root / "poison.mp4")
    env = _env(url, tmp_path / "data", redis_server.url, tiny_clip_dir, SCENEDEX_WORKER_MAX_ATTEMPTS="3",
               **{FAULT_ENV: "frames:*/library/poison.mp4"})
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        job_id = _enqueue(env, root)
        _wait_done(db, job_id, timeout_s=180)
    finally:
        worker.stop()
    with db.session() as session:
        media = {Path(m.path).name: m for m in library_repo.list_media(session)}
        files = {Path(f.path).name: f for f in jobs_repo.job_overviews(session, job_id=job_id)[0].files}
    details = {n: (m.status, m.error_reason) for n, m in media.items()}
    assert media["a.mp4"].status == MediaStatus.INDEXED and media["b.mp4"].status == MediaStatus.INDEXED, details
    assert media["poison.mp4"].status == MediaStatus.FAILED
    assert "3 times in the frames stage" in (media["poison.mp4"].error_reason or "")
    assert "scenedex jobs retry" in (media["poison.mp4"].error_hint or "")
    assert files["poison.mp4"].state == "failed" and files["poison.mp4"].attempts == 3
    out = _cli(env, "status")
    assert "poison.mp4" in out.stdout and "frames stage" in out.stdout
    np.testing.assert_equal(len(files), 3)
