"""Chunk texts to vectors, taking the vector a chunk of the same text model already stores for the same text.

An archive repeats its text: a series' credits and titles in every episode, a channel's lower thirds and bumpers,
every line of a file indexed again because one of its channels was read again (on-screen text read under new rules
keeps its speech and subtitles, and most of its own lines read as before). The text model's row names its weights,
revision and prompts, and the packaged models give a text the same vector whatever is embedded with it (the int8
mpnet embeds each text alone; MiniLM's batches gave 553 library and credit texts the same float32 bits as each
alone; ``tests/test_text_vectors.py`` checks the float16 that is stored), so a stored vector is what embedding the
text again would store. A model of the user's run by sentence-transformers may batch otherwise: it gets the stored
vector of the same text by the same model, within rounding of its own. Only texts no chunk holds are embedded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from db.repositories import text as text_repo
from db.session import Database

if TYPE_CHECKING:
    from indexer.text_embedding import TextEncoder

log = logging.getLogger(__name__)


def vectors_for(db: Database, model_id: int | None, texts: Sequence[str],
                encoder: Callable[[], TextEncoder]) -> np.ndarray:
    """(len(texts), dim) float32 unit vectors of ``texts`` by text model ``model_id``: stored ones where a chunk
    holds the same text, the rest embedded by ``encoder()`` (called only then). ``model_id`` None: all embedded."""
    if not texts:
        return np.zeros((0, 0), np.float32)
    stored: dict[str, bytes] = {}
    if model_id is not None:
        with db.session() as session:
            stored = text_repo.stored_embeddings(session, model_id, texts)
    missing = list(dict.fromkeys(t for t in texts if t not in stored))
    fresh = encoder().encode(missing) if missing else np.zeros((0, 0), np.float32)  # (M, dim) float32
    row_of = {t: i for i, t in enumerate(missing)}
    log.debug("text vectors: %d distinct texts stored already, %d embedded", len(stored), len(missing))
    return np.stack([np.frombuffer(stored[t], "<f2").astype(np.float32) if t in stored else fresh[row_of[t]]
                     for t in texts])  # (N, dim)
