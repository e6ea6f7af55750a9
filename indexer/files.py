"""Finding media files in a library and fingerprinting their content."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
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


def discover(paths: Iterable[Path], extensions: Iterable[str],
             on_error: Callable[[OSError], None] | None = None) -> Iterator[tuple[Path, Path]]:
    """Yield ``(root, file)`` for every entry under the given files or folders whose name has a media extension.

    Links and non-regular entries are yielded too (the indexer records why they cannot be read); hidden files and
    folders are skipped. Sorted, so runs are repeatable. A folder that cannot be listed is passed to
    ``on_error`` (its ``filename`` is the folder), never silently left out.
    """
    wanted = {e.lower() for e in extensions}
    for given in paths:
        root = given.absolute()
        if root.is_file() or (root.suffix.lower() in wanted and not root.is_dir()):
            yield root.parent, root
            continue
        for folder, dirs, files in os.walk(root, onerror=on_error, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files + [d for d in dirs if Path(d).suffix.lower() in wanted]):
                if not name.startswith(".") and Path(name).suffix.lower() in wanted:
                    yield root, Path(folder) / name


@dataclass(frozen=True)
class FileSignature:
    """What ``stat`` says of a file: its size and times, and which file (inode) the name points at.

    Size or mtime moving means new content; ctime or inode moving with both unchanged means the file was replaced
    or its metadata touched (``touch -r``, ``cp`` over it, a rename onto it): only the fingerprint can tell.
    """

    size_bytes: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileSignature:
        """Raises OSError (FileNotFoundError when the file is gone)."""
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)

    def change_from(self, before: FileSignature) -> str | None:
        """How the file changed since ``before``, in words, or None when it did not.

        >>> FileSignature(2_000_000, 9, 9, 1).change_from(FileSignature(1_000_000, 5, 5, 1))
        'it grew from 1.0 MB to 2.0 MB'
        >>> FileSignature(10, 5, 7, 2).change_from(FileSignature(10, 5, 5, 1))
        'it was replaced by another file'
        """
        if self.size_bytes != before.size_bytes:
            verb = "grew" if self.size_bytes > before.size_bytes else "shrank"
            return f"it {verb} from {_mb(before.size_bytes)} to {_mb(self.size_bytes)}"
        if self.mtime_ns != before.mtime_ns:
            return "it was written to (its modification time changed)"
        if self.inode != before.inode:
            return "it was replaced by another file"
        if self.ctime_ns != before.ctime_ns:
            return "its status changed (renamed onto, touched or re-permissioned)"
        return None


def _mb(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.1f} MB"
