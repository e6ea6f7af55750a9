"""Model files that ship inside PyPI packages: find them and check their sha256 before anything loads them."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)


class ModelFileError(Exception):
    """A packaged model is missing, or a file in it is not the one scenedex was tested with."""

    def __init__(self, path: Path | str, reason: str, hint: str) -> None:
        self.path, self.reason, self.hint = Path(path), reason, hint
        super().__init__(f"{path}: {reason} ({hint})")


@cache
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """Where scenedex keeps prepared models (``scenedex.settings.Settings.cache_dir``'s default and variable)."""
    explicit = os.environ.get("SCENEDEX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scenedex"


def package_dir(package: str, subdir: str = "") -> Path:
    """The folder of an installed package (plus ``subdir``), or ModelFileError saying how to install it."""
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ModelFileError(package, f"the package {package} is not installed",
                             "run `make setup`, or configure a local model directory instead") from exc
    assert module.__file__ is not None
    return Path(module.__file__).parent / subdir


def check_sha256(path: Path, expected: str) -> Path:
    """``path`` when its sha256 is the pinned one, else ModelFileError."""
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(path, f"sha256 {actual[:12]}… differs from the pinned {expected[:12]}…",
                             "the package changed or the file is damaged: reinstall the pinned version")
    return path


def verify_files(directory: Path, expected_sha256: Mapping[str, str]) -> Path:
    """Check each named file in ``directory`` against its pinned sha256; return the directory."""
    for name, expected in expected_sha256.items():
        path = directory / name
        if not path.is_file():
            raise ModelFileError(path, "model file missing", "reinstall the package (`make setup`)")
        check_sha256(path, expected)
    return directory


def distribution_file(distribution: str, name: str, expected_sha256: str, install_hint: str,
                      folder: str = "") -> Path:
    """A file shipped by an installed distribution (inside a folder named ``folder`` when given), sha256-checked;
    for packages whose folders are not importable, so ``package_dir`` cannot find them."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelFileError(distribution, f"the package {distribution} is not installed", install_hint) from None
    found = [f for f in dist.files or () if f.name == name and (not folder or f.parent.name == folder)]
    if not found:
        raise ModelFileError(distribution, f"{name} is not in the package", install_hint)
    return check_sha256(Path(str(dist.locate_file(found[0]))), expected_sha256)


def concatenate(parts: Sequence[Path], out: Path) -> Path:
    """Write ``parts`` one after another into ``out`` (a file split over several packages, joined)."""
    with open(out, "wb") as joined:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, joined, 1 << 22)
    return out


def is_built(target: Path, expected_sha256: Mapping[str, str]) -> bool:
    return all((target / name).is_file() for name in expected_sha256)


def build_once(target: Path, expected_sha256: Mapping[str, str], build: Callable[[Path], Path],
               temp_prefix: str) -> Path:
    """``target`` holding the files of ``expected_sha256``, each checked. When one is missing, ``build(work)``
    makes the folder inside a temporary folder beside ``target``; it is checked and renamed into place, so a
    crash never leaves a folder that looks whole."""
    if not is_built(target, expected_sha256):
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=temp_prefix, dir=target.parent) as work:
            made = verify_files(build(Path(work)), expected_sha256)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(made, target)
        log.info("prepared %s", target)
    return verify_files(target, expected_sha256)
