"""Finding media files in a library and fingerprinting their content."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

SAMPLE_BYTES = 1 << 20


def fingerprint(path: Path, size_bytes: int) -> str:
    """sha256 of the size and three 1 MiB samples (head, middle, tail): cheap on a 50 GB file, and changes
    whenever a file is re-encoded, truncated, or replaced by another. Not a full-content hash."""
    digest = hashlib.sha256(str(size_bytes).encode())
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, size_bytes // 2 - SAMPLE_BYTES // 2), max(0, size_bytes - SAMPLE_BYTES)}):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def discover(paths: Iterable[Path], extensions: Iterable[str]) -> Iterator[tuple[Path, Path]]:
    """Yield ``(root, file)`` for every entry under the given files or folders whose name has a media extension.

    Links and non-regular entries are yielded too (the indexer records why they cannot be read); hidden files and
    folders are skipped. Sorted, so runs are repeatable.
    """
    wanted = {e.lower() for e in extensions}
    for given in paths:
        root = given.absolute()
        if root.is_file() or (root.suffix.lower() in wanted and not root.is_dir()):
            yield root.parent, root
            continue
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files + [d for d in dirs if Path(d).suffix.lower() in wanted]):
                if not name.startswith(".") and Path(name).suffix.lower() in wanted:
                    yield root, Path(folder) / name
