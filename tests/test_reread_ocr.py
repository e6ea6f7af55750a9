"""A library whose on-screen text was read under older OCR rules or settings has that text alone read again by the
next `scenedex index` (``workers.reread_ocr``): frames and subtitles kept as they were, nothing lost, the user told;
a file where that fails is indexed again whole. Real Postgres, real ffmpeg, the packaged OCR models."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from db.models import Channel, FileStage, JobState
from db.repositories import jobs as jobs_repo
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.sampling import SamplingPolicy
from indexer.screen_text import READ_RULES
from workers.index_run import IndexSummary, TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.jobs import StageResult
from workers.layout import DataLayout
from workers.queueing import Enqueued

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
STALE = "00:00:00:00"


def _clip_with_a_clock(folder: Path) -> Path:
    """12 s: a running timecode over a still gray picture, a caption from 2 to 8 s, and a subtitle file."""
    path = folder / "bakery.mp4"
    caption = (f"drawtext=fontfile={FONT}:text='Bread out of the oven':fontsize=40:fontcolor=white:box=1:"
               "boxcolor=black@0.8:x=(w-tw)/2:y=h*0.7:enable='between(t,2,8)'")
    clock = (f"drawtext=fontfile={FONT}:timecode='00\\:00\\:00\\:00':rate=25:fontsize=28:fontcolor=yellow:"
             "box=1:boxcolor=black@0.8:x=20:y=20")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=640x360:r=25:d=12",
                    "-vf", f"{caption},{clock}", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    path.with_suffix(".srt").write_text("1\n00:00:01,000 --> 00:00:04,000\nThe first loaves of the morning\n")
    return path


def _state(db: Database) -> tuple[int, str, list[tuple[str, str, float, float]], np.ndarray]:
    with db.session() as session:
        (media,) = library_repo.list_media(session)
        segments = [(str(s.channel), s.text, s.start_s, s.end_s) for s in text_repo.segments_of(session, media.id)]
        return media.id, media.channels_key, segments, frames_repo.frame_ids(session, media.id)


def _index(db: Database, tmp_path: Path, channels: TextChannels, jobs: int = 1) -> IndexSummary:
    """Index (again) the one-clip library under ``tmp_path``, made on the first call."""
    library = tmp_path / "lib"
    if not library.exists():
        library.mkdir()
        _clip_with_a_clock(library)
    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=SamplingPolicy(size_px=32))
    return index_paths(db, [library], config, (".mp4",), None, text=channels, jobs=jobs)


def _as_before_the_rules(db: Database, media_id: int, key: str) -> None:
    """The library as a release before today's OCR rules left it: the clock's first reading over the whole clip,
    and a key whose OCR part does not name the rules."""
    with db.session() as session:
        kept = [s for s in text_repo.segments_of(session, media_id) if s.channel != Channel.OCR]
        rows = [{"channel": Channel(s.channel), "start_s": s.start_s, "end_s": s.end_s, "text": s.text,
                 "language": s.language, "source": s.source, "confidence": s.confidence, "detail": s.detail}
                for s in kept]
        text_repo.replace_segments(session, media_id, [
            *rows, {"channel": Channel.OCR, "start_s": 0.0, "end_s": 12.0, "text": STALE, "language": None,
                    "source": "rapidocr", "confidence": 0.9, "detail": None}])
        library_repo.get_media(session, media_id).channels_key = key.replace(f"/{READ_RULES};", ";")


@pytest.mark.e2e
def test_text_read_under_older_rules_is_read_again_alone_and_the_rest_is_kept(db: Database, tmp_path: Path) -> None:
    from scenedex.report import summary_text

    channels = TextChannels(subtitles=True, speech=False)
    first = _index(db, tmp_path, channels)
    assert len(first.indexed) == 1
    media_id, key, segments, frame_ids = _state(db)
    with db.session() as session:
        _, first_chunks = text_repo.chunk_spans(session, media_id)
    assert key.split(";")[2].endswith(f"/{READ_RULES}")
    ocr = [s for s in segments if s[0] == "ocr"]
    assert any("oven" in s[1].lower() for s in ocr)
    assert len({s[1] for s in ocr if s[1][:1].isdigit()}) >= 8  # the clock, read at each second

    _as_before_the_rules(db, media_id, key)
    second = _index(db, tmp_path, channels, jobs=2)
    assert second.indexed == [] and second.unchanged == 1 and second.ocr_read_again == 1, second
    assert "1 unchanged file(s): on-screen text read again" in summary_text(second)  # the user is told why
    again_id, again_key, again_segments, again_frames = _state(db)
    assert (again_id, again_key) == (media_id, key)
    assert sorted(again_segments) == sorted(segments)  # the readings of today's rules, subtitles as they were
    assert np.array_equal(again_frames, frame_ids)  # frames not decoded and written again
    with db.session() as session:
        ids, chunks = text_repo.chunk_spans(session, media_id)
        model_id = library_repo.get_media(session, media_id).text_model_id
    assert chunks == first_chunks  # cut again from the new readings: the stale one is gone
    manifest = json.loads((DataLayout(tmp_path / "data").index_dir(model_id) / "manifest.json").read_text())
    assert manifest["count"] == len(ids)  # the FAISS text index follows

    third = _index(db, tmp_path, channels)
    assert third.indexed == [] and third.ocr_read_again == 0 and third.unchanged == 1


@pytest.mark.e2e
def test_a_file_whose_ocr_fails_when_read_again_is_indexed_again_whole(db: Database, tmp_path: Path,
                                                                       monkeypatch) -> None:
    from workers import reread_ocr

    channels = TextChannels(subtitles=True, speech=False)
    _index(db, tmp_path, channels)
    media_id, key, segments, _ = _state(db)
    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=SamplingPolicy(size_px=32))
    with db.session() as session:
        library_repo.get_media(session, media_id).channels_key = key.replace(f"/{READ_RULES};", ";")
    assert reread_ocr.only_ocr_changed(db, config, None, key) == [media_id]
    with db.session() as session:  # another speech setting too: not OCR's part alone
        library_repo.get_media(session, media_id).channels_key = key.replace(f"/{READ_RULES};", ";").replace(
            "speech=off", "speech=tiny")
    assert reread_ocr.only_ocr_changed(db, config, None, key) == []
    with db.session() as session:
        library_repo.get_media(session, media_id).channels_key = key.replace(f"/{READ_RULES};", ";")

    def broken(*args, **kwargs):
        raise RuntimeError("the OCR engine broke")

    monkeypatch.setattr(reread_ocr, "run_ocr", broken)
    second = _index(db, tmp_path, channels)
    assert second.ocr_read_again == 0 and len(second.indexed) == 1, second  # indexed again whole instead
    _, again_key, again_segments, _ = _state(db)
    assert again_key == key and sorted(again_segments) == sorted(segments)


@pytest.mark.e2e
def test_turning_ocr_on_reads_the_on_screen_text_alone(db: Database, tmp_path: Path) -> None:
    first = _index(db, tmp_path, TextChannels(speech=False, ocr=None))
    assert len(first.indexed) == 1
    media_id, key, segments, frame_ids = _state(db)
    assert ";ocr=off;" in key and not [s for s in segments if s[0] == "ocr"]
    second = _index(db, tmp_path, TextChannels(speech=False))
    assert second.indexed == [] and second.ocr_read_again == 1, second
    _, again_key, again_segments, again_frames = _state(db)
    assert again_key == TextChannels(speech=False).key(None).rpartition(";")[0] + ";" + key.rpartition(";")[2]
    assert [s for s in again_segments if s[0] != "ocr"] == [s for s in segments if s[0] != "ocr"]
    assert any("oven" in s[1].lower() for s in again_segments if s[0] == "ocr")
    assert np.array_equal(again_frames, frame_ids)


def _indexed_then_stale(db: Database, tmp_path: Path, channels: TextChannels
                        ) -> tuple[int, str, list[tuple[str, str, float, float]], np.ndarray]:
    """The library indexed, then left as a release before today's OCR rules left it; its state before that."""
    _index(db, tmp_path, channels)
    state = _state(db)
    _as_before_the_rules(db, state[0], state[1])
    return state


