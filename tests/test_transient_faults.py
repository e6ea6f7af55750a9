"""Faults of the infrastructure are not faults of the media: a database connection dropped (for real, by Postgres)
while a file is being indexed is retried and never recorded as a failed file or channel, in the queued job runner
and in the in-process run. The broker and worker processes themselves are exercised by tests/test_workers.py."""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path

import pytest
import redis.exceptions
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import IntegrityError

from db.models import Channel, ChannelStatus, FileStage, FileState, MediaStatus
from db.repositories import jobs as jobs_repo
from db.repositories import library as library_repo
from db.repositories import runs as runs_repo
from db.repositories import text as text_repo
from db.session import Database, terminate_own_connection
from indexer.errors import DecodeError, UnreadableMediaError
from indexer.sampling import FrameSampler
from tests.test_index_run import NO_OCR, config_for, vision_for
from tests.test_jobs import RecordingQueue, _job, _setup
from workers import faults
from workers import ingest as ingest_module
from workers.index_run import RetryPolicy, index_paths
from workers.jobs import JobRunner, StageResult, StageTask
from workers.transient import is_transient

pytestmark = pytest.mark.integration
CPU_OOM = ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
           "you tried to allocate 1073741824 bytes.")


def _dropped_connection_error(db: Database) -> BaseException:
    try:
        with db.session() as session:
            terminate_own_connection(session)
    except Exception as exc:  # noqa: BLE001 - the error Postgres really raises is what the test wants
        return exc
    raise AssertionError("terminating the connection raised nothing")


def test_infrastructure_errors_are_transient_and_media_errors_are_not(db: Database, tmp_path: Path) -> None:
    dropped = _dropped_connection_error(db)
    assert is_transient(dropped), repr(dropped)
    assert is_transient(dropped.orig)  # type: ignore[attr-defined] # the driver's own error, unwrapped
    for errno_ in (errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT):
        assert is_transient(OSError(errno_, "disk trouble", str(tmp_path / "features")))
    assert is_transient(BrokerError("broker unreachable"))
    assert is_transient(redis.exceptions.ConnectionError("Connection refused"))
    assert is_transient(ConnectionResetError())
    assert is_transient(MemoryError()) and is_transient(RuntimeError(CPU_OOM))  # the machine's memory, not the file
    wrapped = DecodeError(tmp_path / "a.mp4", "could not write a frame")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert is_transient(wrapped), "a media error raised from a full disk is the disk's"

    not_transient = [
        UnreadableMediaError(tmp_path / "a.mp4", "cannot read the file: Permission denied", "chmod"),
        DecodeError(tmp_path / "a.mp4", "moov atom not found"),
        ValueError("a bug"),
        RuntimeError("shape '[2, 3]' is invalid for input of size 7"),
        PermissionError(errno.EACCES, "Permission denied"),
        FileNotFoundError(errno.ENOENT, "gone"),
        OSError(errno.ELOOP, "Too many levels of symbolic links"),
        subprocess.CalledProcessError(1, ["ffmpeg"]),
        IntegrityError("INSERT", {}, Exception("duplicate key")),
    ]
    for exc in not_transient:
        assert not is_transient(exc), repr(exc)
    implicit = ValueError("raised while handling a dropped connection")
    implicit.__context__ = dropped
    assert not is_transient(implicit), "only an explicit cause counts: an implicit context may be unrelated"


def _statuses(db: Database, media_id: int) -> tuple[str, dict[str, str]]:
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        channels = {str(c.channel): str(c.status) for c in text_repo.channels_of(session, media_id)}
        return str(media.status), channels


