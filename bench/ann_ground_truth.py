"""The synthetic embeddings and the exact-search baseline of ``bench/ann.py``: a seeded mixture of anisotropic
Gaussian clusters on the unit sphere, generated block by block so 10M vectors never sit in RAM as float32, and
the ground truth (a running top-k merge over blocks) with the latency of exact flat search."""

from __future__ import annotations

import ctypes
import gc
import math
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import faiss
import numpy as np

BLOCK, WARMUP_QUERIES, TRAIN_N, FLAT_DIRECT_MAX_BYTES = 100_000, 5, 256_000, 4 << 30
GIB = 1 << 30
T = TypeVar("T")


# ------------------------------------------------------------------------------------------ synthetic data
@dataclass(frozen=True)
class EmbeddingModel:
    """Parameters of the synthetic embedding distribution; all derived from one seed."""

    centers: np.ndarray  # (C, d) unit cluster centres
    spread: np.ndarray  # (C, d) std of each cluster along each axis of ``rotation``
    rotation: np.ndarray  # (d, d) orthogonal
    weights: np.ndarray  # (C,) cluster probabilities
    seed: int

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])


def make_model(dim: int, n_clusters: int, seed: int) -> EmbeddingModel:
    rng = np.random.default_rng((seed, 0))
    common = _unit(rng.standard_normal(dim))
    centers = _unit(0.6 * common + _unit(rng.standard_normal((n_clusters, dim))))
    spectrum = _unit((np.arange(dim) + 1.0) ** -0.5)  # (d,) ||spectrum|| = 1
    scale = np.exp(rng.normal(-0.03, 0.25, n_clusters))  # noise norm of each cluster, ~1
    spread = np.stack([spectrum[rng.permutation(dim)] for _ in range(n_clusters)]) * scale[:, None]
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    weights = (np.arange(n_clusters) + 1.0) ** -0.5
    return EmbeddingModel(centers.astype(np.float32), spread.astype(np.float32), rotation.astype(np.float32),
                          rng.permutation(weights / weights.sum()), seed)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def sample(model: EmbeddingModel, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d) float32 unit vectors: centre of a random cluster + its anisotropic noise, normalised."""
    c = rng.choice(len(model.weights), size=n, p=model.weights)
    x = rng.standard_normal((n, model.dim), dtype=np.float32)
    x *= model.spread[c]
    x = x @ model.rotation
    x += model.centers[c]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def database_blocks(model: EmbeddingModel, n: int,
                    first_n: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(i0, xb) for the database's blocks in order; block b always holds the same vectors whatever n is."""
    stop = n if first_n is None else min(n, first_n)
    for b in range(math.ceil(stop / BLOCK)):
        i0 = b * BLOCK
        yield i0, sample(model, min(BLOCK, stop - i0), np.random.default_rng((model.seed, 1, b)))


def make_queries(model: EmbeddingModel, nq: int) -> np.ndarray:
    return sample(model, nq, np.random.default_rng((model.seed, 2)))


def training_sample(model: EmbeddingModel, n: int) -> np.ndarray:
    return np.concatenate([xb for _, xb in database_blocks(model, n, TRAIN_N)])


