"""Re-embed a library's stored text with another sentence model, without running speech or OCR again.

Text chunks keep their ids, spans and texts; only their vectors and model change, and each file's recorded
``channels_key`` takes the new model's key (so a later ``scenedex index`` with that model finds it current).
Where the rules that cut text into chunks changed since the file was indexed
(``indexer.text_chunks.CHUNK_RULE``), its chunks are cut again from its stored text segments first. The new
model's FAISS index is then brought up to date from Postgres.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from db.models import TextSegment
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.text_chunks import TimedText, make_chunks
from indexer.text_embedding import TextEncoderInfo, describe_text_model
from workers.file_state import stale_in_key_alone
from workers.ingest import IngestConfig, chunk_rows
from workers.layout import DataLayout
from workers.models import text_key_part
from workers.text_vectors import vectors_for
from workers.vectors import sync_text_index

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reembedded:
    model_id: int
    media: int  # files whose chunks were re-embedded
    chunks: int
    recut: int = 0  # of those files, how many were chunked again (their chunks were cut by older rules)
    model_name: str = ""  # the sentence model's name, as it is shown


def with_text_key(channels_key: str | None, text_key: str) -> str | None:
    """A file's channels key (``workers.models.TextChannels.key``) with its text-model part replaced.

    >>> with_text_key("subs=on;speech=default;ocr=off;sentence:a@1", "sentence:b@2")
    'subs=on;speech=default;ocr=off;sentence:b@2'
    """
    if channels_key is None:
        return None
    head, _, _ = channels_key.rpartition(";")
    return f"{head};{text_key}" if head else text_key


def model_id_for(db: Database, info: TextEncoderInfo) -> int:
    with db.session() as session:
        return models_repo.get_or_create_model(session, key=info.key, family="sentence", name=info.name,
                                               revision=info.revision, embed_dim=info.dim, feature_dim=0,
                                               grid_k=0).id


def reembed_text(db: Database, layout: DataLayout, text_model: str | None, encoder: Any = None,
                 on_file: Callable[[int, int], None] = lambda done, total: None,
                 media_ids: list[int] | None = None, channels_key: str | None = None,
                 sync_index: bool = True) -> Reembedded:
    """Embed the chunks of ``media_ids`` (default: every file with chunks of another model) with ``text_model``
    (None: the packaged default) and record it on each file (``channels_key``: the whole new key; default: the
    old one with its text part replaced). The caller may pass a loaded ``TextEncoder`` of that model.
    ``sync_index=False`` leaves the FAISS index to its writer (a queued job's sync stage)."""
    info = describe_text_model(text_model)
    model_id = model_id_for(db, info)
    if media_ids is None:
        with db.session() as session:
            media_ids = text_repo.media_with_chunks_not_of(session, model_id)
    chunks = recut = 0

    def loaded() -> Any:  # the encoder, loaded once some text is not stored under this model yet
        nonlocal encoder
        if encoder is None:
            from indexer.text_embedding import TextEncoder

            encoder = TextEncoder(text_model)
        return encoder

    for done, media_id in enumerate(media_ids, 1):
        with db.session() as session:
            ids, stored = text_repo.chunk_spans(session, media_id)
            rows = current_chunks(text_repo.segments_of(session, media_id))
        same = [(r["channel"], r["start_s"], r["end_s"], r["text"]) for r in rows] == stored
        vectors = vectors_for(db, model_id, [r["text"] for r in rows], loaded) if rows \
            else np.zeros((0, info.dim), np.float32)
        with db.session() as session:
            if same:
                text_repo.set_chunk_embeddings(session, ids, model_id, vectors)
            else:  # cut by older rules: the file's chunks (and their vector ids) are replaced
                ids = text_repo.replace_chunks(session, media_id, model_id, rows, vectors)
                recut += 1
            media = library_repo.get_media(session, media_id)
            if media is not None:
                media.text_model_id = model_id if len(ids) else None
                media.channels_key = channels_key or with_text_key(media.channels_key, text_key_part(info))
        chunks += len(ids)
        on_file(done, len(media_ids))
    if sync_index:
        sync_text_index(db, layout, model_id)
    log.info("re-embedded %d chunks of %d files with %s (%d cut again by the current rules)", chunks,
             len(media_ids), info.key, recut)
    return Reembedded(model_id, len(media_ids), chunks, recut, info.name)


def current_chunks(segments: Sequence[TextSegment]) -> list[dict[str, Any]]:
    """A file's stored text segments -> its chunks under today's rules, as ``replace_chunks`` rows."""
    return chunk_rows(make_chunks([TimedText(str(s.channel), s.start_s, s.end_s, s.text) for s in segments]))


def only_text_model_changed(db: Database, config: IngestConfig, vision_id: int | None, channels_key: str) -> list[int]:
    """Indexed, unchanged files whose settings differ from ``channels_key`` in its last part alone (the sentence
    model, the chunk rules): what they need is their stored text chunked and embedded again, not speech and OCR
    again."""
    head = channels_key.rpartition(";")[0]
    return stale_in_key_alone(db, config, vision_id, channels_key, lambda key: key.rpartition(";")[0] == head)
