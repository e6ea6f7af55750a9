"""Queued workers decode a file once: the frames task reads the on-screen text from the same decode and stages it
with the frames (subtitles and speech beside them: tests/test_sound_alongside.py); the text task writes what the
in-process run writes. Real Postgres, real ffmpeg, real OCR models; tasks run in this process through a recording
queue (tests/test_jobs.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from db.models import Channel, ChannelStatus, JobState
from db.repositories import jobs as jobs_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.sampling import FrameSampler, SamplingPolicy
from indexer.text_chunks import TimedText
from scenedex.samples import FONT
from tests.test_jobs import RecordingQueue, _drain
from workers.channels import ChannelOutcome, FramesOutcome
from workers.index_run import index_paths, model_ids, plan_index
from workers.ingest import IngestConfig
from workers.jobs import JobRunner, JobSetup
from workers.layout import DataLayout
from workers.models import OcrSettings, RunModels, TextChannels
from workers.staging import read_frames, read_text, write_frames

pytestmark = pytest.mark.integration
TEXT = TextChannels(subtitles=True, speech=False, ocr=OcrSettings())


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 6 s clips of 960x540, each with a caption from 1 s to 5 s."""
    root = tmp_path_factory.mktemp("queued-ocr") / "library"
    root.mkdir()
    for name, words, source in (("harbor.mp4", "Harbor lights at midnight", "testsrc2"),
                                ("market.mp4", "Fish market opens early", "mandelbrot")):
        caption = (f"drawtext=fontfile={FONT}:text='{words}':fontsize=34:fontcolor=white:box=1:boxcolor=black@0.7:"
                   f"boxborderw=8:x=200:y=380:enable='between(t,1,5)'")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-t", "6", "-i",
                        f"{source}=size=960x540:rate=10", "-vf", f"{caption},format=yuv420p", "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "20", str(root / name)], check=True)
    return root


def _setup(data_dir: Path) -> JobSetup:
    return JobSetup(IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32, batch_frames=4)),
                    None, TEXT)


def _ocr_lines(db: Database) -> dict[str, list[tuple[float, float, str]]]:
    with db.session() as session:
        return {Path(m.path).name: [(s.start_s, s.end_s, s.text)
                                    for s in text_repo.segments_of(session, m.id, [Channel.OCR])]
                for m in library_repo.list_media(session)}


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every FrameSampler made (one per ffmpeg decode of a file), by file name."""
    made: list[str] = []
    original = FrameSampler.__init__

    def counting(self, info, stream, policy) -> None:  # type: ignore[no-untyped-def]
        made.append(info.path.name)
        original(self, info, stream, policy)

    monkeypatch.setattr(FrameSampler, "__init__", counting)
    return made


def test_queued_tasks_decode_each_file_once_and_write_what_the_in_process_run_writes(
        db: Database, tmp_path: Path, library: Path, template_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = _count_decodes(monkeypatch)
    setup = _setup(tmp_path / "queued")
    queue = RecordingQueue()
    runner = JobRunner(db, lambda _: setup, queue)
    models = RunModels(None, TEXT)
    plan = plan_index(db, [library], setup.ingest, (".mp4",), models, model_ids(db, models))
    with db.session() as session:
        job_id = jobs_repo.create_job(session, {}, [str(library)], "test", plan.todo).id
    _drain(runner, queue, job_id, plan.todo)
    assert sorted(decodes) == ["harbor.mp4", "market.mp4"], "one decode per file for frames and on-screen text"
    with db.session() as session:
        assert jobs_repo.job_overviews(session, job_id=job_id)[0].state == JobState.DONE
    queued = _ocr_lines(db)
    assert any("harbor" in text.lower() for _, _, text in queued["harbor.mp4"]), queued
    assert any("market" in text.lower() for _, _, text in queued["market.mp4"]), queued

    from tests.conftest import create_database, drop_database

    name, url = create_database(template=template_db)
    other = Database(url)
    try:
        clean = _setup(tmp_path / "in-process")
        index_paths(other, [library], clean.ingest, (".mp4",), None, text=TEXT)
        assert _ocr_lines(other) == queued
    finally:
        other.dispose()
        drop_database(name)


def test_staged_text_channels_read_back_exactly(tmp_path: Path) -> None:
    frames = FramesOutcome(Channel.FRAMES, ChannelStatus.DONE, producer="ffmpeg")
    line = TimedText("ocr", 1.0 / 3.0, 5.123456789, "Harbor lights at midnight", confidence=0.987654321,
                     source="rapidocr", detail={"box": [[200.5, 380.0], [610.0, 380.0]], "frames": 5})
    ocr = ChannelOutcome(Channel.OCR, ChannelStatus.DONE, producer="rapidocr", items=[line], reason="a note")
    said = TimedText("speech", 0.25, 2.5, "harbor lights", language="en", source="whisper", confidence=0.75,
                     detail={"words": [[0.25, 0.9, "harbor"], [1.0, 2.5, "lights"]]})
    speech = ChannelOutcome(Channel.SPEECH, ChannelStatus.DONE, producer="whisper", items=[said])
    no_subtitles = ChannelOutcome(Channel.SUBTITLES, ChannelStatus.SKIPPED, reason="no subtitle track")
    path = tmp_path / "staged.npz"
    write_frames(path, frames, [ocr, no_subtitles, speech])
    back = read_text(path)
    assert back == [ocr, no_subtitles, speech] and back[0].items[0].detail == line.detail
    write_frames(path, frames)
    assert read_text(path) == [] and read_frames(path).channel == Channel.FRAMES


def test_a_file_staged_by_the_earlier_layout_gives_its_on_screen_text(tmp_path: Path) -> None:
    """Staged before the sound was heard in the frames task: the OCR outcome alone, under "ocr" (a job that
    spans an upgrade of its workers finishes)."""
    import json

    import numpy as np

    ocr = {"channel": "ocr", "status": "done", "producer": "rapidocr", "reason": None, "hint": None,
           "items": [{"channel": "ocr", "start_s": 1.0, "end_s": 5.0, "text": "Harbor lights"}]}
    meta = {"status": "done", "producer": "ffmpeg", "reason": None, "hint": None, "ocr": ocr}
    path = tmp_path / "old.npz"
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    [back] = read_text(path)
    assert (back.channel, back.status, [i.text for i in back.items]) == (Channel.OCR, ChannelStatus.DONE,
                                                                         ["Harbor lights"])
