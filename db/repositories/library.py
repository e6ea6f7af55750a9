"""Library roots and media-file rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db.models import LibraryRoot, MediaFile, MediaStatus


def get_or_create_root(session: Session, path: str) -> LibraryRoot:
    """The root row of ``path``, created if new; safe when several processes add the same root at once."""
    root = session.scalar(select(LibraryRoot).where(LibraryRoot.path == path))
    if root is None:
        session.execute(pg_insert(LibraryRoot).values(path=path).on_conflict_do_nothing(index_elements=["path"]))
        root = session.scalar(select(LibraryRoot).where(LibraryRoot.path == path))
        assert root is not None, f"library root {path!r} neither inserted nor found"
    return root


def list_roots(session: Session) -> list[LibraryRoot]:
    return list(session.scalars(select(LibraryRoot).order_by(LibraryRoot.path)))


def get_media(session: Session, media_id: int) -> MediaFile | None:
    return session.get(MediaFile, media_id)


def get_media_many(session: Session, media_ids: Sequence[int]) -> list[MediaFile]:
    """The media rows of the given ids that exist, in one query."""
    if not media_ids:
        return []
    return list(session.scalars(select(MediaFile).where(MediaFile.id.in_(list(media_ids)))))


def get_media_by_path(session: Session, path: str) -> MediaFile | None:
    return session.scalar(select(MediaFile).where(MediaFile.path == path))


def list_media(session: Session, root_id: int | None = None) -> list[MediaFile]:
    query = select(MediaFile).order_by(MediaFile.path)
    if root_id is not None:
        query = query.where(MediaFile.root_id == root_id)
    return list(session.scalars(query))


def add_media(session: Session, root_id: int, path: str, size_bytes: int, mtime_ns: int) -> MediaFile:
    """A new PENDING row for ``path`` (or the row another process added for it a moment ago)."""
    session.execute(pg_insert(MediaFile).values(root_id=root_id, path=path, size_bytes=size_bytes, mtime_ns=mtime_ns,
                                                status=MediaStatus.PENDING)
                    .on_conflict_do_nothing(index_elements=["path"]))
    media = session.scalar(select(MediaFile).where(MediaFile.path == path))
    assert media is not None, f"media row {path!r} neither inserted nor found"
    return media


def set_probe(session: Session, media: MediaFile, *, fingerprint: str, duration_s: float, container: str,
              streams: list[dict[str, Any]], video_stream_index: int | None, width: int | None, height: int | None,
              fps: float | None, rotation_deg: int, is_vfr: bool) -> None:
    media.fingerprint = fingerprint
    media.duration_s = duration_s
    media.container = container
    media.streams = streams
    media.video_stream_index = video_stream_index
    media.width, media.height, media.fps = width, height, fps
    media.rotation_deg, media.is_vfr = rotation_deg, is_vfr
    session.flush()


def mark_indexed(session: Session, media: MediaFile, *, sample_fps: float, sampling_key: str,
                 embedding_model_id: int | None) -> None:
    media.status = MediaStatus.INDEXED
    media.error_reason = media.error_hint = media.error_detail = None
    media.sample_fps = sample_fps
    media.sampling_key = sampling_key
    media.embedding_model_id = embedding_model_id
    media.indexed_at = datetime.now(UTC)
    session.flush()


def mark_problem(session: Session, media: MediaFile, status: MediaStatus, reason: str, hint: str, detail: str) -> None:
    """Record why a file was not indexed (status FAILED or SKIPPED) and what the user can do."""
    media.status = status
    media.error_reason, media.error_hint, media.error_detail = reason, hint or None, detail[-8000:] or None
    media.embedding_model_id = None
    media.indexed_at = datetime.now(UTC)
    session.flush()


def note_deferred(session: Session, media: MediaFile, reason: str, hint: str) -> None:
    """Say why a file's latest pass was not kept (it changed under the indexer); its status, content and recorded
    size and times stay those of the last pass that was kept, so the next run takes it up again."""
    media.error_reason, media.error_hint = reason, hint
    session.flush()


def delete_media(session: Session, media_ids: Sequence[int]) -> int:
    """Delete media rows; their shots and frames go with them (ON DELETE CASCADE)."""
    if not media_ids:
        return 0
    result = session.execute(delete(MediaFile).where(MediaFile.id.in_(media_ids)))
    return int(result.rowcount)  # type: ignore[attr-defined]


def status_counts(session: Session) -> dict[str, dict[str, float]]:
    """Per status: number of files and their total duration in seconds."""
    rows = session.execute(select(MediaFile.status, func.count(), func.coalesce(func.sum(MediaFile.duration_s), 0.0))
                           .group_by(MediaFile.status))
    return {str(status): {"files": int(n), "duration_s": float(total)} for status, n, total in rows}


def problems(session: Session, limit: int = 50) -> list[MediaFile]:
    return list(session.scalars(select(MediaFile)
                                .where(MediaFile.status.in_([MediaStatus.FAILED, MediaStatus.SKIPPED]))
                                .order_by(MediaFile.path).limit(limit)))
