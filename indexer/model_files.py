"""Model files that ship inside PyPI packages: find them and check their sha256 before anything loads them."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path


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


def package_dir(package: str, subdir: str = "") -> Path:
    """The folder of an installed package (plus ``subdir``), or ModelFileError saying how to install it."""
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ModelFileError(package, f"the package {package} is not installed",
                             "run `make setup`, or configure a local model directory instead") from exc
    assert module.__file__ is not None
    return Path(module.__file__).parent / subdir


def verify_files(directory: Path, expected_sha256: Mapping[str, str]) -> Path:
    """Check each named file in ``directory`` against its pinned sha256; return the directory."""
    for name, expected in expected_sha256.items():
        path = directory / name
        if not path.is_file():
            raise ModelFileError(path, "model file missing", "reinstall the package (`make setup`)")
        actual = sha256_of(path)
        if actual != expected:
            raise ModelFileError(path, f"sha256 {actual[:12]}… differs from the pinned {expected[:12]}…",
                                 "the package changed or the file is damaged: reinstall the pinned version")
    return directory