# ------------------------------------------------------------------------------------------ measuring
def single_query_search(index: faiss.Index, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Search one query per call: I (nq, k) and the latency of each call in ms (nq,)."""
    for i in range(min(WARMUP_QUERIES, len(xq))):
        index.search(xq[i:i + 1], k)
    I = np.empty((len(xq), k), dtype=np.int64)
    latency_ms = np.empty(len(xq))
    for i in range(len(xq)):
        t0 = time.perf_counter()
        _, I[i:i + 1] = index.search(xq[i:i + 1], k)
        latency_ms[i] = (time.perf_counter() - t0) * 1e3
    return I, latency_ms


def recall_at_k(I: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(a, b)) for a, b in zip(I, gt, strict=True)]) / gt.shape[1])


def percentiles_ms(latency_ms: np.ndarray) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(latency_ms, 50)), "p99_ms": float(np.percentile(latency_ms, 99)),
            "mean_ms": float(latency_ms.mean())}


def with_threads(threads: int, fn: Callable[[], T]) -> T:
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        return fn()
    finally:
        faiss.omp_set_num_threads(before)


def index_bytes(index: faiss.Index) -> int:
    """Bytes of what the index holds: codes, ids, graph links, centroids."""
    if isinstance(index, faiss.IndexRefine):
        return index_bytes(faiss.downcast_index(index.base_index)) + index_bytes(
            faiss.downcast_index(index.refine_index))
    if isinstance(index, faiss.IndexHNSW):
        hnsw = index.hnsw
        links = hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4
        return links + index_bytes(faiss.downcast_index(index.storage))
    if isinstance(index, faiss.IndexIVF):
        sizes = np.array([index.invlists.list_size(i) for i in range(index.nlist)], dtype=np.int64)
        if isinstance(index, faiss.IndexIVFFastScan):  # codes stored in blocks of bbs vectors
            codes = int(np.sum(-(-sizes // index.bbs))) * index.bbs * index.M2 // 2
        else:
            codes = int(sizes.sum()) * index.code_size
        return codes + int(sizes.sum()) * 8 + index_bytes(faiss.downcast_index(index.quantizer))
    if isinstance(index, faiss.IndexFlatCodes):
        return int(index.codes.size())
    raise ValueError(f"index_bytes: unsupported index type {type(index).__name__}")


def release_freed_memory() -> None:
    """Give the heap pages of a freed index back to the OS: glibc keeps them, and the next index of a 10M run
    (5 GB) would then sit on top of the last one's (measured: 11 GB peak instead of ~7)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


# ------------------------------------------------------------------------------------------ exact baseline
class ExactBaseline:
    """Ground truth (running top-k merge over blocks) and single-query latency of exact flat search."""

    def __init__(self, xq: np.ndarray, k: int, n: int, thread_counts: list[int], n_timed: int) -> None:
        self.xq, self.k, self.thread_counts, self.n_timed = xq, k, thread_counts, n_timed
        self.D = np.full((len(xq), k), -np.inf, dtype=np.float32)
        self.I = np.full((len(xq), k), -1, dtype=np.int64)
        self.blockwise_ms = {t: np.zeros(n_timed) for t in thread_counts}
        self.flat = faiss.IndexFlatIP(xq.shape[1]) if n * xq.shape[1] * 4 <= FLAT_DIRECT_MAX_BYTES else None

    def add_block(self, i0: int, xb: np.ndarray) -> None:
        block = faiss.IndexFlatIP(xb.shape[1])
        block.add(xb)
        D, I = block.search(self.xq, self.k)
        D, I = np.hstack([self.D, D]), np.hstack([self.I, I + i0])
        order = np.argsort(-D, axis=1, kind="stable")[:, :self.k]
        self.D, self.I = np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1)
        for t in self.thread_counts:
            _, ms = with_threads(t, lambda: single_query_search(block, self.xq[:self.n_timed], self.k))
            self.blockwise_ms[t] += ms
        if self.flat is not None:
            self.flat.add(xb)

    def report(self) -> dict[str, Any]:
        """Latency per thread count, block-wise always and direct where the flat index was kept."""
        blockwise = {str(t): percentiles_ms(ms) for t, ms in self.blockwise_ms.items()}
        out: dict[str, Any] = {"blockwise_queries": self.n_timed, "blockwise": blockwise}
        if self.flat is not None:
            direct = {}
            for t in self.thread_counts:
                I, ms = with_threads(t, lambda: single_query_search(self.flat, self.xq, self.k))
                assert recall_at_k(I, self.I) > 0.999, "flat search disagrees with the block-wise top-k"
                direct[str(t)] = percentiles_ms(ms)
            out["direct"] = direct
            out["memory_bytes"] = index_bytes(self.flat)
            self.flat = None
        timings = out.get("direct", out["blockwise"])
        best_t = min(timings, key=lambda t: timings[t]["p50_ms"])
        out["method"] = "direct" if "direct" in out else "blockwise"
        out["best_threads"] = int(best_t)
        out.update({f"best_{key}": value for key, value in timings[best_t].items()})
        return out
