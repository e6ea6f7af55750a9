"""Keep each FAISS index equal to what Postgres (and the feature files) say. One writer per index.

Two kinds of vectors: frame embeddings of a vision model (read from the per-media feature files) and text-chunk
embeddings of a text model (stored with the chunks in Postgres). Both are synced the same way: compare the ids
the database has with the ids the index has, then add and remove the difference, or rebuild.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from db.repositories import frames as frames_repo
from db.repositories import models as models_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.features import read_feature_file
from search.errors import IndexMismatchError, IndexMissingError, SearchError
from search.vector_index import Manifest, VectorIndex, choose_kind, load_index, watermark_of
from workers.layout import DataLayout

log = logging.getLogger(__name__)
VectorsFn = Callable[[np.ndarray], np.ndarray]  # ids (n,) -> vectors (n, dim) float32, same order


@dataclass(frozen=True)
class SyncResult:
    manifest: Manifest
    added: int
    removed: int
    rebuilt: bool


def _frame_vectors(db: Database, layout: DataLayout, model_id: int) -> VectorsFn:
    def fetch(ids: np.ndarray) -> np.ndarray:
        with db.session() as session:
            media_ids = frames_repo.media_with_vectors(session, model_id)
            per_media = {m: frames_repo.frame_ids(session, m) for m in media_ids}
        wanted = set(ids.tolist())
        found: dict[int, np.ndarray] = {}
        for media_id, media_frames in per_media.items():
            mask = np.fromiter((int(i) in wanted for i in media_frames), dtype=bool, count=len(media_frames))
            if not mask.any():
                continue
            records = read_feature_file(layout.feature_file(model_id, media_id), expected_frame_ids=media_frames)
            for frame_id, vector in zip(media_frames[mask], records["embedding"][mask]):
                found[int(frame_id)] = np.asarray(vector, dtype=np.float32)
        return np.stack([found[int(i)] for i in ids]) if len(ids) else np.zeros((0, 0), np.float32)

    return fetch


def _chunk_vectors(db: Database, dim: int) -> VectorsFn:
    def fetch(ids: np.ndarray) -> np.ndarray:
        with db.session() as session:
            return text_repo.chunk_vectors(session, ids, dim)

    return fetch


def _check_complete(index: VectorIndex, db_ids: np.ndarray) -> None:
    if index.count != len(db_ids):
        raise SearchError(f"the vector index would hold {index.count} vectors but the database has {len(db_ids)} "
                          "(files changed during the run?): run `scenedex reindex`")


def _sync(directory: Path, key: str, dim: int, db_ids: np.ndarray, fetch: VectorsFn, rebuild: bool) -> SyncResult:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".writer.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        target = watermark_of(db_ids)
        kind = choose_kind(len(db_ids))
        index: VectorIndex | None = None
        if not rebuild:
            try:
                index, manifest = load_index(directory, key, dim)
                if manifest.watermark == target and index.kind == kind:
                    return SyncResult(manifest, 0, 0, False)
            except (IndexMissingError, IndexMismatchError) as exc:
                log.info("rebuilding the vector index: %s", exc)
                index = None
        if index is not None and index.kind == kind:
            stale = np.setdiff1d(index.ids(), db_ids)
            if stale.size == 0 or index.supports_remove:
                removed = index.remove(stale) if stale.size else 0
                missing = np.setdiff1d(db_ids, index.ids())
                if missing.size:
                    index.add(missing, fetch(missing))
                _check_complete(index, db_ids)
                manifest = index.save(directory, target)
                log.info("vector index %s updated: +%d -%d -> %d", key, missing.size, removed, manifest.count)
                return SyncResult(manifest, int(missing.size), removed, False)
        fresh = VectorIndex(key, dim, kind, expected_vectors=int(db_ids.size))
        if db_ids.size:
            fresh.add(db_ids, fetch(db_ids))
        _check_complete(fresh, db_ids)
        manifest = fresh.save(directory, target)
        log.info("vector index %s rebuilt (%s): %d vectors", key, kind, manifest.count)
        return SyncResult(manifest, int(db_ids.size), 0, True)


def _model(db: Database, model_id: int) -> tuple[str, int]:
    with db.session() as session:
        model = models_repo.get_model(session, model_id)
        assert model is not None, f"embedding model {model_id} does not exist"
        return model.key, model.embed_dim


def sync_vector_index(db: Database, layout: DataLayout, model_id: int, rebuild: bool = False) -> SyncResult:
    """Bring the frame index of vision model ``model_id`` up to date (add, remove, or rebuild)."""
    key, dim = _model(db, model_id)
    with db.session() as session:
        db_ids = frames_repo.vector_frame_ids(session, model_id)
    return _sync(layout.index_dir(model_id), key, dim, db_ids, _frame_vectors(db, layout, model_id), rebuild)


def sync_text_index(db: Database, layout: DataLayout, model_id: int, rebuild: bool = False) -> SyncResult:
    """Bring the text-chunk index of text model ``model_id`` up to date."""
    key, dim = _model(db, model_id)
    with db.session() as session:
        db_ids = text_repo.chunk_ids(session, model_id)
    return _sync(layout.index_dir(model_id), key, dim, db_ids, _chunk_vectors(db, dim), rebuild)
