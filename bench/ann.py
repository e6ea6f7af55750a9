"""Single-query latency and recall@10 of approximate (ANN) search against exact search, in the same run.

    .venv/bin/python bench/ann.py [--sizes 1000000,10000000] [--quick] [--queries 200] [--dim 512]
                                  [--threads 2] [--configs ivf_sq8,...] [--exact-queries 50] [--name ann]

Data: a seeded mixture of ``--clusters`` (4096) anisotropic Gaussian clusters, L2-normalised, float32, 512-d.
Centres share a common direction (random pairs have cosine ~0.13: image embeddings are not centred). A cluster
spreads along its own permutation of a power-law spectrum (std of axis i ~ i^-0.5, participation ratio ~28 of
512 dims) in a random rotation, noise norm ~1 (a point has cosine ~0.7 with its centre), clusters drawn with
Zipf-like weights. Uniform noise would make every ANN look bad and mean nothing; tighter clusters (noise 0.75)
made IVF trivially good (recall@10 0.92 at nprobe 1), so the spread was set where clusters overlap.
The database is made in blocks of 100k vectors, block b from its own seed: it is never whole in RAM (10M x 512
float32 is 20 GB), each pass makes the same vectors, and the 1M database is the first 1M of the 10M one.
Queries: ``--queries`` more points of the same distribution from another seed, held out of the database.

Ground truth: exact top-10 by inner product, block by block (an IndexFlatIP per block, a running top-k merge).
recall@10 = the mean over queries of |ANN top-10 ∩ exact top-10| / 10 (distinct float32 scores rarely tie).

Exact baseline (IndexFlatIP): up to 2M vectors one flat index, timed on every query ("direct"); at 10M it is
timed block-wise (per query, the sum over the 100 blocks of one search on that block's flat index) on the
first ``--exact-queries`` queries: measured, not extrapolated; smaller sizes report both ways to compare them.
faiss spreads a flat single query over its threads, and with other work on the second core that is several
times slower than 1 thread, so the baseline is timed at 1 and ``--threads`` threads and the speedup is
the better exact p50 / ANN p50 (the ANN never gains from the slow 2-thread baseline).

Candidates (inner product, as search/vector_index.py), each with a sweep of its search-time parameter:
  hnsw32          HNSW32 on raw vectors, efConstruction 80, as production; only up to --hnsw-max-n (2M): at
                  10M x 512-d it would need ~22 GiB and many times the 1M build time on 2 cores.
  ivf_sq8         IVF{nlist},SQ8: 8-bit scalar-quantised residuals, 512 B a vector.
  ivf_pq_refine   IVF{nlist},PQ64np,Refine(SQ8): 64-byte PQ codes shortlist k_factor_rf x 10 vectors that
                  are re-ranked on 8-bit codes (a Refine(Flat) would need the raw 20 GB).
  ivf_pqfs_refine IVF{nlist},PQ64x4fsr,Refine(SQ8): the same with 32-byte 4-bit fast-scan PQ (SIMD tables).
nlist = the power of two nearest 4·sqrt(n), at most 4096: assigning 10M vectors to 4096 centroids is already
~4e13 flops (~10 min at the ~70 GFLOP/s BLAS reaches on 2 cores), 16384 would take four times that.
The coarse k-means (10 iterations, spherical, first 256k vectors) and the assignment of the database are done
once per size and shared by the IVF candidates; each one's build_s still counts both, as a real build would.
(faiss cannot add pre-assigned vectors to a fast-scan IVF, so add_packed fills its lists; same result as add.)
Wall time on 2 cores: --quick 10 min quiet, 25 min beside other jobs (the 1M HNSW build is 3 to 7 of them);
at 10M the first candidate takes ~20 min (generation, ground truth, exact timing, k-means, assignment) and
each further one ~8 min (measured beside other jobs).
Latency: one query per search call, ``faiss.omp_set_num_threads(--threads)``, 5 warm-up queries per setting,
p50/p99 over the queries. Memory: the bytes of codes, ids, graph links and centroids (production's IndexIDMap2
adds its id map on top). The cheapest setting of a candidate: lowest p50 with recall@10 >= 0.95. Goals: p99
< 10 ms at 1M, < 20 ms at 10M. Pick per size: the smallest index meeting both goals, else the lowest p99.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import faiss
import numpy as np
from faiss.contrib.ivf_tools import add_preassigned

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ann_ground_truth import (  # noqa: E402
    BLOCK,
    GIB,
    EmbeddingModel,
    ExactBaseline,
    database_blocks,
    index_bytes,
    make_model,
    make_queries,
    peak_rss_gib,
    percentiles_ms,
    recall_at_k,
    release_freed_memory,
    single_query_search,
    training_sample,
    with_threads,
)
from bench.common import save  # noqa: E402
from search.ann_config import apply_search_params, large_index_factory, nlist_for  # noqa: E402

K, RECALL_TARGET, HNSW_EF_CONSTRUCTION = 10, 0.95, 80
NPROBES, EF_SEARCHES = [4, 8, 16, 32, 64, 128, 256], [16, 32, 64, 96, 128, 256, 512]
K_FACTORS = [4, 8, 16, 32, 64]  # refine shortlist = k_factor_rf x 10
T = TypeVar("T")


def p99_goal_ms(n: int) -> float:
    """The issue's goal: p99 under 10 ms at 1M, under 20 ms at 10M (and in between)."""
    return 10.0 if n <= 1_000_000 else 20.0


