"""Timed text segments, text chunks with their embeddings, per-channel status, and frame-text alignment."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db.models import Channel, ChannelStatus, EmbeddingModel, MediaChannel, MediaFile, TextChunk, TextSegment


def replace_segments(session: Session, media_id: int, rows: Sequence[dict[str, Any]]) -> int:
    """Replace a file's text segments. Each row: channel, start_s, end_s, text, language, source, confidence, detail."""
    session.execute(delete(TextSegment).where(TextSegment.media_id == media_id))
    if rows:
        session.execute(insert(TextSegment), [{"media_id": media_id, **row} for row in rows])
    return len(rows)


def replace_chunks(session: Session, media_id: int, model_id: int | None, rows: Sequence[dict[str, Any]],
                   embeddings: np.ndarray) -> np.ndarray:
    """Replace a file's text chunks; rows: channel, start_s, end_s, text. Returns the chunk ids (= vector ids)."""
    assert len(rows) == len(embeddings), f"{len(rows)} chunks but {len(embeddings)} embeddings"
    session.execute(delete(TextChunk).where(TextChunk.media_id == media_id))
    if not rows:
        return np.zeros(0, dtype=np.int64)
    assert model_id is not None, "chunks need the id of the model that embedded them"
    vectors = np.asarray(embeddings, dtype="<f2")
    ids = session.scalars(insert(TextChunk).returning(TextChunk.id, sort_by_parameter_order=True),
                          [{"media_id": media_id, "model_id": model_id, **row, "embedding": vectors[i].tobytes()}
                           for i, row in enumerate(rows)])
    return np.fromiter(ids, dtype=np.int64)


def set_channel(session: Session, media_id: int, channel: Channel, status: ChannelStatus, *, producer: str | None,
                item_count: int, error_reason: str | None = None, error_hint: str | None = None) -> None:
    values = {"status": status, "producer": producer, "item_count": item_count, "error_reason": error_reason,
              "error_hint": error_hint}
    session.execute(pg_insert(MediaChannel).values(media_id=media_id, channel=channel, **values)
                    .on_conflict_do_update(index_elements=["media_id", "channel"], set_=values))


def channels_of(session: Session, media_id: int) -> list[MediaChannel]:
    return list(session.scalars(select(MediaChannel).where(MediaChannel.media_id == media_id)
                                .order_by(MediaChannel.channel)))


def channel_counts(session: Session) -> dict[str, dict[str, int]]:
    """channel -> status -> number of files."""
    from sqlalchemy import func

    out: dict[str, dict[str, int]] = {}
    rows = session.execute(select(MediaChannel.channel, MediaChannel.status, func.count())
                           .group_by(MediaChannel.channel, MediaChannel.status))
    for channel, status, n in rows:
        out.setdefault(str(channel), {})[str(status)] = int(n)
    return out


def has_failed_channel(session: Session, media_id: int) -> bool:
    return session.scalar(select(MediaChannel.media_id).where(MediaChannel.media_id == media_id,
                                                              MediaChannel.status == ChannelStatus.FAILED)
                          .limit(1)) is not None


def channel_problems(session: Session, limit: int = 50) -> list[tuple[str, MediaChannel]]:
    """Channels that failed, with their files' paths."""
    return _channels_where(session, MediaChannel.status == ChannelStatus.FAILED, limit)


def channel_notes(session: Session, limit: int = 50) -> list[tuple[str, MediaChannel]]:
    """Channels that were indexed with something left out (skipped cues, replaced bytes), with their paths."""
    return _channels_where(session, (MediaChannel.status == ChannelStatus.DONE)
                           & MediaChannel.error_reason.is_not(None), limit)


def _channels_where(session: Session, condition: Any, limit: int) -> list[tuple[str, MediaChannel]]:
    rows = session.execute(select(MediaFile.path, MediaChannel).join(MediaFile, MediaFile.id == MediaChannel.media_id)
                           .where(condition).order_by(MediaFile.path, MediaChannel.channel).limit(limit))
    return [(path, channel) for path, channel in rows]


def segments_of(session: Session, media_id: int, channels: Sequence[Channel] | None = None) -> list[TextSegment]:
    query = select(TextSegment).where(TextSegment.media_id == media_id)
    if channels:
        query = query.where(TextSegment.channel.in_(channels))
    return list(session.scalars(query.order_by(TextSegment.start_s, TextSegment.id)))


def chunk_ids(session: Session, model_id: int) -> np.ndarray:
    rows = session.scalars(select(TextChunk.id).where(TextChunk.model_id == model_id).order_by(TextChunk.id))
    return np.fromiter(rows, dtype=np.int64)


