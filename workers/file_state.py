"""Whether a media row still describes the file on disk: size, modification time, and which file the name points
at (ctime, inode), recorded when a pass is kept and compared on every run and before every write."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from db.models import MediaFile, MediaStatus
from db.repositories import library as library_repo
from db.session import Database
from indexer.files import FileSignature, fingerprint

if TYPE_CHECKING:
    from workers.ingest import IngestConfig, ModelIds, Probed

INODE_MODULO = 2 ** 63  # inodes are unsigned 64-bit; Postgres' bigint is signed


def _stat(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def file_signature(path: Path) -> tuple[int, int]:
    """(size in bytes, mtime in ns), or (-1, 0) for a file that cannot be stat'ed (dangling link, gone)."""
    try:
        return _stat(path)
    except OSError:
        return -1, 0


def _configured_as(media: MediaFile, config: IngestConfig, ids: ModelIds, channels_key: str) -> bool:
    return (media.sampling_key == config.sampling_key() and media.embedding_model_id == ids.vision
            and media.channels_key == channels_key)


def same_file(media: MediaFile) -> bool:
    """The file is as the row recorded it: size and mtime (a file that cannot be stat'ed: as recorded then), and
    ctime and inode where the row has them (a same-size, same-mtime replacement moves those)."""
    try:
        now = FileSignature.of(Path(media.path))
    except OSError:
        return (media.size_bytes, media.mtime_ns) == (-1, 0)
    if (now.size_bytes, now.mtime_ns) != (media.size_bytes, media.mtime_ns):
        return False
    return media.ctime_ns is None or (now.ctime_ns, now.inode % INODE_MODULO) == (media.ctime_ns, media.inode)


def record_signature(media: MediaFile, signature: FileSignature | None) -> None:
    if signature is None:
        media.size_bytes, media.mtime_ns, media.ctime_ns, media.inode = -1, 0, None, None
    else:
        media.size_bytes, media.mtime_ns = signature.size_bytes, signature.mtime_ns
        media.ctime_ns, media.inode = signature.ctime_ns, signature.inode % INODE_MODULO


def signature_or_none(path: Path) -> FileSignature | None:
    try:
        return FileSignature.of(path)
    except OSError:
        return None


def is_current(media: MediaFile, config: IngestConfig, ids: ModelIds, channels_key: str, retry_failed: bool) -> bool:
    """True when the row already reflects this file under this configuration (the same file, unchanged)."""
    if media.status in (MediaStatus.FAILED, MediaStatus.SKIPPED):
        return not retry_failed and same_file(media)
    if media.status != MediaStatus.INDEXED or not same_file(media):
        return False
    return _configured_as(media, config, ids, channels_key)


def touch_if_same_content(db: Database, media_id: int, config: IngestConfig, ids: ModelIds, channels_key: str) -> bool:
    """A file whose mtime, ctime or inode changed but whose content fingerprint did not is updated in place, not
    re-indexed."""
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None or media.status != MediaStatus.INDEXED or media.fingerprint is None:
            return False
        if not _configured_as(media, config, ids, channels_key):
            return False
        try:
            now = FileSignature.of(Path(media.path))
            same = now.size_bytes == media.size_bytes and fingerprint(Path(media.path), now.size_bytes) == \
                media.fingerprint
        except OSError:
            return False
        if same:
            record_signature(media, now)
        return same


def change_since_probe(probed: Probed) -> str | None:
    """How the file changed since the probe stage stat'ed it, or None when it is the same file."""
    try:
        return FileSignature.of(probed.path).change_from(probed.signature)
    except FileNotFoundError:
        return "it was removed"
    except OSError as exc:
        return f"it can no longer be read ({exc.strerror})"


def stale_in_key_alone(db: Database, config: IngestConfig, vision_id: int | None, channels_key: str,
                       key_differs_only_as_allowed: Callable[[str], bool]) -> list[int]:
    """Indexed files, unchanged on disk, sampled and encoded as now, whose channels' key is not ``channels_key``
    but passes ``key_differs_only_as_allowed`` (given their key): what a catch-up can bring up to date without
    indexing them again whole (``workers.reembed``, ``workers.reread_ocr``)."""
    with db.session() as session:
        return [m.id for m in library_repo.list_media(session)
                if m.status == MediaStatus.INDEXED and m.channels_key is not None and m.channels_key != channels_key
                and key_differs_only_as_allowed(m.channels_key) and m.sampling_key == config.sampling_key()
                and m.embedding_model_id == vision_id and same_file(m)]