# ------------------------------------------------------------------------------------------ candidates
@dataclass(frozen=True)
class Candidate:
    key: str
    factory: str
    sweep: list[dict[str, float]]


def candidates_for(n: int, dim: int) -> dict[str, Candidate]:
    nlist, m = nlist_for(n), dim // 8
    refine_sweep = [{"nprobe": p, "k_factor_rf": f} for p in NPROBES for f in K_FACTORS]
    return {c.key: c for c in [
        Candidate("ivf_sq8", f"IVF{nlist},SQ8", [{"nprobe": p} for p in NPROBES]),
        # np: no polysemous training (minutes, and only for Hamming filtering, which is not used here)
        Candidate("ivf_pq_refine", f"IVF{nlist},PQ{m}np,Refine(SQ8)", refine_sweep),
        Candidate("ivf_pqfs_refine", f"IVF{nlist},PQ{m}x4fsr,Refine(SQ8)", refine_sweep),
        Candidate("hnsw32", "HNSW32", [{"efSearch": ef} for ef in EF_SEARCHES]),
    ]}


_KMEANS_DONE: dict[tuple[int, int], tuple[np.ndarray, float]] = {}


@dataclass
class Coarse:
    """The IVF coarse quantizer of one size, trained once, and the database's assignment to it."""

    centroids: np.ndarray  # (nlist, d)
    train_s: float
    assign: np.ndarray  # (n,) list of each database vector, -1 until assigned
    assign_s: float = 0.0

    @classmethod
    def train(cls, sample_x: np.ndarray, nlist: int, n: int) -> Coarse:
        """k-means on the sample; sizes with the same nlist and sample (1M and 10M) reuse it and its time."""
        key = (nlist, len(sample_x))
        if key not in _KMEANS_DONE:
            t0 = time.perf_counter()
            kmeans = faiss.Kmeans(sample_x.shape[1], nlist, niter=10, spherical=True, seed=1234)
            kmeans.train(sample_x)
            _KMEANS_DONE[key] = kmeans.centroids.copy(), time.perf_counter() - t0
        centroids, train_s = _KMEANS_DONE[key]
        return cls(centroids, train_s, np.full(n, -1, dtype=np.int64))

    def assignment(self, i0: int, xb: np.ndarray) -> np.ndarray:
        a = self.assign[i0:i0 + len(xb)]
        if a[0] < 0:
            t0 = time.perf_counter()
            quantizer = faiss.IndexFlatIP(xb.shape[1])
            quantizer.add(self.centroids)
            a[:] = quantizer.search(xb, 1)[1][:, 0]
            self.assign_s += time.perf_counter() - t0
        return a


