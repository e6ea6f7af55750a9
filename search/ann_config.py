"""Which FAISS index to build for a library of a given size, and how to search it (inner product).

Chosen from ``bench/ann.py``: 512-d synthetic clustered embeddings, 200 held-out queries, recall@10 against
exact search in the same run, one query per call, 2 cores. The 10M rows ran beside another engineer's jobs,
which inflate their p99 and build times (the 200k-1M builds took 2-3x longer under that load than here):

=====  ======================  =============  =======  ======  ======  ========  =======
n      index                   setting        recall   p50 ms  p99 ms  memory    build
=====  ======================  =============  =======  ======  ======  ========  =======
200k   Flat (exact, 1 thread)  -              1        16      17      0.4 GB    -
200k   HNSW32, efC 80          efSearch 64    0.985    0.28    0.55    0.43 GiB  46 s
500k   HNSW32, efC 80          efSearch 256   0.994    0.84    1.3     1.1 GiB   91 s
500k   IVF2048,SQ8             nprobe 64      0.957    2.1     2.4     0.25 GiB  31 s
1M     Flat (exact, 1 thread)  -              1        76      80      2.0 GB    -
1M     HNSW32, efC 80          efSearch 256   0.974    0.69    1.35    2.2 GiB   168 s
1M     IVF4096,SQ8             nprobe 16      0.972    0.70    0.83    0.49 GiB  79 s
10M    Flat (exact, 1 thread)  -              1        877     1033    20 GB     -
10M    IVF4096,SQ8             nprobe 16      0.971    8.2     12.1    4.9 GiB   604 s
10M    IVF4096,PQ64x4fsr,      nprobe 64,     0.951    1.3     1.6     5.2 GiB   457 s
       Refine(SQ8)             k_factor_rf 64
=====  ======================  =============  =======  ======  ======  ========  =======

- Up to 200k vectors search stays exact (the existing threshold; 16 ms a query there on one core).
- HNSW32 up to 1M: no training, the lowest latency where it is used, and at 200k-500k clearly ahead of IVF
  (IVF2048,SQ8 needs nprobe 64 for 0.957 at 500k). Its recall fell as the library grew (efSearch 64: 0.985
  at 200k, 0.955 at 500k, 0.852 at 1M; the efSearch 96 of search/vector_index.py gives 0.917 at 1M), so
  efSearch 256 is asked for (0.974 at 1M). At 1M it already costs 2.2 GiB and 4.4x the memory of IVF4096,SQ8
  at the same recall; at 10M it would need ~22 GiB, which this machine does not have.
- Above 1M, IVF4096,SQ8: 512 B a vector, recall@10 0.97 at nprobe 16 at both 1M and 10M, p99 12 ms at 10M
  (goal: 20 ms), a build of ~10 min at 10M on 2 cores (mostly assigning the vectors to the 4096 lists), and it
  supports remove_ids. nprobe 16 is 4x the cheapest setting that reached 0.95 (nprobe 4: 0.965, p99 7.7 ms at
  10M) because the synthetic clusters suit IVF cells better than real embeddings will. If real data needs
  nprobe >= 64 (p99 44 ms at 10M), IVF4096,PQ64x4fsr,Refine(SQ8) keeps p99 under 3.2 ms up to nprobe 256 for
  6% more memory, but its recall stops at 0.95 (k_factor_rf 64), so it is not the default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import faiss

FLAT_MAX_VECTORS = 200_000
HNSW_MAX_VECTORS = 1_000_000
MAX_NLIST = 4096  # assigning 10M vectors to 4096 lists is ~10 min of BLAS on 2 cores; 16384: ~40 min
HNSW_EF_SEARCH = 256
IVF_NPROBE = 16
_IVF_SQ8 = re.compile(r"IVF(\d+),SQ8")


def nlist_for(n_vectors: int) -> int:
    """IVF lists: the power of two nearest 4·sqrt(n), from 256 to 4096.

    >>> nlist_for(300_000), nlist_for(1_000_000), nlist_for(10_000_000)
    (2048, 4096, 4096)
    """
    assert n_vectors > 0, f"need at least one vector, got {n_vectors}"
    return max(256, min(MAX_NLIST, 2 ** round(math.log2(4 * math.sqrt(n_vectors)))))


def large_index_factory(n_vectors: int, dim: int) -> str:
    """The faiss ``index_factory`` string for ``n_vectors`` vectors of ``dim`` dimensions (inner product).

    >>> large_index_factory(150_000, 512)
    'Flat'
    >>> large_index_factory(1_000_000, 512)
    'HNSW32'
    >>> large_index_factory(1_000_001, 512)
    'IVF4096,SQ8'
    >>> large_index_factory(10_000_000, 512)
    'IVF4096,SQ8'
    """
    assert n_vectors >= 0 and dim > 0, f"need n_vectors >= 0 and dim > 0, got {n_vectors} and {dim}"
    if n_vectors <= FLAT_MAX_VECTORS:
        return "Flat"
    if n_vectors <= HNSW_MAX_VECTORS:
        return "HNSW32"
    return f"IVF{nlist_for(n_vectors)},SQ8"


def search_params_for(factory: str) -> dict[str, int]:
    """Search-time parameters (faiss ParameterSpace names) for an index made by ``large_index_factory``.

    >>> search_params_for("Flat")
    {}
    >>> search_params_for("HNSW32")
    {'efSearch': 256}
    >>> search_params_for("IVF4096,SQ8")
    {'nprobe': 16}

    The strings and parameters are ones faiss takes:

    >>> index = faiss.index_factory(512, large_index_factory(10_000_000, 512), faiss.METRIC_INNER_PRODUCT)
    >>> apply_search_params(index, search_params_for(large_index_factory(10_000_000, 512)))
    >>> faiss.extract_index_ivf(index).nprobe
    16
    >>> search_params_for("IVF1024,PQ32")
    Traceback (most recent call last):
    ...
    ValueError: no search parameters for 'IVF1024,PQ32'; expected a string from large_index_factory
    """
    if factory == "Flat":
        return {}
    if factory == "HNSW32":
        return {"efSearch": HNSW_EF_SEARCH}
    if _IVF_SQ8.fullmatch(factory):
        return {"nprobe": IVF_NPROBE}
    raise ValueError(f"no search parameters for {factory!r}; expected a string from large_index_factory")


def apply_search_params(index: faiss.Index, params: Mapping[str, float]) -> None:
    """Set search-time parameters on ``index``, through wrappers such as IndexIDMap2 and IndexRefine.

    >>> index = faiss.IndexIDMap2(faiss.index_factory(8, "HNSW32", faiss.METRIC_INNER_PRODUCT))
    >>> apply_search_params(index, {"efSearch": 48})
    >>> faiss.downcast_index(index.index).hnsw.efSearch
    48
    """
    space = faiss.ParameterSpace()
    for name, value in params.items():
        space.set_index_parameter(index, name, float(value))
