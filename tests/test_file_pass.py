"""One decode for every channel of a file (workers.file_pass): the frames channel, its shots and the on-screen
text come out as they do from a decode of their own, a channel that fails leaves the others done, and the decode
thread never outlives the pass. Real ffmpeg, real OCR models."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from db.models import Channel, ChannelStatus
from indexer.ocr import OcrError
from indexer.probe import choose_video_stream, probe
from indexer.sampling import FrameSampler, SamplingPolicy
from scenedex.samples import FONT
from workers.channels import FramesOutcome, run_frames, run_ocr
from workers.file_pass import encoder_squares, one_pass_possible, run_file_pass
from workers.ingest import _channel
from workers.models import OcrSettings, RunModels, TextChannels

POLICY = SamplingPolicy(size_px=64, resize_mode="squash")
TEXT = TextChannels(subtitles=True, speech=False, ocr=OcrSettings())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of 960x540: a test pattern, a hard cut at 4 s to a fractal zoom; a caption from 2 s to 6 s."""
    path = tmp_path_factory.mktemp("pass") / "clip.mp4"
    caption = (f"drawtext=fontfile={FONT}:text='Harbor lights at midnight':fontsize=34:fontcolor=white:box=1:"
               f"boxcolor=black@0.7:boxborderw=8:x=200:y=380:enable='between(t,2,6)'")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-t", "4", "-i", "testsrc2=size=960x540:rate=10",
                    "-f", "lavfi", "-t", "4", "-i", "mandelbrot=size=960x540:rate=10", "-filter_complex",
                    f"[0:v][1:v]concat=n=2:v=1:a=0,{caption},format=yuv420p[v]", "-map", "[v]", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "20", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def models() -> RunModels:
    return RunModels(None, TEXT)


def test_one_pass_gives_the_frames_shots_and_text_of_separate_decodes(clip: Path, models: RunModels) -> None:
    info = probe(clip)
    stream = choose_video_stream(info)
    assert one_pass_possible(info, stream, POLICY, models)
    frames, ocr, subtitles, speech = run_file_pass(info, stream, POLICY, 0.5, models, None, _channel)
    alone = run_frames(info, stream, POLICY, 0.5, models, None)
    assert isinstance(frames, FramesOutcome) and frames.status == ChannelStatus.DONE
    np.testing.assert_allclose(frames.t_s, alone.t_s)
    assert [(s.start_s, s.end_s) for s in frames.shots] == [(s.start_s, s.end_s) for s in alone.shots]
    assert len(frames.shots) == 2, frames.shots  # the cut at 4 s
    ocr_alone = run_ocr(info, stream, alone.shots, models, None)
    assert ocr.status == ChannelStatus.DONE
    assert [(i.start_s, i.end_s, i.text) for i in ocr.items] == [(i.start_s, i.end_s, i.text) for i in ocr_alone.items]
    [line] = [i for i in ocr.items if "harbor" in i.text.lower()]
    assert line.start_s == pytest.approx(2.0, abs=1.0) and line.end_s == pytest.approx(6.0, abs=1.0), line
    assert subtitles.status == ChannelStatus.SKIPPED and speech.status == ChannelStatus.SKIPPED


def test_encoder_squares_match_ffmpegs_scaling(clip: Path) -> None:
    info = probe(clip)
    stream = choose_video_stream(info)
    wide = np.concatenate([b.frames for b in FrameSampler(
        info, stream, SamplingPolicy(size_px=960, resize_mode="fit_width")).batches()])  # (N, 540, 960, 3)
    for mode in ("center_crop", "squash"):
        ffmpeg = np.concatenate([b.frames for b in FrameSampler(
            info, stream, SamplingPolicy(size_px=224, resize_mode=mode)).batches()])  # (N, 224, 224, 3)
        ours = encoder_squares(wide, 224, mode)
        assert ours.shape == ffmpeg.shape
        assert np.abs(ours.astype(np.int16) - ffmpeg).mean() < 6.0, mode  # the same picture, scaler rounding aside