@dataclass
class Built:
    index: faiss.Index
    train_s: float = 0.0
    add_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class Builder:
    """Trains a candidate on the sample, then takes database blocks; ``finish`` returns the built index."""

    def __init__(self, cand: Candidate, n: int, dim: int, sample_x: np.ndarray | None,
                 coarse: Coarse | None) -> None:
        t0 = time.perf_counter()
        index = faiss.index_factory(dim, cand.factory, faiss.METRIC_INNER_PRODUCT)
        self.ivf: faiss.IndexIVF | None = None
        self.coarse = coarse if not isinstance(index, faiss.IndexHNSW) else None
        self.codes: np.ndarray | None = None
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            assert coarse is not None and sample_x is not None, f"{cand.factory} needs a coarse quantizer"
            self.ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
            self.ivf.quantizer.add(coarse.centroids)  # IVF train then skips k-means
            index.train(sample_x)
            if isinstance(self.ivf, faiss.IndexIVFFastScan):
                self.codes = np.empty((n, self.ivf.code_size), dtype=np.uint8)  # packed into lists at the end
        self.built = Built(index, train_s=time.perf_counter() - t0)

    def add_block(self, i0: int, xb: np.ndarray) -> None:
        index, ivf = self.built.index, self.ivf
        if ivf is None:
            t0 = time.perf_counter()
            index.add(xb)
        else:
            assert self.coarse is not None
            a = self.coarse.assignment(i0, xb)
            t0 = time.perf_counter()
            if self.codes is not None:
                codes = self.codes[i0:i0 + len(xb)]
                ivf.encode_vectors(len(xb), faiss.swig_ptr(xb), faiss.swig_ptr(a), faiss.swig_ptr(codes),
                                   False)
            else:
                add_preassigned(ivf, xb, a)
            if isinstance(index, faiss.IndexRefine):
                index.refine_index.add(xb)
        self.built.add_s += time.perf_counter() - t0

    def finish(self) -> Built:
        built, ivf = self.built, self.ivf
        if ivf is not None and self.coarse is not None:
            t0 = time.perf_counter()
            if self.codes is not None:
                add_packed(ivf, self.codes, self.coarse.assign)
                self.codes = None
            if isinstance(built.index, faiss.IndexRefine):
                built.index.ntotal = ivf.ntotal
            built.add_s += time.perf_counter() - t0
            # each IVF build pays for k-means and for assigning the database, wherever they were computed
            built.extra = {"coarse_train_s": self.coarse.train_s, "assign_s": self.coarse.assign_s}
        return built