def test_a_connection_dropped_inside_the_frames_channel_does_not_fail_the_file(
        db: Database, tmp_path: Path, library_two_clips: Path, tiny_clip_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's failure, made deterministic: Postgres terminates the worker's connection during the frames
    channel's first heartbeat. Before the fix the channel caught the OperationalError and the file was recorded
    'frames failed'; now the stage raises the transient error, the file is released and the retry indexes it."""
    monkeypatch.setenv(faults.DROP_DB_ENV, "frames:*/a.mp4")
    setup = _setup(tmp_path, tiny_clip_dir, "data")
    queue = RecordingQueue()
    runner = JobRunner(db, lambda _: setup, queue)
    job_id, media_ids = _job(db, setup, library_two_clips)
    with db.session() as session:
        victim = next(m for m in media_ids if library_repo.get_media(session, m).path.endswith("/a.mp4"))
    assert runner.run_stage(StageTask(job_id, victim, FileStage.PROBE)) == StageResult.RAN
    frames = StageTask(job_id, victim, FileStage.FRAMES)
    with pytest.raises(Exception) as raised:
        runner.run_stage(frames)
    assert is_transient(raised.value), repr(raised.value)
    assert list((setup.ingest.layout.data_dir / faults.MARKERS).iterdir()), "the connection was really dropped"
    status, channels = _statuses(db, victim)
    assert status != MediaStatus.FAILED and Channel.FRAMES not in channels, (status, channels)

    runner.release(frames, refund_attempt=True)  # what the Celery task does before it retries
    with db.session() as session:
        row = jobs_repo.lock_file(session, job_id, victim)
        assert (row.stage, row.state, row.attempts) == (FileStage.FRAMES, FileState.QUEUED, 0)
    assert runner.run_stage(frames) == StageResult.RAN  # the retry (the drop happens once per file and stage)
    text = queue.stages[-1][0]
    assert text == StageTask(job_id, victim, FileStage.TEXT) and runner.run_stage(text) == StageResult.RAN
    status, channels = _statuses(db, victim)
    assert status == MediaStatus.INDEXED and channels[Channel.FRAMES] == ChannelStatus.DONE, (status, channels)


def test_an_interrupted_file_keeps_its_job_row_queued_with_the_reason(db, tmp_path, library_two_clips,
                                                                      tiny_clip_dir) -> None:
    setup = _setup(tmp_path, tiny_clip_dir, "data")
    runner = JobRunner(db, lambda _: setup, RecordingQueue())
    job_id, media_ids = _job(db, setup, library_two_clips)
    task = StageTask(job_id, media_ids[0], FileStage.PROBE)
    runner.interrupted(task, "interrupted after 10 retries: OperationalError: server closed the connection")
    with db.session() as session:
        row = jobs_repo.lock_file(session, job_id, media_ids[0])
        media = library_repo.get_media(session, media_ids[0])
        assert row.state == FileState.QUEUED and "OperationalError" in (row.error or "")
        assert media.status == MediaStatus.PENDING
    assert runner.run_stage(task) == StageResult.RAN  # the next try clears the note
    with db.session() as session:
        assert jobs_repo.lock_file(session, job_id, media_ids[0]).error is None


class _DropWrites:
    """Postgres terminates the connection of the file's write transaction (``times`` times, then lets it be)."""

    def __init__(self, times: int) -> None:
        self.times, self.drops = times, 0
        self.real = ingest_module.frames_repo.replace_frames

    def __call__(self, session, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.drops < self.times:
            self.drops += 1
            terminate_own_connection(session)
        return self.real(session, *args, **kwargs)


def test_the_in_process_run_retries_a_dropped_write_with_backoff(db, tmp_path, library_two_clips, tiny_clip_dir,
                                                                 monkeypatch) -> None:
    drop = _DropWrites(times=2)
    monkeypatch.setattr(ingest_module.frames_repo, "replace_frames", drop)
    waits: list[float] = []
    vision = vision_for(tiny_clip_dir)
    summary = index_paths(db, [library_two_clips], config_for(tmp_path / "data", vision), (".mp4",), vision,
                          text=NO_OCR, retry=RetryPolicy(sleep=waits.append))
    assert drop.drops == 2 and waits == [1.0, 2.0]
    assert not summary.interrupted and sorted(Path(p).name for p in summary.indexed) == ["a.mp4", "b.mp4"]
    assert summary.problems == []


def test_the_in_process_run_gives_up_as_interrupted_without_blaming_the_file(db, tmp_path, library_two_clips,
                                                                              tiny_clip_dir, monkeypatch) -> None:
    monkeypatch.setattr(ingest_module.frames_repo, "replace_frames", _DropWrites(times=10 ** 6))
    waits: list[float] = []
    vision = vision_for(tiny_clip_dir)
    summary = index_paths(db, [library_two_clips], config_for(tmp_path / "data", vision), (".mp4",), vision,
                          text=NO_OCR, retry=RetryPolicy(attempts=4, sleep=waits.append))
    assert waits == [1.0, 2.0, 4.0]
    assert summary.interrupted and "OperationalError" in (summary.interrupted_reason or "")
    assert summary.indexed == [] and summary.problems == []
    with db.session() as session:
        assert {str(m.status) for m in library_repo.list_media(session)} == {MediaStatus.PENDING}
        assert not any(text_repo.has_failed_channel(session, m.id) for m in library_repo.list_media(session))
        run = runs_repo.last_runs(session, 1)[0]
        assert run.status == "interrupted" and "OperationalError" in (run.reason or "")  # kept for `status`


def test_out_of_memory_inside_a_channel_is_retried_and_never_fails_the_file(db, tmp_path, library_two_clips,
                                                                            tiny_clip_dir, monkeypatch) -> None:
    real = FrameSampler.batches
    raised: list[str] = []

    def batches_after_one_oom(self):  # type: ignore[no-untyped-def]
        if not raised:
            raised.append(str(self))
            raise RuntimeError(CPU_OOM)  # what torch says when the encoder's batch does not fit
        return real(self)

    monkeypatch.setattr(FrameSampler, "batches", batches_after_one_oom)
    waits: list[float] = []
    vision = vision_for(tiny_clip_dir)
    summary = index_paths(db, [library_two_clips], config_for(tmp_path / "data", vision), (".mp4",), vision,
                          text=NO_OCR, retry=RetryPolicy(sleep=waits.append))
    assert raised and waits == [1.0]  # retried once after a pause
    assert sorted(Path(p).name for p in summary.indexed) == ["a.mp4", "b.mp4"] and summary.problems == []
    with db.session() as session:
        assert not any(text_repo.has_failed_channel(session, m.id) for m in library_repo.list_media(session))


def test_a_run_whose_process_died_is_recorded_as_crashed_with_what_to_do(db) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a real pid that no longer runs: a `scenedex index` killed with -9
    with db.session() as session:
        stale = runs_repo.start_run(session, "index")
        stale.pid = dead.pid
        session.commit()
        runs_repo.start_run(session, "index")  # the next run finds it
        session.commit()
        crashed = next(r for r in runs_repo.last_runs(session, 5) if r.id == stale.id)
    assert crashed.status == "crashed"
    assert str(dead.pid) in (crashed.reason or "") and "run the same command again" in (crashed.reason or "")


@pytest.fixture
def library_two_clips(tmp_path: Path, generated_media) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / "library"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(generated_media[name][0], root / name)
    return root
