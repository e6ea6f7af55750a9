"""The sound (subtitles, speech) is heard while the pictures are read, whichever way a file's pictures are read: in
a decode of their own when OCR is off or samples other pictures, and in the queued frames task, which stages what it
heard for the text task (the one decode of ``scenedex index`` shares the code: ``workers.file_pass``). Real
Postgres, real ffmpeg, real whisper (the packaged base) on an espeak-ng line; the queued stages run in this process
through a recording queue.

The frames channel's first batch waits (20 s at most) until speech has started: where speech ran after the frames,
that wait runs out and the test fails."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from db.models import Channel, ChannelStatus, FileStage
from db.repositories import jobs as jobs_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.sampling import SamplingPolicy
from tests.test_jobs import RecordingQueue
from workers import channels, file_pass, ingest
from workers.channels import ChannelOutcome, ProgressFn, skipped
from workers.index_files import SilentEvents
from workers.index_run import index_paths, model_ids, plan_index
from workers.ingest import IngestConfig
from workers.jobs import JobRunner, JobSetup, StageTask
from workers.layout import DataLayout
from workers.models import OcrSettings, RunModels, TextChannels
from workers.staging import read_text

pytestmark = pytest.mark.integration
LINE = "The harbor lights come on at midnight."
POLICY = SamplingPolicy(size_px=32, batch_frames=4)
SPEECH = dict(subtitles=True, speech=True)  # the packaged default, whisper base


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 6 s clip of 960x540 with a narrated line from 0 s."""
    root = tmp_path_factory.mktemp("sound") / "library"
    root.mkdir()
    voice = root.parent / "line.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(voice), LINE], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-t", "6", "-i", "testsrc2=size=960x540:rate=10",
                    "-i", str(voice), "-af", "apad", "-t", "6", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(root / "harbor.mp4")], check=True)
    return root


class SpeechWatch:
    """Sets ``started`` when the speech thread starts a file's speech and keeps the fraction of the file speech
    has reported (``heard``); the frames channel's batches wait for the start."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.heard = 0.0
        self.frames_waited_for_nothing: list[bool] = []
        real_speech, real_feed = file_pass.run_speech, channels.FramesConsumer.feed

        def speech(info: object, index: object, models: object, progress: ProgressFn | None) -> ChannelOutcome:
            self.started.set()

            def heard(t_s: float, duration_s: float) -> None:
                self.heard = t_s / duration_s
                if progress is not None:
                    progress(t_s, duration_s)

            return real_speech(info, index, models, heard)  # type: ignore[arg-type]

        def feed(consumer: channels.FramesConsumer, *args: object) -> None:
            self.frames_waited_for_nothing.append(self.started.wait(20))
            real_feed(consumer, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(file_pass, "run_speech", speech)
        monkeypatch.setattr(channels.FramesConsumer, "feed", feed)

    def check(self) -> None:
        assert self.frames_waited_for_nothing and all(self.frames_waited_for_nothing), \
            "speech had not started while the frames were read"


def _speech_lines(db: Database) -> list[str]:
    with db.session() as session:
        return [s.text for m in library_repo.list_media(session)
                for s in text_repo.segments_of(session, m.id, [Channel.SPEECH])]


class Progress(SilentEvents):
    """The file's progress reports: (fraction shown, fraction speech had heard by then)."""

    def __init__(self, watch: SpeechWatch) -> None:
        self.watch, self.shown = watch, []

    def file_progress(self, path: str, t_s: float, duration_s: float) -> None:
        self.shown.append((t_s / duration_s, self.watch.heard))


def test_with_ocr_off_speech_is_heard_while_the_frames_are_read_and_the_bar_waits_for_it(
        db: Database, tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch = SpeechWatch(monkeypatch)
    progress = Progress(watch)
    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=POLICY)
    summary = index_paths(db, [library], config, (".mp4",), None, progress, text=TextChannels(**SPEECH, ocr=None))
    assert len(summary.indexed) == 1, summary
    watch.check()
    fractions = [fraction for fraction, _ in progress.shown]
    assert fractions == sorted(fractions) and fractions[-1] >= 0.8, progress.shown  # the last frame's time
    assert all(fraction <= heard + 1e-9 for fraction, heard in progress.shown), \
        f"the bar ran ahead of speech: {progress.shown}"
    assert any("harbor" in line.lower() for line in _speech_lines(db)), _speech_lines(db)


def test_with_ocr_in_a_decode_of_its_own_speech_is_heard_while_the_frames_are_read(
        db: Database, tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch = SpeechWatch(monkeypatch)
    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=POLICY)
    text = TextChannels(**SPEECH, ocr=OcrSettings(fps=2.0))  # other pictures than the frames' 1 per second
    summary = index_paths(db, [library], config, (".mp4",), None, text=text)
    assert len(summary.indexed) == 1, summary
    watch.check()
    with db.session() as session:
        [media] = library_repo.list_media(session)
        statuses = {c.channel: c.status for c in text_repo.channels_of(session, media.id)}
    assert statuses[Channel.OCR] == statuses[Channel.SPEECH] == ChannelStatus.DONE, statuses


def test_the_queued_frames_task_hears_the_speech_and_the_text_task_does_not_again(
        db: Database, tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch = SpeechWatch(monkeypatch)
    heard_in_text_task: list[object] = []
    monkeypatch.setattr(ingest, "run_speech", lambda *args: heard_in_text_task.append(args) or
                        skipped(Channel.SPEECH, "heard in the text task"))
    setup = JobSetup(IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=POLICY), None,
                     TextChannels(**SPEECH, ocr=OcrSettings()))
    queue = RecordingQueue()
    runner = JobRunner(db, lambda _: setup, queue)
    models = RunModels(None, setup.text)
    plan = plan_index(db, [library], setup.ingest, (".mp4",), models, model_ids(db, models))
    with db.session() as session:
        job_id = jobs_repo.create_job(session, {}, [str(library)], "test", plan.todo).id
    [media_id] = plan.todo
    runner.run_stage(StageTask(job_id, media_id, FileStage.PROBE))
    runner.run_stage(StageTask(job_id, media_id, FileStage.FRAMES))
    watch.check()
    assert "text" not in runner.prepare({}).models.loaded  # the frames task's process may never commit (a GPU one)
    [path] = (tmp_path / "data" / "staging").glob(f"{media_id}-*.frames.npz")
    staged = {o.channel: o for o in read_text(path)}
    assert set(staged) == {Channel.OCR, Channel.SUBTITLES, Channel.SPEECH}, staged
    assert staged[Channel.SPEECH].status == ChannelStatus.DONE, staged[Channel.SPEECH]
    runner.run_stage(StageTask(job_id, media_id, FileStage.TEXT))
    assert heard_in_text_task == []
    assert any("harbor" in line.lower() for line in _speech_lines(db)), _speech_lines(db)
