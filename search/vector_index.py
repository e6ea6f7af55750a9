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

from search.ann_config import FLAT_MAX_VECTORS, HNSW_MAX_VECTORS, IVF_NPROBE, nlist_for
from search.ann_config import HNSW_EF_SEARCH as HNSW_EF_SEARCH_MEASURED
from search.errors import IndexMismatchError, IndexMissingError

IndexKind = Literal["flat", "hnsw", "ivf"]
# Measured in bench/ann.py (see search/ann_config.py): exact up to 200k vectors (16 ms a query at 200k, 512-d),
# HNSW32 up to 1M (efSearch 256: recall@10 0.974 at 1M), IVF-SQ8 above (recall 0.97, p99 12 ms at 10M, 512 B a
# vector where HNSW would need ~22 GiB).
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, HNSW_EF_SEARCH_MEASURED
IVF_TRAIN_PER_LIST = 64  # training sample: 64 vectors a list (262k for 4096 lists) is plenty for k-means
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
    """Exact search for small libraries, HNSW (graph ANN) up to a million vectors, compressed IVF above.

    >>> choose_kind(1000), choose_kind(500_000), choose_kind(5_000_000)
    ('flat', 'hnsw', 'ivf')
    """
    if n_vectors <= FLAT_MAX_VECTORS:
        return "flat"
    return "hnsw" if n_vectors <= HNSW_MAX_VECTORS else "ivf"


def watermark_of(ids: np.ndarray) -> Watermark:
    ids = np.asarray(ids, dtype=np.int64)
    return Watermark(count=int(ids.size), max_id=int(ids.max(initial=0)), id_sum=int(ids.sum(dtype=np.int64)))


class VectorIndex:
    """Inner-product search over L2-normalised vectors (cosine similarity), ids = frame ids."""

    def __init__(self, model_key: str, dim: int, kind: IndexKind, index: faiss.Index | None = None,
                 expected_vectors: int = 0) -> None:
        """``expected_vectors`` sizes an IVF index's lists (ignored by the other kinds)."""
        self.model_key = model_key
        self.dim = dim
        self.kind = kind
        self.index = index if index is not None else self._empty(dim, kind, expected_vectors)
        _set_search_params(self.index, kind)

    @staticmethod
    def _empty(dim: int, kind: IndexKind, expected_vectors: int) -> faiss.Index:
        if kind == "flat":
            inner: faiss.Index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            nlist = nlist_for(max(expected_vectors, 1))
            inner = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        return faiss.IndexIDMap2(inner)

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def supports_remove(self) -> bool:
        return self.kind in ("flat", "ivf")

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, xb: np.ndarray) -> None:
        """ids: (n,) int64 frame ids; xb: (n, dim) vectors (any float dtype; stored as float32)."""
        xb = np.ascontiguousarray(xb, dtype=np.float32)
        assert xb.ndim == 2 and xb.shape[1] == self.dim, f"expected (n, {self.dim}) vectors, got {xb.shape}"
        assert len(ids) == len(xb), f"{len(ids)} ids for {len(xb)} vectors"
        if len(ids) and not self.index.is_trained:  # IVF: learn the lists from a sample of the first batch
            nlist = faiss.extract_index_ivf(self.index.index).nlist
            pick = np.random.default_rng(0).permutation(len(xb))[: IVF_TRAIN_PER_LIST * nlist]
            self.index.train(xb[np.sort(pick)])
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
        if self.kind == "hnsw":
            params: faiss.SearchParameters = faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=IVF_NPROBE)
        else:
            params = faiss.SearchParameters(sel=selector)
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


def _set_search_params(index: faiss.Index, kind: IndexKind) -> None:
    """Search settings are not trusted from the file: an index saved by an older version gets today's."""
    if kind == "hnsw":
        faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "ivf":
        faiss.extract_index_ivf(index.index).nprobe = IVF_NPROBE


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
