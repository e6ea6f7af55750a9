"""On-screen text: captions burned into generated video are read, at the right times, as one span each, while
frames that did not change are not looked at again and frames without text are only probed."""

from __future__ import annotations

import doctest
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import indexer.ocr
import indexer.text_spans
from indexer.model_files import ModelFileError, package_dir
from indexer.ocr import MODEL_SHA256, OcrEngine, OcrError, load_ocr_engine
from indexer.ocr_models import OcrModelFiles
from indexer.screen_text import ScreenTextStats, read_screen_text
from indexer.probe import choose_video_stream, probe
from indexer.sampling import FrameSampler, SamplingPolicy
from indexer.shots import build_shots
from indexer.text_spans import TextSpan, normalise_text, select_frames_for_ocr
from scenedex.samples import FONT

FAKE_FILES = OcrModelFiles("fake", Path("models"), Path("models/det.onnx"), Path("models/rec.onnx"), None,
                           "fake")
SIZE = (960, 540)
FPS = 10  # source frame rate: whole frames at every caption time below


@dataclass(frozen=True)
class Caption:
    text: str
    start_s: float  # on screen from here ...
    end_s: float  # ... up to (not including) here, in media time


@dataclass(frozen=True)
class Part:
    source: str  # an ffmpeg lavfi source, with or without options
    duration_s: float
    captions: tuple[Caption, ...] = ()  # times relative to the part's start


def _drawtext(c: Caption) -> str:
    return (f"drawtext=fontfile={FONT}:text='{c.text}':fontsize=36:fontcolor=white:box=1:boxcolor=black@0.7:"
            f"boxborderw=10:x=(w-text_w)/2:y=h-100:enable='gte(t,{c.start_s})*lt(t,{c.end_s})'")


def make_video(path: Path, parts: list[Part]) -> None:
    """Parts joined by hard cuts, each with its own captions."""
    w, h = SIZE
    inputs: list[str] = []
    chains = []
    for i, part in enumerate(parts):
        sep = ":" if "=" in part.source else "="
        source = f"{part.source}{sep}size={w}x{h}:rate={FPS},trim=duration={part.duration_s}"
        inputs += ["-f", "lavfi", "-i", source]
        captions = "".join("," + _drawtext(c) for c in part.captions)
        chains.append(f"[{i}:v]setpts=PTS-STARTPTS{captions}[p{i}]")
    graph = ";".join(chains) + ";" + "".join(f"[p{i}]" for i in range(len(parts)))
    graph += f"concat=n={len(parts)}:v=1:a=0,format=yuv420p[v]"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph,
                    "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", str(path)],
                   check=True)


def truth(parts: list[Part]) -> list[Caption]:
    """Captions in media time."""
    out, offset = [], 0.0
    for part in parts:
        out += [Caption(c.text, offset + c.start_s, offset + c.end_s) for c in part.captions]
        offset += part.duration_s
    return out


# Cuts at 8 s and 16 s. A caption that comes and goes within a still shot, one over a moving picture (every
# frame of that shot is read), one that comes and goes on a still picture after a cut.
CAPTIONED = [
    Part("color=c=#203050", 8.0, (Caption("QUARTERLY REVENUE 2024", 1.5, 7.5),)),
    Part("mandelbrot", 8.0, (Caption("Launch window opens at dawn", 1.0, 7.0),)),
    Part("color=c=#306030", 8.0, (Caption("Harbor lights at midnight", 2.0, 6.0),)),
]
STATIC = [Part("color=c=#402020", 20.0, (Caption("Annual general meeting", 0.0, 20.0),))]


@dataclass(frozen=True)
class Sampled:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    t_s: np.ndarray  # (N,)
    frame_shot: np.ndarray  # (N,)
    cut_t_s: list[float]
    duration_s: float


def sample(path: Path) -> Sampled:
    """Frames and shots as the indexer takes them for OCR."""
    info = probe(path)
    policy = SamplingPolicy(size_px=960, resize_mode="fit_width", fps=1.0)
    sampler = FrameSampler(info, choose_video_stream(info), policy)
    batches = list(sampler.batches())
    t_s = np.concatenate([b.t_s for b in batches])
    _, frame_shot = build_shots(t_s, sampler.result.cut_t_s, info.duration_s)
    return Sampled(np.concatenate([b.frames for b in batches]), t_s, frame_shot, sampler.result.cut_t_s,
                   info.duration_s)