class BrokenEngine:
    key = "broken"

    def detect(self, frame: np.ndarray, width_px: int = 640) -> list:
        raise OcrError(Path("models"), "OCR failed on a test frame", "report it")


@pytest.mark.parametrize("ocr_workers", [1, 2])
def test_a_failing_ocr_leaves_the_frames_done_and_the_decode_thread_ends(clip: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         ocr_workers: int) -> None:
    info = probe(clip)
    stream = choose_video_stream(info)
    models = RunModels(None, replace(TEXT, ocr=OcrSettings(workers=ocr_workers)))
    monkeypatch.setattr(models, "ocr_engine", lambda: BrokenEngine())
    frames, ocr, _, _ = run_file_pass(info, stream, POLICY, 0.5, models, None, _channel)
    assert frames.status == ChannelStatus.DONE and len(frames.t_s) == 8, frames
    assert ocr.status == ChannelStatus.FAILED and ocr.reason == "OCR failed on a test frame", ocr
    assert ocr.channel == Channel.OCR
    assert not [t for t in threading.enumerate() if t.name == "scenedex-decode"
                or t.name.startswith("scenedex-ocr-seg")]  # the segment readers stopped too


def _threads_calling(models: RunModels, loader: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that call ``models.<loader>()`` from now on (the loader still loads)."""
    names: list[str] = []
    real = getattr(models, loader)

    def recorded() -> object:
        names.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(models, loader, recorded)
    return names


def test_the_sentence_model_is_loaded_in_the_speech_thread_while_the_frames_are_read(
        clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = probe(clip)
    stream = choose_video_stream(info)
    models = RunModels(None, TEXT)
    loaded_by = _threads_calling(models, "text_encoder", monkeypatch)
    run_file_pass(info, stream, POLICY, 0.5, models, None, _channel)
    assert len(loaded_by) == 1 and loaded_by[0].startswith("scenedex-speech"), loaded_by
    assert "text" in models.loaded  # the commit finds it loaded


def test_a_sentence_model_that_fails_to_preload_leaves_the_pass_done(clip: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    info = probe(clip)
    stream = choose_video_stream(info)
    models = RunModels(None, TEXT)

    def broken() -> object:
        raise OSError("no sentence model here")

    monkeypatch.setattr(models, "text_encoder", broken)
    frames, ocr, subtitles, _ = run_file_pass(info, stream, POLICY, 0.5, models, None, _channel)
    assert frames.status == ocr.status == ChannelStatus.DONE and subtitles.status == ChannelStatus.SKIPPED
    assert "text" not in models.loaded  # left to the commit, which reports the error


def test_the_ocr_models_load_in_a_thread_of_their_own_and_a_load_that_fails_fails_only_ocr(
        clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = probe(clip)
    stream = choose_video_stream(info)
    models = RunModels(None, TEXT)
    loaded_by = _threads_calling(models, "ocr_engine", monkeypatch)
    _, ocr, _, _ = run_file_pass(info, stream, POLICY, 0.5, models, None, _channel)
    assert ocr.status == ChannelStatus.DONE and len(loaded_by) == 1, (ocr, loaded_by)
    assert loaded_by[0].startswith("scenedex-ocr-load"), loaded_by  # beside the decode, not before it

    def broken() -> object:
        raise OcrError(Path("models"), "the OCR models could not be loaded", "reinstall")

    monkeypatch.setattr(models, "ocr_engine", broken)
    frames, ocr, _, _ = run_file_pass(info, stream, POLICY, 0.5, models, None, _channel)
    assert frames.status == ChannelStatus.DONE and len(frames.t_s) == 8, frames
    assert ocr.status == ChannelStatus.FAILED and ocr.reason == "the OCR models could not be loaded", ocr
