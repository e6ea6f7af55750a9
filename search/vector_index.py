"""A FAISS index whose ids are frame row ids, saved atomically with a manifest.

Layout of an index directory::

    manifest.json        what the index holds (model, dim, metric, kind, count, database watermark)
    index-<token>.faiss  the FAISS file the manifest names

A new version is written under a fresh file name, then ``manifest.json`` is replaced in one rename, so a
reader always finds a complete pair; older FAISS files are removed afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from search.errors import IndexMismatchError, IndexMissingError

IndexKind = Literal["flat", "hnsw"]
FLAT_MAX_VECTORS = 200_000  # exact search stays under ~10 ms per query below this (2 cores, 512-d)
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 96
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Watermark:
    """A cheap digest of the set of frame ids the database holds vectors for: any insert or delete changes it."""

    count: int
    max_id: int
    id_sum: int


@dataclass(frozen=True)
class Manifest:
    model_key: str
    dim: int
    metric: str
    kind: IndexKind
    count: int
    watermark: Watermark
    index_file: str
    built_at: str
    format_version: int = FORMAT_VERSION


def choose_kind(n_vectors: int) -> IndexKind:
    """Exact search for small libraries, HNSW (graph ANN) for large ones."""
    return "flat" if n_vectors <= FLAT_MAX_VECTORS else "hnsw"


def watermark_of(ids: np.ndarray) -> Watermark:
    ids = np.asarray(ids, dtype=np.int64)
    return Watermark(count=int(ids.size), max_id=int(ids.max(initial=0)), id_sum=int(ids.sum(dtype=np.int64)))


class VectorIndex:
    """Inner-product search over L2-normalised vectors (cosine similarity), ids = frame ids."""

    def __init__(self, model_key: str, dim: int, kind: IndexKind, index: faiss.Index | None = None) -> None:
        self.model_key = model_key
        self.dim = dim
        self.kind = kind
        self.index = index if index is not None else self._empty(dim, kind)

    @staticmethod
    def _empty(dim: int, kind: IndexKind) -> faiss.Index:
        if kind == "flat":
            inner: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(inner)

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def supports_remove(self) -> bool:
        return self.kind == "flat"

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, xb: np.ndarray) -> None:
        """ids: (n,) int64 frame ids; xb: (n, dim) vectors (any float dtype; stored as float32)."""
        xb = np.ascontiguousarray(xb, dtype=np.float32)
        assert xb.ndim == 2 and xb.shape[1] == self.dim, f"expected (n, {self.dim}) vectors, got {xb.shape}"
        assert len(ids) == len(xb), f"{len(ids)} ids for {len(xb)} vectors"
        if len(ids):
            self.index.add_with_ids(xb, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        assert self.supports_remove, f"a {self.kind} index cannot remove vectors; rebuild it instead"
        if len(ids) == 0:
            return 0
        return int(self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(self, xq: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """xq: (nq, dim) -> D (nq, k) similarities, I (nq, k) ids (-1 where fewer than k exist).

        ``allowed_ids`` (m,) int64 restricts the search to those ids (filters), inside the index's own search,
        so a filtered query still gets its k best allowed neighbours.
        """
        xq = np.ascontiguousarray(xq, dtype=np.float32)
        assert xq.ndim == 2 and xq.shape[1] == self.dim, f"expected (nq, {self.dim}) queries, got {xq.shape}"
        if allowed_ids is None:
            return self.index.search(xq, k)  # type: ignore[no-any-return]
        allowed = np.ascontiguousarray(allowed_ids, dtype=np.int64)
        selector = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH) if self.kind == "hnsw" \
            else faiss.SearchParameters(sel=selector)
        return self.index.search(xq, k, params=params)  # type: ignore[no-any-return]

    def save(self, directory: Path, watermark: Watermark) -> Manifest:
        directory.mkdir(parents=True, exist_ok=True)
        index_file = f"index-{uuid.uuid4().hex[:12]}.faiss"
        faiss.write_index(self.index, str(directory / index_file))
        _fsync(directory / index_file)
        manifest = Manifest(model_key=self.model_key, dim=self.dim, metric="ip", kind=self.kind, count=self.count,
                            watermark=watermark, index_file=index_file,
                            built_at=datetime.now(UTC).isoformat(timespec="seconds"))
        tmp = directory / f".manifest.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(manifest), indent=2))
        _fsync(tmp)
        os.replace(tmp, directory / "manifest.json")
        for old in directory.glob("index-*.faiss"):
            if old.name != index_file:
                old.unlink(missing_ok=True)
        return manifest


def read_manifest(directory: Path) -> Manifest:
    path = directory / "manifest.json"
    if not path.is_file():
        raise IndexMissingError(directory)
    raw = json.loads(path.read_text())
    raw["watermark"] = Watermark(**raw["watermark"])
    return Manifest(**raw)


def load_index(directory: Path, model_key: str, dim: int) -> tuple[VectorIndex, Manifest]:
    """Load the index in ``directory``; raise IndexMismatchError if it was built for another model or dim."""
    manifest = read_manifest(directory)
    for field, on_disk, expected in (("format_version", manifest.format_version, FORMAT_VERSION),
                                     ("model_key", manifest.model_key, model_key), ("dim", manifest.dim, dim),
                                     ("metric", manifest.metric, "ip")):
        if on_disk != expected:
            raise IndexMismatchError(directory, field, on_disk, expected)
    index = faiss.read_index(str(directory / manifest.index_file))
    if index.ntotal != manifest.count or index.d != manifest.dim:
        raise IndexMismatchError(directory, "count", index.ntotal, manifest.count)
    return VectorIndex(model_key, dim, manifest.kind, index), manifest


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
