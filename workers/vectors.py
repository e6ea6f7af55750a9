"""Keep a model's FAISS index equal to what Postgres and the feature files say. One writer per index."""

from __future__ import annotations

import fcntl
import logging
from dataclasses import dataclass

import numpy as np

from db.repositories import frames as frames_repo
from db.repositories import models as models_repo
from db.session import Database
from indexer.features import read_feature_file
from search.errors import IndexMismatchError, IndexMissingError, SearchError
from search.vector_index import Manifest, VectorIndex, choose_kind, load_index, watermark_of
from workers.layout import DataLayout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    manifest: Manifest
    added: int
    removed: int
    rebuilt: bool


def _add_media_vectors(db: Database, layout: DataLayout, model_id: int, index: VectorIndex, media_ids: list[int],
                       only_missing: np.ndarray | None = None) -> int:
    added = 0
    for media_id in media_ids:
        with db.session() as session:
            ids = frames_repo.frame_ids(session, media_id)
        if only_missing is not None:
            ids_needed = np.isin(ids, only_missing)
            if not ids_needed.any():
                continue
        records = read_feature_file(layout.feature_file(model_id, media_id), expected_frame_ids=ids)
        keep = np.ones(len(ids), bool) if only_missing is None else ids_needed
        index.add(ids[keep], np.asarray(records["embedding"][keep], dtype=np.float32))
        added += int(keep.sum())
    return added


def _check_complete(index: VectorIndex, db_ids: np.ndarray) -> None:
    if index.count != len(db_ids):
        raise SearchError(f"the vector index would hold {index.count} vectors but the database has {len(db_ids)} "
                          "frames with vectors (files changed during the run?): run `scenedex reindex`")


def sync_vector_index(db: Database, layout: DataLayout, model_id: int, rebuild: bool = False) -> SyncResult:
    """Bring the index of ``model_id`` up to date: add missing vectors, drop deleted ones, or rebuild.

    Holds an exclusive lock on the index directory: one writer per index, even with several runs at once.
    """
    directory = layout.index_dir(model_id)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".writer.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _sync_locked(db, layout, model_id, rebuild)


def _sync_locked(db: Database, layout: DataLayout, model_id: int, rebuild: bool) -> SyncResult:
    with db.session() as session:
        model = models_repo.get_model(session, model_id)
        assert model is not None, f"embedding model {model_id} does not exist"
        key, dim = model.key, model.embed_dim
        db_ids = frames_repo.vector_frame_ids(session, model_id)
        media_ids = frames_repo.media_with_vectors(session, model_id)
    target = watermark_of(db_ids)
    directory = layout.index_dir(model_id)
    index: VectorIndex | None = None
    if not rebuild:
        try:
            index, manifest = load_index(directory, key, dim)
            if manifest.watermark == target and choose_kind(len(db_ids)) == index.kind:
                return SyncResult(manifest, 0, 0, False)
        except (IndexMissingError, IndexMismatchError) as exc:
            log.info("rebuilding the vector index: %s", exc)
            index = None
    if index is not None and choose_kind(len(db_ids)) == index.kind:
        stale = np.setdiff1d(index.ids(), db_ids, assume_unique=True)
        if stale.size == 0 or index.supports_remove:
            removed = index.remove(stale) if stale.size else 0
            missing = np.setdiff1d(db_ids, index.ids(), assume_unique=True)
            added = _add_media_vectors(db, layout, model_id, index, media_ids, only_missing=missing) if missing.size else 0
            _check_complete(index, db_ids)
            manifest = index.save(directory, target)
            log.info("vector index updated: +%d -%d -> %d vectors", added, removed, manifest.count)
            return SyncResult(manifest, added, removed, False)
    fresh = VectorIndex(key, dim, choose_kind(len(db_ids)))
    added = _add_media_vectors(db, layout, model_id, fresh, media_ids)
    _check_complete(fresh, db_ids)
    manifest = fresh.save(directory, target)
    log.info("vector index rebuilt (%s): %d vectors", fresh.kind, manifest.count)
    return SyncResult(manifest, added, 0, True)