def _run_queued(db: Database, tmp_path: Path, channels: TextChannels) -> tuple[Enqueued, list[FileStage]]:
    """`scenedex index --queue` of the library, its tasks run in this process through a recording queue until
    none is left (tests/test_jobs.py); the stages run, in order."""
    from tests.test_jobs import RecordingQueue
    from workers.jobs import JobRunner, JobSetup
    from workers.queueing import enqueue_index

    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=SamplingPolicy(size_px=32))
    setup = JobSetup(config, None, channels)
    queue = RecordingQueue()
    done = enqueue_index(db, queue, [tmp_path / "lib"], setup, (".mp4",), {})
    runner, ran, sent = JobRunner(db, lambda _: setup, queue), [], 0
    while sent < len(queue.stages):
        task, _ = queue.stages[sent]
        sent += 1
        assert runner.run_stage(task) == StageResult.RAN
        ran.append(task.stage)
    for job_id in queue.syncs:
        runner.sync(job_id)
    if done.job_id is not None:
        with db.session() as session:
            assert jobs_repo.job_overviews(session, job_id=done.job_id)[0].state == JobState.DONE
        assert runner.run_stage(queue.stages[0][0]) == StageResult.SKIPPED  # a duplicate task does nothing
    return done, ran


@pytest.mark.e2e
def test_a_queued_index_reads_the_text_alone_again_in_one_worker_task(db: Database, tmp_path: Path) -> None:
    channels = TextChannels(subtitles=True, speech=False)
    media_id, key, segments, frame_ids = _indexed_then_stale(db, tmp_path, channels)
    done, ran = _run_queued(db, tmp_path, channels)
    assert (done.files, done.unchanged, done.ocr_again) == (0, 1, 1) and ran == [FileStage.OCR], (done, ran)
    again_id, again_key, again_segments, again_frames = _state(db)
    assert (again_id, again_key) == (media_id, key)
    assert sorted(again_segments) == sorted(segments) and np.array_equal(again_frames, frame_ids)
    with db.session() as session:
        ids, _ = text_repo.chunk_spans(session, media_id)
        model_id = library_repo.get_media(session, media_id).text_model_id
    manifest = json.loads((DataLayout(tmp_path / "data").index_dir(model_id) / "manifest.json").read_text())
    assert manifest["count"] == len(ids)  # the job's sync brought the FAISS text index up to date
    assert _run_queued(db, tmp_path, channels)[0].job_id is None  # nothing left to do


@pytest.mark.e2e
def test_a_queued_file_whose_ocr_fails_when_read_again_is_indexed_whole(db: Database, tmp_path: Path,
                                                                        monkeypatch) -> None:
    from workers import reread_ocr

    channels = TextChannels(subtitles=True, speech=False)
    _, key, segments, _ = _indexed_then_stale(db, tmp_path, channels)
    with monkeypatch.context() as patch:
        patch.setattr(reread_ocr, "run_ocr", lambda *args, **kwargs: _broken())
        done, ran = _run_queued(db, tmp_path, channels)
    assert done.ocr_again == 1 and ran == [FileStage.OCR, FileStage.PROBE, FileStage.FRAMES, FileStage.TEXT], ran
    _, again_key, again_segments, _ = _state(db)
    assert again_key == key and sorted(again_segments) == sorted(segments)


def _broken() -> None:
    raise RuntimeError("the OCR engine broke")