@dataclass(frozen=True)
class Read:
    sampled: Sampled
    spans: list[TextSpan]
    stats: ScreenTextStats


def read_video(engine: OcrEngine, path: Path, parts: list[Part]) -> Read:
    make_video(path, parts)
    sampled = sample(path)
    spans, stats = read_screen_text(engine, sampled.frames, sampled.t_s, sampled.frame_shot, interval_s=1.0,
                                    duration_s=sampled.duration_s)
    return Read(sampled, spans, stats)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return load_ocr_engine()


@pytest.fixture(scope="module")
def captioned(engine: OcrEngine, tmp_path_factory: pytest.TempPathFactory) -> Read:
    return read_video(engine, tmp_path_factory.mktemp("ocr") / "captioned.mp4", CAPTIONED)


@pytest.fixture(scope="module")
def static(engine: OcrEngine, tmp_path_factory: pytest.TempPathFactory) -> Read:
    return read_video(engine, tmp_path_factory.mktemp("ocr") / "static.mp4", STATIC)


def spans_showing(spans: list[TextSpan], caption: str) -> list[TextSpan]:
    """Spans whose text holds every word of the caption (case-insensitive; OCR may drop a space)."""
    return [s for s in spans if all(word in normalise_text(s.text) for word in caption.casefold().split())]


# --- on generated video, with the real engine ---------------------------------------------------------------

def test_every_caption_is_read_within_one_sampling_interval_of_its_times(captioned: Read) -> None:
    for caption in truth(CAPTIONED):
        found = spans_showing(captioned.spans, caption.text)
        assert len(found) == 1, (caption, captioned.spans)
        span = found[0]
        assert abs(span.start_s - caption.start_s) <= 1.0, (caption, span)
        assert abs(span.end_s - caption.end_s) <= 1.0, (caption, span)
        assert span.confidence >= 0.8, span


def test_a_caption_shown_for_six_seconds_over_moving_video_is_one_span_recognised_once(captioned: Read) -> None:
    [span] = spans_showing(captioned.spans, "Launch window opens at dawn")
    assert span.frame_count >= 5, span  # the picture moves, so each of its six frames was read ...
    assert span.end_s - span.start_s == pytest.approx(6.0, abs=1.0)  # ... and they made one span
    assert captioned.stats.lines_recognised <= 5, captioned.stats  # the line was followed, not re-read


def test_frames_of_still_shots_are_skipped_and_frames_without_text_only_probed(captioned: Read) -> None:
    stats, t_s = captioned.stats, captioned.sampled.t_s
    assert stats.frames_given == len(t_s) == 24
    assert stats.frames_unchanged + stats.frames_read <= stats.frames_given
    assert stats.frames_probed <= 8, stats  # a probe finding text is followed by a read of that frame
    assert stats.frames_read <= 16, stats  # the frames showing a caption, and the one after each
    assert stats.frames_unchanged >= 6, stats  # the still shots
    assert len(captioned.spans) == 3, captioned.spans  # nothing read in the fractal or the plain backgrounds


def test_the_first_frame_after_each_cut_is_read(captioned: Read) -> None:
    s = captioned.sampled
    assert s.cut_t_s == pytest.approx([8.0, 16.0], abs=1e-3)
    selected = select_frames_for_ocr(s.frames, s.frame_shot)
    for cut in s.cut_t_s:
        assert int(np.searchsorted(s.t_s, cut - 1e-6)) in selected, (cut, s.t_s[selected])


def test_a_static_video_is_read_once_and_its_caption_spans_all_of_it(static: Read) -> None:
    assert static.stats.frames_given == 20
    assert static.stats.frames_read + static.stats.frames_probed <= 2, static.stats
    [span] = spans_showing(static.spans, "Annual general meeting")
    assert span.start_s == 0.0 and span.end_s == pytest.approx(20.0, abs=0.1)


# --- the engine's parts, around stand-ins for RapidOCR's detector and recogniser ----------------------------

