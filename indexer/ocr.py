"""On-screen text: RapidOCR's PP-OCRv4 ONNX models (shipped inside the rapidocr-onnxruntime wheel), checked
against pinned sha256 digests, loaded once, then read many frames.

    >>> engine = load_ocr_engine(min_confidence=0.5)            # doctest: +SKIP
    >>> engine.read(frame)                                       # doctest: +SKIP
    [TextBox(text='QUARTERLY REVENUE 2024', confidence=0.95, box=((205.0, 451.0), ...))]

The engine sees one picture at a time; which frames are worth reading, and how readings become spans of time,
is ``indexer.text_spans``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.errors import IndexerError
from indexer.model_files import package_dir, verify_files

log = logging.getLogger(__name__)

OCR_PACKAGE = "rapidocr_onnxruntime"
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_infer.onnx"
# The files of rapidocr-onnxruntime 1.4.4 (models/), the version scenedex was tested with.
MODEL_SHA256 = {
    DET_MODEL: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    REC_MODEL: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    CLS_MODEL: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
}

Box = tuple[tuple[float, float], ...]  # 4 corner points (x, y) in pixels, clockwise from top-left


class OcrError(IndexerError):
    """The OCR models passed their checks but the engine could not be built or could not read a frame."""


@dataclass(frozen=True)
class TextBox:
    text: str
    confidence: float  # recognition score, 0..1
    box: Box  # in pixels of the frame that was read


class TextReader(Protocol):
    """Anything that reads the text in one picture; the real one is OcrEngine, tests may pass a fake."""

    def read(self, frame: np.ndarray) -> list[TextBox]:
        """frame: (H, W, 3) uint8 RGB -> the text boxes found in it."""
        ...


RUN_TOGETHER_CAPS = re.compile(r"^[A-Z0-9]{8,}$")


LONG_WORD_CHARS = 12  # English words this long are rare; OCR runs of several words are common


def split_run_together_caps(text: str) -> str:
    """Put back the spaces PP-OCR's recogniser drops in ALL-CAPS English.

    The recogniser was trained mostly on Chinese, which has no spaces; on capitals it often reads
    "QUARTERLYREVENUE2024" (mixed case keeps its spaces). Runs of 8 or more capitals and digits are split into
    the most likely English words (wordninja's Wikipedia unigram model); anything else is left as read.

    >>> split_run_together_caps("QUARTERLYREVENUE2024 at noon")
    'QUARTERLY REVENUE 2024 at noon'
    """
    import wordninja

    return " ".join(" ".join(wordninja.split(word)) if RUN_TOGETHER_CAPS.match(word) else _split_long_word(word)
                    for word in text.split())


def _split_long_word(word: str) -> str:
    """A long mixed-case run ("Studentfeedshorses") split into words when every piece is a real word of two
    or more letters (a single long English word stays whole: its own probability beats any split).

    >>> _split_long_word("Studentfeedshorses"), _split_long_word("understanding")
    ('Student feeds horses', 'understanding')
    """
    import wordninja

    if len(word) < LONG_WORD_CHARS or not word.isalpha():
        return word
    pieces = wordninja.split(word)
    if len(pieces) < 2 or any(len(p) < 2 and p.lower() not in ("a", "i") for p in pieces):
        return word
    return " ".join(pieces)


def boxes_from_result(result: Sequence[Sequence[Any]] | None, min_confidence: float) -> list[TextBox]:
    """RapidOCR's ``[[points, text, score], ...]`` (or None when it found nothing) as TextBoxes, dropping blank
    and low-confidence readings, with the spaces of run-together capitals restored.

    >>> boxes_from_result([[[[0, 0], [9, 0], [9, 4], [0, 4]], " Hi ", 0.9], [[[0, 5]] * 4, "x", 0.2]], 0.5)
    [TextBox(text='Hi', confidence=0.9, box=((0.0, 0.0), (9.0, 0.0), (9.0, 4.0), (0.0, 4.0)))]
    """
    boxes = []
    for points, text, score in result or []:
        text = split_run_together_caps(str(text).strip())
        if text and float(score) >= min_confidence:
            box = tuple((float(x), float(y)) for x, y in points)
            boxes.append(TextBox(text=text, confidence=float(score), box=box))
    return boxes


class OcrEngine:
    """A loaded RapidOCR pipeline (detect, orient, recognise). Build it with ``load_ocr_engine``."""

    def __init__(self, ocr: Any, model_dir: Path, min_confidence: float) -> None:
        self._ocr = ocr
        self.model_dir = model_dir
        self.min_confidence = min_confidence
        # Names what produced the text, so stored text can be invalidated when the models change.
        self.key = f"rapidocr:PP-OCRv4@{MODEL_SHA256[DET_MODEL][:8]}{MODEL_SHA256[REC_MODEL][:8]}"

    def read(self, frame: np.ndarray) -> list[TextBox]:
        """frame: (H, W, 3) uint8 RGB -> text boxes in that frame's pixels, at least ``min_confidence``."""
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8, (
            f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        bgr = np.ascontiguousarray(frame[..., ::-1])  # (H, W, 3) uint8 BGR: RapidOCR's cv2 pipeline order
        try:
            result, _elapsed = self._ocr(bgr)
        except Exception as exc:  # onnxruntime and cv2 raise their own types; keep the cause attached
            raise OcrError(self.model_dir, f"OCR failed on a {frame.shape[1]}x{frame.shape[0]} frame",
                           "report it with the file that caused it", detail=repr(exc)) from exc
        return boxes_from_result(result, self.min_confidence)


def load_ocr_engine(min_confidence: float = 0.5, threads: int = 0,
                    model_dir: Path | None = None) -> OcrEngine:
    """Check the models' sha256 and build the engine once; ``threads`` 0 lets onnxruntime choose.

    ``model_dir`` defaults to the models folder of the installed rapidocr-onnxruntime; a file that differs
    from the pinned digests raises ``indexer.model_files.ModelFileError`` before anything is loaded.
    """
    assert 0.0 <= min_confidence <= 1.0, f"min_confidence must be in [0, 1], got {min_confidence}"
    assert threads >= 0, f"threads must be 0 (automatic) or positive, got {threads}"
    directory = verify_files(model_dir or package_dir(OCR_PACKAGE, "models"), MODEL_SHA256)
    from rapidocr_onnxruntime import RapidOCR  # lazy: onnxruntime is only paid for when OCR is on

    try:
        ocr = RapidOCR(det_model_path=str(directory / DET_MODEL), rec_model_path=str(directory / REC_MODEL),
                       cls_model_path=str(directory / CLS_MODEL), text_score=min_confidence,
                       intra_op_num_threads=threads or -1)
    except Exception as exc:  # onnxruntime's load errors have no common base class
        raise OcrError(directory, "the OCR models could not be loaded",
                       "reinstall rapidocr-onnxruntime and onnxruntime (`make setup`)",
                       detail=repr(exc)) from exc
    log.info("OCR engine loaded from %s (min confidence %.2f, threads %s)", directory, min_confidence,
             threads or "auto")
    return OcrEngine(ocr, directory, min_confidence)
