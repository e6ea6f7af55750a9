"""What the library page shows: every media file with its status, duration, channel statuses and problems.

Two queries per page of files (the files, then the channels of those files), whatever the number of files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import MediaChannel, MediaFile, MediaStatus


@dataclass(frozen=True)
class ChannelState:
    status: str  # done, failed, skipped
    item_count: int
    error_reason: str | None
    error_hint: str | None


@dataclass(frozen=True)
class LibraryFile:
    id: int
    path: str
    status: str  # pending, indexed, failed, skipped
    duration_s: float | None
    error_reason: str | None
    error_hint: str | None
    indexed_at: datetime | None
    channels: dict[str, ChannelState] = field(default_factory=dict)


@dataclass(frozen=True)
class LibraryPage:
    files: list[LibraryFile]
    total: int  # files matching the filter, on all pages
    counts: dict[str, int]  # status -> files, over the whole library


def library_page(session: Session, *, status: MediaStatus | None = None, limit: int = 1000,
                 offset: int = 0) -> LibraryPage:
    """Files ordered by path (problems are not hidden among thousands of healthy files: filter by ``status``)."""
    assert limit > 0 and offset >= 0, f"limit must be positive and offset not negative, got {limit}, {offset}"
    query = select(MediaFile)
    if status is not None:
        query = query.where(MediaFile.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(MediaFile.path).limit(limit).offset(offset)))
    channels: dict[int, dict[str, ChannelState]] = {m.id: {} for m in rows}
    if rows:
        for c in session.scalars(select(MediaChannel).where(MediaChannel.media_id.in_(list(channels)))
                                 .order_by(MediaChannel.media_id, MediaChannel.channel)):
            channels[c.media_id][str(c.channel)] = ChannelState(str(c.status), c.item_count, c.error_reason,
                                                                 c.error_hint)
    counts = {str(s): int(n) for s, n in session.execute(select(MediaFile.status, func.count())
                                                         .group_by(MediaFile.status))}
    files = [LibraryFile(id=m.id, path=m.path, status=str(m.status), duration_s=m.duration_s,
                         error_reason=m.error_reason, error_hint=m.error_hint, indexed_at=m.indexed_at,
                         channels=channels[m.id]) for m in rows]
    return LibraryPage(files=files, total=int(total), counts=counts)