class FakeDetector:
    """Stands in for RapidOCR's TextDetector: a probability map with one bright rectangle, its post-processing
    returning that rectangle in the frame's pixels."""

    def __init__(self, points: list[list[float]], fail: bool = False) -> None:
        self.points, self.fail, self.seen = points, fail, []

    def infer(self, x: np.ndarray) -> list[np.ndarray]:
        if self.fail:
            raise RuntimeError("onnxruntime exploded")
        self.seen.append(x)
        return [np.zeros((1, 1, x.shape[2], x.shape[3]), np.float32)]

    def postprocess_op(self, pred: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, list[float]]:
        return np.array([self.points], np.float32), [0.9]


class FakeRecogniser:
    """Stands in for LineRecogniser: (B, 3, 48, W) batches -> (text, score) per row."""

    def __init__(self, answers: list[tuple[str, float]]) -> None:
        self.answers, self.seen = answers, []

    def __call__(self, x: np.ndarray) -> list[tuple[str, float]]:
        self.seen.append(x)
        return self.answers[:len(x)]


def test_the_detector_sees_the_frame_scaled_to_its_width_in_bgr_and_boxes_come_back_in_frame_pixels() -> None:
    frame = np.zeros((540, 960, 3), np.uint8)
    frame[..., 0] = 255  # red
    det = FakeDetector([[10, 20], [110, 20], [110, 40], [10, 40]])
    engine = OcrEngine(det, FakeRecogniser([]), FAKE_FILES, 0.5)
    assert engine.detect(frame, 480) == [((10.0, 20.0), (110.0, 20.0), (110.0, 40.0), (10.0, 40.0))]
    x = det.seen[0]
    assert x.shape == (1, 3, 256, 480)  # (1, C, H, W): 270 x 480, sides rounded to multiples of 32
    assert x[0, :, 0, 0].tolist() == [-1.0, -1.0, 1.0]  # blue, green, red in [-1, 1]


def test_the_detectors_input_is_the_reversed_frame_scaled_the_same_numbers_at_any_size() -> None:
    import cv2

    rng = np.random.default_rng(3)
    for h, w, dh, dw in [(540, 960, 352, 640), (540, 960, 256, 480), (140, 960, 96, 640), (37, 53, 32, 32)]:
        frame = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        scaled = cv2.resize(np.ascontiguousarray(frame[..., ::-1]), (dw, dh), interpolation=cv2.INTER_AREA)
        expected = (scaled.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]  # (1, 3, dh, dw) BGR
        got = indexer.ocr.det_input(frame, dw, dh)
        assert got.shape == expected.shape and got.dtype == np.float32 and got.flags.c_contiguous
        assert np.array_equal(got, expected)


def test_recognised_lines_that_are_not_text_are_dropped_and_capitals_get_their_spaces() -> None:
    frame = np.full((60, 200, 3), 90, np.uint8)
    det = FakeDetector([[10, 20], [110, 20], [110, 40], [10, 40]])
    rec = FakeRecogniser([("QUARTERLYREVENUE2024", 0.91)])
    engine = OcrEngine(det, rec, FAKE_FILES, min_confidence=0.5)
    [line] = engine.read(frame)
    assert (line.text, line.confidence) == ("QUARTERLY REVENUE 2024", 0.91)
    assert rec.seen[0].shape == (1, 3, 48, 240)  # the box's 20 x 100 crop, scaled to the recogniser's 48 px
    assert rec.seen[0][0, :, 0, 0].tolist() == pytest.approx([90 / 127.5 - 1] * 3)  # grey in [-1, 1]
    for noise in [("福", 0.99), ("M", 0.99), ("BKY", 0.95), ("faint but long words", 0.3)]:
        assert OcrEngine(det, FakeRecogniser([noise]), FAKE_FILES, 0.5).read(frame) == [], noise


def test_an_engine_failure_is_an_ocr_error_that_names_the_frame_size() -> None:
    engine = OcrEngine(FakeDetector([], fail=True), FakeRecogniser([]), FAKE_FILES, 0.5)
    with pytest.raises(OcrError, match="120x60 frame") as info:
        engine.read(np.zeros((60, 120, 3), np.uint8))
    assert "onnxruntime exploded" in info.value.detail


class SlowRecogniser:
    """Stands in for LineRecogniser, taking 0.2 s a call and counting the calls that run at the same time."""

    def __init__(self) -> None:
        self.running, self.most, self.lock = 0, 0, threading.Lock()

    def __call__(self, x: np.ndarray) -> list[tuple[str, float]]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.2)
        with self.lock:
            self.running -= 1
        return [(f"LINE {x.shape[3]}", 0.9)] * len(x)