def chunks_by_model(session: Session) -> dict[tuple[str, str], int]:
    """(model key, model name) -> how many text chunks are embedded with it, over the whole library."""
    rows = session.execute(select(EmbeddingModel.key, EmbeddingModel.name, func.count(TextChunk.id))
                           .join(EmbeddingModel, EmbeddingModel.id == TextChunk.model_id)
                           .group_by(EmbeddingModel.key, EmbeddingModel.name))
    return {(key, name): int(n) for key, name, n in rows}


def media_with_chunks_not_of(session: Session, model_id: int) -> list[int]:
    """Files that have text chunks embedded by another text model than ``model_id``."""
    rows = session.scalars(select(TextChunk.media_id).where(TextChunk.model_id != model_id).distinct()
                           .order_by(TextChunk.media_id))
    return list(rows)


def chunk_spans(session: Session, media_id: int) -> tuple[np.ndarray, list[tuple[str, float, float, str]]]:
    """A file's chunk ids (n,) int64 and their (channel, start_s, end_s, text), in id order."""
    columns = (TextChunk.id, TextChunk.channel, TextChunk.start_s, TextChunk.end_s, TextChunk.text)
    query = select(*columns).where(TextChunk.media_id == media_id).order_by(TextChunk.id)
    rows = session.execute(query).all()
    return (np.asarray([r[0] for r in rows], dtype=np.int64),
            [(str(r[1]), float(r[2]), float(r[3]), r[4]) for r in rows])


def stored_embeddings(session: Session, model_id: int, texts: Sequence[str]) -> dict[str, bytes]:
    """Text -> the embedding (float16 bytes) a chunk of text model ``model_id`` already stores for exactly that text,
    for those of ``texts`` some chunk of any file holds (found through ``ix_text_chunks_model_text_md5``)."""
    wanted = set(texts)
    if not wanted:
        return {}
    digests = [hashlib.md5(t.encode()).hexdigest() for t in wanted]
    rows = session.execute(select(TextChunk.text, TextChunk.embedding)  # one row a text, however many files hold it
                           .where(TextChunk.model_id == model_id, func.md5(TextChunk.text).in_(digests))
                           .distinct(TextChunk.text))
    return {t: bytes(e) for t, e in rows if t in wanted}


def set_chunk_embeddings(session: Session, ids: np.ndarray, model_id: int, embeddings: np.ndarray) -> None:
    """Give chunks (ids (n,)) new embeddings (n, dim) of text model ``model_id``; their ids, spans and texts stay."""
    assert len(ids) == len(embeddings), f"{len(ids)} chunks but {len(embeddings)} embeddings"
    vectors = np.asarray(embeddings, dtype="<f2")
    if len(ids):
        session.execute(update(TextChunk), [{"id": int(i), "model_id": model_id, "embedding": vectors[k].tobytes()}
                                            for k, i in enumerate(ids)])


def chunk_vectors(session: Session, ids: np.ndarray, dim: int) -> np.ndarray:
    """(len(ids), dim) float32 embeddings of the given chunk ids, in the order given."""
    if len(ids) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    found = dict(session.execute(select(TextChunk.id, TextChunk.embedding).where(TextChunk.id.in_(ids.tolist()))).all())
    return np.stack([np.frombuffer(found[int(i)], dtype="<f2") for i in ids]).astype(np.float32)


FRAME_TEXT_SQL = text("""
    SELECT f.id AS frame_id, f.t_s, string_agg(s.text, ' ' ORDER BY s.start_s, s.id) AS text
    FROM text_segments s
    JOIN LATERAL (
        SELECT id, t_s FROM frames
        WHERE frames.media_id = s.media_id AND frames.t_s < s.end_s
        ORDER BY frames.t_s DESC LIMIT 1
    ) f ON true
    WHERE s.media_id = :media_id AND s.channel = ANY(CAST(:channels AS channel[]))
    GROUP BY f.id, f.t_s
    ORDER BY f.t_s
""")


def frame_texts(session: Session, media_id: int, channels: Sequence[Channel] = (Channel.SUBTITLES, Channel.SPEECH)
                ) -> list[tuple[int, float, str]]:
    """LLaMA-VID's long-video alignment in one query: each text segment belongs to the last sampled frame that
    starts before the segment ends; returns ``(frame_id, t_s, text)`` for the frames that have text, in time order."""
    rows = session.execute(FRAME_TEXT_SQL, {"media_id": media_id, "channels": [str(c) for c in channels]})
    return [(int(r.frame_id), float(r.t_s), str(r.text)) for r in rows]