def add_packed(ivf: faiss.IndexIVFFastScan, codes: np.ndarray, assign: np.ndarray) -> None:
    """Fill a fast-scan IVF from codes (n, code_size) and lists (n,): one add per list, in packed blocks.

    Does what the index's own add does (checked: same results) without assigning again; faiss cannot add
    pre-assigned vectors to a fast-scan IVF (its add_core crashes on the block-packed lists).
    """
    packer = ivf.get_CodePacker()
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(ivf.nlist + 1))
    for list_no in range(ivf.nlist):
        ids = order[bounds[list_no]:bounds[list_no + 1]].astype(np.int64)
        if len(ids) == 0:
            continue
        n_blocks = -(-len(ids) // packer.nvec)
        flat = np.zeros((n_blocks * packer.nvec, ivf.code_size), dtype=np.uint8)
        flat[:len(ids)] = codes[ids]
        packed = np.zeros((n_blocks, packer.block_size), dtype=np.uint8)
        for b in range(n_blocks):
            packer.pack_all(faiss.swig_ptr(flat[b * packer.nvec:]), faiss.swig_ptr(packed[b]))
        ivf.invlists.add_entries(list_no, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(packed))
    ivf.ntotal = len(assign)


def measure(cand: Candidate, built: Built, xq: np.ndarray, gt: np.ndarray, exact_p50_ms: float,
            threads: int) -> dict[str, Any]:
    index = built.index
    build_s = built.train_s + built.add_s + sum(built.extra.values())
    sweep = []
    for params in cand.sweep:
        apply_search_params(index, params)
        I, ms = with_threads(threads, lambda: single_query_search(index, xq, K))
        stats = percentiles_ms(ms)
        sweep.append({"params": params, "recall_at_10": recall_at_k(I, gt), **stats,
                      "speedup": exact_p50_ms / stats["p50_ms"]})
    return {"factory": cand.factory, "memory_bytes": index_bytes(index), "build_s": build_s,
            "train_s": built.train_s, "add_s": built.add_s, **built.extra, "sweep": sweep,
            "cheapest": cheapest(sweep)}


def cheapest(sweep: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [s for s in sweep if s["recall_at_10"] >= RECALL_TARGET]
    return min(ok, key=lambda s: s["p50_ms"]) if ok else None


def pick(results: dict[str, dict[str, Any]], goal_ms: float) -> str | None:
    reached = {key: r for key, r in results.items() if r["cheapest"] is not None}
    meeting = [key for key, r in reached.items() if r["cheapest"]["p99_ms"] < goal_ms]
    if meeting:
        return min(meeting, key=lambda key: reached[key]["memory_bytes"])
    return min(reached, key=lambda key: reached[key]["cheapest"]["p99_ms"]) if reached else None


# ------------------------------------------------------------------------------------------ one size
def run_size(n: int, model: EmbeddingModel, xq: np.ndarray, args: argparse.Namespace,
             checkpoint: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Build and measure every candidate at size n; ``checkpoint`` gets the summary so far after each one."""
    faiss.omp_set_num_threads(args.threads)
    by_key = candidates_for(n, model.dim)
    cands = [by_key[key] for key in args.configs]
    skipped = {}
    if n > args.hnsw_max_n and any(c.key == "hnsw32" for c in cands):
        skipped["hnsw32"] = (f"not built above {args.hnsw_max_n:,} vectors: {n:,} x {model.dim}-d would need "
                             f"{n * (model.dim * 4 + 300) / GIB:.0f} GiB and many times the 1M build time")
        cands = [c for c in cands if c.key != "hnsw32"]
    exact = ExactBaseline(xq, K, n, sorted({1, args.threads}), min(args.exact_queries, len(xq)))
    sample_x = training_sample(model, n) if any(c.key != "hnsw32" for c in cands) else None
    coarse = Coarse.train(sample_x, nlist_for(n), n) if sample_x is not None else None
    gen_s, results, baseline = 0.0, {}, {}
    for i, cand in enumerate(cands or [None]):  # the first pass also feeds the exact baseline
        builder = Builder(cand, n, model.dim, sample_x, coarse) if cand is not None else None
        sinks = ([exact.add_block] if i == 0 else []) + ([builder.add_block] if builder is not None else [])
        t0, busy_s = time.perf_counter(), 0.0
        for i0, xb in database_blocks(model, n):
            t1 = time.perf_counter()
            for sink in sinks:
                sink(i0, xb)
            busy_s += time.perf_counter() - t1
            if (i0 // BLOCK) % 10 == 9:
                print(f"  {n:,}: {cand.key if cand else 'exact'} {i0 + len(xb):,} vectors, "
                      f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        gen_s += time.perf_counter() - t0 - busy_s
        if i == 0:
            baseline = exact.report()
        if builder is not None:
            results[cand.key] = measure(cand, builder.finish(), xq, exact.I, baseline["best_p50_ms"],
                                        args.threads)
            del builder
            release_freed_memory()
        checkpoint(summarise(n, model.dim, baseline, results, skipped, gen_s))
    return summarise(n, model.dim, baseline, results, skipped, gen_s)


def summarise(n: int, dim: int, baseline: dict[str, Any], results: dict[str, dict[str, Any]],
              skipped: dict[str, str], gen_s: float) -> dict[str, Any]:
    goal_ms = p99_goal_ms(n)
    chosen = pick(results, goal_ms)
    return {"n": n, "nlist": nlist_for(n), "exact": baseline, "candidates": results, "skipped": skipped,
            "p99_goal_ms": goal_ms, "pick": chosen,
            "goal_met": bool(chosen and results[chosen]["cheapest"]["p99_ms"] < goal_ms),
            "recommended_factory": large_index_factory(n, dim), "data_generation_s": gen_s,
            "peak_rss_gib": peak_rss_gib(), "load_avg_1m": os.getloadavg()[0]}


# ------------------------------------------------------------------------------------------ report
def fmt_params(params: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in params.items())


def print_size(r: dict[str, Any], threads: int) -> None:
    n, ex = r["n"], r["exact"]
    print(f"\n== {n:,} vectors (nlist {r['nlist']}), data generation {r['data_generation_s']:.0f} s, "
          f"peak RSS {r['peak_rss_gib']:.1f} GiB, load avg {r['load_avg_1m']:.1f}")
    for method in ("direct", "blockwise"):
        if method in ex:
            cells = ", ".join(f"{t} thread{'s' * (t != '1')}: p50 {v['p50_ms']:.1f} ms, p99 "
                              f"{v['p99_ms']:.1f} ms"
                              for t, v in ex[method].items())
            count = ex["blockwise_queries"] if method == "blockwise" else "all"
            print(f"exact IndexFlatIP, {method} ({count} queries): {cells}")
    print(f"baseline for speedup: exact p50 {ex['best_p50_ms']:.1f} ms ({ex['method']}, "
          f"{ex['best_threads']} thread{'s' * (ex['best_threads'] != 1)}); ANN at {threads} threads")
    print(f"\n{'candidate':16} {'params':22} {'recall@10':>9} {'p50 ms':>8} {'p99 ms':>8} {'speedup':>8} "
          f"{'memory MiB':>10} {'build s':>8}")
    for key, c in r["candidates"].items():
        for s in c["sweep"]:
            mark = "*" if c["cheapest"] is not None and s["params"] == c["cheapest"]["params"] else " "
            print(f"{key:16} {fmt_params(s['params']):22} {s['recall_at_10']:9.3f} {s['p50_ms']:8.2f} "
                  f"{s['p99_ms']:8.2f} {s['speedup']:7.0f}x {c['memory_bytes'] / 2**20:10.0f} "
                  f"{c['build_s']:8.0f} {mark}")
    for key, why in r["skipped"].items():
        print(f"{key:16} skipped: {why}")
    print(f"\n* cheapest setting with recall@10 >= {RECALL_TARGET}; goal p99 < {r['p99_goal_ms']:g} ms")
    for key, c in r["candidates"].items():
        ch = c["cheapest"]
        if ch is None:
            print(f"  {key:16} never reaches recall@10 {RECALL_TARGET} in the sweep")
            continue
        verdict = "meets" if ch["p99_ms"] < r["p99_goal_ms"] else "MISSES"
        print(f"  {key:16} {fmt_params(ch['params']):22} recall {ch['recall_at_10']:.3f}, "
              f"p50 {ch['p50_ms']:.2f} ms, p99 {ch['p99_ms']:.2f} ms, {ch['speedup']:.0f}x exact, "
              f"{c['memory_bytes'] / GIB:.2f} GiB, "
              f"build {c['build_s']:.0f} s: {verdict} the goal")
    print(f"pick at {n:,}: {r['pick']} ({'goals met' if r['goal_met'] else 'goals NOT met'}); "
          f"search/ann_config.py recommends {r['recommended_factory']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="database sizes, comma-separated")
    parser.add_argument("--quick", action="store_true", help="sizes 200k and 1M only")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--exact-queries", type=int, default=50,
                        help="queries timed block-wise on exact search (a direct flat index times all)")
    parser.add_argument("--hnsw-max-n", type=int, default=2_000_000)
    parser.add_argument("--configs", default="ivf_sq8,ivf_pq_refine,ivf_pqfs_refine,hnsw32",
                        help="candidates, in build order; the first shares its pass with the exact baseline")
    parser.add_argument("--name", default="ann", help="results go to bench/out/<name>.json")
    args = parser.parse_args()
    sizes = [200_000, 1_000_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    args.configs = args.configs.split(",")
    model = make_model(args.dim, args.clusters, args.seed)
    xq = make_queries(model, args.queries)
    print(f"{args.dim}-d synthetic embeddings, {args.clusters} clusters, {args.queries} held-out queries, "
          f"k={K}, {args.threads} threads, {os.cpu_count()} cores, faiss {faiss.__version__}")
    result: dict[str, Any] = {
        "dim": args.dim, "queries": args.queries, "k": K, "clusters": args.clusters, "seed": args.seed,
        "threads": args.threads, "recall_target": RECALL_TARGET, "faiss": faiss.__version__, "sizes": {}}

    def checkpoint(summary: dict[str, Any]) -> None:  # a long run keeps what it measured if stopped
        result["sizes"][str(summary["n"])] = summary
        save(args.name, {**result, "complete": False})

    for n in sizes:
        print_size(run_size(n, model, xq, args, checkpoint), args.threads)
    print(f"saved {save(args.name, {**result, 'complete': True})}")


if __name__ == "__main__":
    main()
