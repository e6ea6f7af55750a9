"""What search reads from Postgres: full-text matches, the rows behind vector ids, filters, and file timelines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from db.models import Channel, Frame, LibraryRoot, MediaFile, MediaStatus, Shot, TextChunk, TextSegment


@dataclass(frozen=True)
class TextRow:
    id: int
    media_id: int
    channel: str
    start_s: float
    end_s: float
    text: str
    score: float  # full-text rank for segments; unused for chunks


@dataclass(frozen=True)
class Timeline:
    media_id: int
    duration_s: float
    sample_fps: float | None
    shot_starts_s: np.ndarray  # (S,) float64 ascending


def glob_to_like(pattern: str) -> str:
    r"""A shell pattern (``*`` any run, ``?`` one character) as a LIKE pattern with ``\`` as escape.

    >>> glob_to_like("*/news_?0%.mp4")
    '%/news\\__0\\%.mp4'
    """
    out = []
    for ch in pattern:
        if ch in "\\%_":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def matching_media_ids(session: Session, *, root: str | None = None, path_glob: str | None = None,
                       min_duration_s: float | None = None, max_duration_s: float | None = None,
                       indexed_after: datetime | None = None, indexed_before: datetime | None = None,
                       media_ids: Sequence[int] = ()) -> np.ndarray:
    """(n,) int64 ids of indexed files passing every given filter."""
    query: Select[tuple[int]] = select(MediaFile.id).where(MediaFile.status == MediaStatus.INDEXED)
    if root is not None:
        query = query.join(LibraryRoot, LibraryRoot.id == MediaFile.root_id).where(LibraryRoot.path == root)
    if path_glob is not None:
        query = query.where(MediaFile.path.like(glob_to_like(path_glob), escape="\\"))
    if min_duration_s is not None:
        query = query.where(MediaFile.duration_s >= min_duration_s)
    if max_duration_s is not None:
        query = query.where(MediaFile.duration_s <= max_duration_s)
    if indexed_after is not None:
        query = query.where(MediaFile.indexed_at >= indexed_after)
    if indexed_before is not None:
        query = query.where(MediaFile.indexed_at <= indexed_before)
    if media_ids:
        query = query.where(MediaFile.id.in_(list(media_ids)))
    return np.fromiter(session.scalars(query.order_by(MediaFile.id)), dtype=np.int64)


# Without quotes a query's words are OR-ed (a moment rarely repeats every word of a natural-language query);
# with quotes or operators the user's own syntax (phrases, -exclusions) is kept. Matches are ranked by the share
# of the query's words they hold ("coverage"), then by cover density; a segment holding under ``min_coverage``
# of the words is not a word match (sharing one word of six is what the sentence embeddings judge better).
# With ``rare_words`` each word of the query counts by its rarity in the library (inverse document frequency over
# text segments, ln((N + 1) / (df + 1)) + 1): a segment that shares only the common word of "dinner on the train"
# ("train") holds less than half of the query and is no word match, while one holding "dinner" still is.
LEXICAL_SQL = text("""
    WITH q AS (
        SELECT CASE WHEN :user_syntax THEN websearch_to_tsquery('english', :query)
                    ELSE replace(plainto_tsquery('english', :query)::text, ' & ', ' | ')::tsquery END AS tsq,
               tsvector_to_array(to_tsvector('english', :query)) AS lexemes
    ), w AS (
        SELECT lx, CASE WHEN :rare_words
                        THEN ln((n.docs + 1.0) / (1.0 + (SELECT count(*) FROM text_segments d
                                                          WHERE d.tsv @@ quote_literal(lx)::tsquery))) + 1.0
                        ELSE 1.0 END AS weight
        FROM q CROSS JOIN unnest(q.lexemes) AS lx
             CROSS JOIN (SELECT count(*) AS docs FROM text_segments WHERE :rare_words) n
    ), total AS (
        SELECT greatest(coalesce(sum(weight), 0), 1e-9) AS weight FROM w
    ), matches AS (
        SELECT s.id, s.media_id, s.channel::text AS channel, s.start_s, s.end_s, s.text,
               ts_rank_cd(s.tsv, q.tsq, 32) AS score,
               CAST((SELECT coalesce(sum(w.weight), 0) FROM w WHERE w.lx = ANY(tsvector_to_array(s.tsv)))
                    AS float) / total.weight AS coverage
        FROM text_segments s CROSS JOIN q CROSS JOIN total
        WHERE s.tsv @@ q.tsq
          AND s.channel = ANY(CAST(:channels AS channel[]))
          AND (CAST(:media_ids AS integer[]) IS NULL OR s.media_id = ANY(CAST(:media_ids AS integer[])))
    )
    SELECT * FROM matches
    WHERE :user_syntax OR coverage >= :min_coverage
    ORDER BY coverage DESC, score DESC, id
    LIMIT :limit
