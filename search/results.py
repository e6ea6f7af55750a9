"""Ranked moments as a user pages through them: one list of moments, or one entry per video."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from search.moments import Moment

T = TypeVar("T")


@dataclass(frozen=True)
class VideoHit:
    """A video and its best moments, for results grouped by video."""

    media_id: int
    score: float  # its best moment's score
    moments: tuple[Moment, ...]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int  # items on all pages
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return (self.total + self.page_size - 1) // self.page_size

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(items: Sequence[T], page: int, page_size: int) -> Page[T]:
    """One page of ``items`` (pages count from 1).

    >>> paginate(list("abcde"), 2, 2).items
    ('c', 'd')
    """
    assert page >= 1 and page_size >= 1, f"page {page}, page size {page_size}"
    start = (page - 1) * page_size
    return Page(items=tuple(items[start:start + page_size]), total=len(items), page=page, page_size=page_size)


def group_by_video(moments: Sequence[Moment], moments_per_video: int = 3) -> list[VideoHit]:
    """Videos ranked by their best moment; each keeps its ``moments_per_video`` best moments in rank order."""
    grouped: dict[int, list[Moment]] = {}
    for m in moments:  # moments arrive best first, so each list stays ranked
        grouped.setdefault(m.media_id, []).append(m)
    videos = [VideoHit(media_id, ms[0].score, tuple(ms[:moments_per_video])) for media_id, ms in grouped.items()]
    return sorted(videos, key=lambda v: (-v.score, v.media_id))
