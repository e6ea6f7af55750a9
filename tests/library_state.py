"""Snapshots of everything an index run leaves behind, to compare runs with each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from db.models import MediaStatus
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.session import Database
from indexer.encoders.base import EncoderInfo
from indexer.features import read_feature_file
from search.vector_index import load_index, watermark_of
from workers.layout import DataLayout


@dataclass
class LibraryState:
    status: dict[str, str]  # file name -> status
    frames: dict[str, list[float]]  # file name -> frame times
    shots: dict[str, list[tuple[float, float]]]
    vector_ids: list[int]  # ids in the FAISS index, sorted
    frame_ids_with_vectors: list[int]
    feature_files: list[str]
    embeddings: dict[str, np.ndarray]  # file name -> (N, d) vectors, in frame time order


def snapshot(db: Database, layout: DataLayout, info: EncoderInfo | None) -> LibraryState:
    status, frames, shots, embeddings = {}, {}, {}, {}
    vector_ids: list[int] = []
    with_vectors: list[int] = []
    with db.session() as session:
        model = models_repo.get_model_by_key(session, info.key) if info else None
        for media in library_repo.list_media(session):
            name = Path(media.path).name
            status[name] = str(media.status)
            frames[name] = [f.t_s for f in frames_repo.frames_of_media(session, media.id)]
            shots[name] = [(s.start_s, s.end_s) for s in frames_repo.shots_of_media(session, media.id)]
            ids = frames_repo.frame_ids(session, media.id)
            if model is not None and media.status == MediaStatus.INDEXED and len(ids):
                records = read_feature_file(layout.feature_file(model.id, media.id), expected_frame_ids=ids)
                embeddings[name] = np.asarray(records["embedding"], dtype=np.float32)
        if model is not None:
            with_vectors = frames_repo.vector_frame_ids(session, model.id).tolist()
            index, manifest = load_index(layout.index_dir(model.id), model.key, model.embed_dim)
            vector_ids = sorted(index.ids().tolist())
            assert manifest.watermark == watermark_of(np.asarray(with_vectors)), "index manifest behind the database"
    features = sorted(str(p.relative_to(layout.data_dir)) for p in (layout.data_dir / "features").rglob("*.npy")) \
        if (layout.data_dir / "features").exists() else []
    return LibraryState(status, frames, shots, vector_ids, with_vectors, features, embeddings)


def assert_same_content(a: LibraryState, b: LibraryState) -> None:
    """Two runs produced the same library (row ids may differ)."""
    assert a.status == b.status
    assert a.frames == b.frames
    assert a.shots == b.shots
    assert len(a.vector_ids) == len(b.vector_ids)
    assert a.embeddings.keys() == b.embeddings.keys()
    for name in a.embeddings:
        assert np.allclose(a.embeddings[name], b.embeddings[name], atol=1e-3), name