""")


def lexical_matches(session: Session, query: str, channels: Sequence[str], limit: int,
                    media_ids: np.ndarray | None = None, min_coverage: float = 0.5,
                    rare_words: bool = False) -> list[TextRow]:
    """Text segments holding the query's words, most of the words first (``rare_words``: each word weighted by
    its rarity in the library); ``score`` is the coverage (0..1)."""
    user_syntax = any(ch in query for ch in '"') or " or " in f" {query.lower()} " or " -" in f" {query}"
    rows = session.execute(LEXICAL_SQL, {"query": query, "user_syntax": user_syntax, "channels": list(channels),
                                         "media_ids": None if media_ids is None else media_ids.tolist(),
                                         "limit": limit, "min_coverage": min_coverage, "rare_words": rare_words})
    return [TextRow(int(r.id), int(r.media_id), str(r.channel), float(r.start_s), float(r.end_s), str(r.text),
                    float(r.coverage) + 1e-3 * float(r.score)) for r in rows]


def chunk_rows(session: Session, ids: np.ndarray, model_id: int) -> dict[int, TextRow]:
    """The chunks of ``ids`` whose vectors are ``model_id``'s: a chunk re-embedded with another sentence model
    since that model's index was written is not returned (its vector there is stale)."""
    if len(ids) == 0:
        return {}
    rows = session.execute(select(TextChunk.id, TextChunk.media_id, TextChunk.channel, TextChunk.start_s,
                                  TextChunk.end_s, TextChunk.text)
                           .where(TextChunk.id.in_(ids.tolist()), TextChunk.model_id == model_id))
    return {int(r.id): TextRow(int(r.id), int(r.media_id), str(r.channel), float(r.start_s), float(r.end_s),
                               str(r.text), 0.0) for r in rows}


def chunk_ids_where(session: Session, model_id: int, channels: Sequence[str],
                    media_ids: np.ndarray | None = None) -> np.ndarray:
    """(n,) int64 ids of the text chunks a filtered search may return."""
    query = select(TextChunk.id).where(TextChunk.model_id == model_id,
                                       TextChunk.channel.in_([Channel(c) for c in channels]))
    if media_ids is not None:
        query = query.where(TextChunk.media_id.in_(media_ids.tolist()))
    return np.fromiter(session.scalars(query), dtype=np.int64)


@dataclass(frozen=True)
class FrameRow:
    media_id: int
    t_s: float
    interval_s: float  # the time one sampled frame stands for (1 / its file's sampling rate)


def frame_rows(session: Session, ids: np.ndarray) -> dict[int, FrameRow]:
    """frame id -> its file, time and sampling interval, in one query."""
    if len(ids) == 0:
        return {}
    rows = session.execute(select(Frame.id, Frame.media_id, Frame.t_s, MediaFile.sample_fps)
                           .join(MediaFile, MediaFile.id == Frame.media_id).where(Frame.id.in_(ids.tolist())))
    return {int(r.id): FrameRow(int(r.media_id), float(r.t_s), 1.0 / (r.sample_fps or 1.0)) for r in rows}


def frame_ids_where(session: Session, model_id: int, media_ids: np.ndarray) -> np.ndarray:
    query = (select(Frame.id).join(MediaFile, MediaFile.id == Frame.media_id)
             .where(MediaFile.embedding_model_id == model_id, Frame.media_id.in_(media_ids.tolist())))
    return np.fromiter(session.scalars(query), dtype=np.int64)


def timelines(session: Session, media_ids: Sequence[int]) -> dict[int, Timeline]:
    """Length, sampling rate and shot starts of each file, for building moments."""
    if not media_ids:
        return {}
    ids = sorted(set(int(m) for m in media_ids))
    media = session.execute(select(MediaFile.id, MediaFile.duration_s, MediaFile.sample_fps)
                            .where(MediaFile.id.in_(ids))).all()
    starts: dict[int, list[float]] = {}
    for media_id, start_s in session.execute(select(Shot.media_id, Shot.start_s).where(Shot.media_id.in_(ids))
                                             .order_by(Shot.media_id, Shot.start_s)):
        starts.setdefault(int(media_id), []).append(float(start_s))
    return {int(m.id): Timeline(int(m.id), float(m.duration_s or 0.0), m.sample_fps,
                                np.asarray(starts.get(int(m.id), []), dtype=np.float64)) for m in media}


def frame_near(session: Session, media_id: int, t_s: float) -> tuple[int, float] | None:
    """The sampled frame of a file closest to ``t_s``: (frame id, its t_s)."""
    row = session.execute(select(Frame.id, Frame.t_s).where(Frame.media_id == media_id)
                          .order_by(func.abs(Frame.t_s - t_s)).limit(1)).first()
    return (int(row.id), float(row.t_s)) if row else None


def text_segment_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(TextSegment)) or 0)


def lines_between(session: Session, media_id: int, start_s: float, end_s: float,
                  channels: Sequence[str]) -> list[tuple[str, float, float, str]]:
    """(channel, start_s, end_s, text) of the text segments of a file overlapping [start_s, end_s], in time order."""
    rows = session.execute(select(TextSegment.channel, TextSegment.start_s, TextSegment.end_s, TextSegment.text)
                           .where(TextSegment.media_id == media_id, TextSegment.end_s >= start_s,
                                  TextSegment.start_s <= end_s,
                                  TextSegment.channel.in_([Channel(c) for c in channels]))
                           .order_by(TextSegment.start_s, TextSegment.id))
    return [(str(r.channel), float(r.start_s), float(r.end_s), str(r.text)) for r in rows]