def test_a_frames_lines_are_recognised_two_at_a_time_on_the_cpu_and_come_back_in_order() -> None:
    rec = SlowRecogniser()
    engine = OcrEngine(FakeDetector([]), rec, FAKE_FILES, 0.5)
    crops = [np.full((20, 20 * k, 3), 200, np.uint8) for k in (3, 9, 1, 5)]  # widths 144, 432, 48, 240 at 48 px
    t0 = time.perf_counter()
    readings = engine.recognise(crops)
    assert [t for t, _ in readings] == ["LINE 144", "LINE 432", "LINE 48", "LINE 240"]
    assert rec.most == 2 and time.perf_counter() - t0 < 0.7  # 4 calls of 0.2 s, two at a time
    engine.rec_workers = 1
    engine.recognise(crops)
    assert rec.most == 2 and rec.running == 0


def test_an_engine_whose_cuda_provider_cannot_run_says_it_runs_on_the_cpu_and_reads_like_it(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """onnxruntime falls back to the CPU on its own when the CUDA provider cannot load (here: no onnxruntime-gpu);
    the engine then reports the CPU and batches as on the CPU, not as on CUDA."""
    monkeypatch.setattr(indexer.ocr, "ocr_providers", lambda device: (True, "CUDAExecutionProvider"))
    engine = load_ocr_engine(device="cuda")
    assert engine.provider == "CPUExecutionProvider"
    assert engine.rec_batch == indexer.ocr.REC_BATCH_CPU
    assert "runs on CPUExecutionProvider" in caplog.text


# --- model files --------------------------------------------------------------------------------------------

def copy_models(tmp_path: Path) -> Path:
    target = tmp_path / "models"
    target.mkdir()
    for name in MODEL_SHA256:
        shutil.copy(package_dir("rapidocr_onnxruntime", "models") / name, target / name)
    return target


def test_a_model_file_that_differs_from_its_pinned_sha256_is_refused(tmp_path: Path) -> None:
    models = copy_models(tmp_path)
    rec = models / "ch_PP-OCRv4_rec_infer.onnx"
    rec.write_bytes(rec.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelFileError, match="differs from the pinned"):
        load_ocr_engine(model_dir=models)


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    models = copy_models(tmp_path)
    (models / "ch_PP-OCRv4_det_infer.onnx").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        load_ocr_engine(model_dir=models)


def test_docstring_examples_hold() -> None:
    import indexer.ocr_filters
    import indexer.ocr_tracking

    for module in (indexer.ocr, indexer.text_spans, indexer.ocr_filters, indexer.ocr_tracking):
        failed, _ = doctest.testmod(module)
        assert failed == 0, module.__name__


def test_spaces_the_recogniser_dropped_in_capitals_are_restored() -> None:
    from indexer.ocr import split_run_together_caps

    assert split_run_together_caps("LAUNCHWINDOWOPENSATDAWN") == "LAUNCH WINDOW OPENS AT DAWN"
    assert split_run_together_caps("Field report: the colony grows") == "Field report: the colony grows"
    assert split_run_together_caps("会议室 NASA") == "会议室 NASA"


def test_a_generated_caption_is_drawn_as_written_percent_colon_and_quote_included(engine: OcrEngine,
                                                                                  tmp_path: Path) -> None:
    """drawtext expands "%" sequences by default: a caption holding a "%" was drawn as an empty box (ffmpeg
    only warned "Stray %"), so a generated library could hold a caption nobody can read."""
    from scenedex.samples import Segment, make_clip

    clip = tmp_path / "percent.mp4"
    make_clip(clip, [Segment("bars", 1.0, caption="Rate: 14% o'clock")], size=SIZE, fps=FPS, clock=False,
              frame_code=False)
    frame = subprocess.run(["ffmpeg", "-v", "error", "-ss", "0.5", "-i", str(clip), "-frames:v", "1",
                            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                           check=True, capture_output=True).stdout
    read = " ".join(b.text for b in engine.read(np.frombuffer(frame, np.uint8).reshape(SIZE[1], SIZE[0], 3)))
    assert "14%" in read.replace(" ", "") and "Rate" in read, read
