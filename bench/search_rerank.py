"""Would reranking a query's first moments with all-mpnet-base-v2 at query time pay, and what would it cost?

    .venv/bin/python bench/search_rerank.py [--only tuned|frozen|holdout] [--top 10]

The index stays all-MiniLM-L6-v2 (ingest speed). Each query goes through ``SearchService.search`` as users get it
(show_all, the first ``--top`` moments); then the query and the text evidence of those moments are embedded with
all-mpnet-base-v2 on one CPU thread (timed: what a query-time reranker would add to every search), and the moments
are put in the order of (a) mpnet's best cosine over each moment's lines, (b) reciprocal-rank fusion of the MiniLM
order and the mpnet order. Top-1 and R@5 (IoU >= 0.5) of each order are reported beside the plain order's.
Results go to bench/out/search_rerank.json. Nothing here changes search.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from bench.search_quality import DATA_DIRS, LIBRARIES, _iou, build, index_default  # noqa: E402

RRF_K = 10


def _hits(order: list[int], ious: list[float]) -> tuple[bool, bool]:
    return bool(order) and ious[order[0]] >= 0.5, any(ious[i] >= 0.5 for i in order[:5])


def run_library(library: str, top: int, mpnet: Any) -> dict[str, Any]:
    from db.session import Database
    from scenedex.search_service import SearchConfig, SearchService
    from search.request import SearchRequest
    from workers.layout import DataLayout

    root, queries = build(library)
    db = Database(index_default(library, root))
    service = SearchService(db, DataLayout(DATA_DIRS[library]), SearchConfig())
    tally = {name: [0, 0] for name in ("minilm", "mpnet", "fused")}
    took_ms = []
    for q in queries:
        items = service.search(SearchRequest(text=q["query"], page_size=top, show_all=True)).moments.items
        response_media = service.media_summaries([m.media_id for m in items])
        paths = [str(Path(response_media[m.media_id].path).relative_to(root)) for m in items]
        ious = [_iou((m.start_s, m.end_s), (q["start_s"], q["end_s"])) if p == q["media"] else 0.0
                for p, m in zip(paths, items)]
        texts = sorted({e.text for m in items for e in m.evidence if e.text})
        t0 = time.perf_counter()
        vectors = mpnet.encode([q["query"], *texts])  # (1 + T, d), normalised
        took_ms.append((time.perf_counter() - t0) * 1000)
        cosine = dict(zip(texts, (vectors[1:] @ vectors[0]).tolist()))
        best = [max((cosine[e.text] for e in m.evidence if e.text), default=-1.0) for m in items]
        minilm = list(range(len(items)))
        by_mpnet = sorted(minilm, key=lambda i: -best[i])
        mpnet_rank = {i: r for r, i in enumerate(by_mpnet)}
        fused = sorted(minilm, key=lambda i: -(1 / (RRF_K + 1 + i) + 1 / (RRF_K + 1 + mpnet_rank[i])))
        for name, order in (("minilm", minilm), ("mpnet", by_mpnet), ("fused", fused)):
            top1, r5 = _hits(order, ious)
            tally[name][0] += top1
            tally[name][1] += r5
    db.dispose()
    n = len(queries)
    return {"queries": n, **{name: {"top1": round(100 * a / n, 1), "R@5": round(100 * b / n, 1)}
                             for name, (a, b) in tally.items()},
            "mpnet_ms_p50": round(statistics.median(took_ms), 1),
            "mpnet_ms_p99": round(float(np.percentile(took_ms, 99)), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=LIBRARIES)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from indexer.text_embedding import TextEncoder

    mpnet = TextEncoder("all-mpnet-base-v2")
    results: dict[str, Any] = {}
    for library in LIBRARIES:
        if args.only and args.only != library:
            continue
        results[library] = run_library(library, args.top, mpnet)
        r = results[library]
        print(f"{library:8} n={r['queries']}  " + "  ".join(f"{k} {r[k]['top1']}/{r[k]['R@5']}"
                                                        for k in ("minilm", "mpnet", "fused"))
              + f"  mpnet per query p50 {r['mpnet_ms_p50']} ms, p99 {r['mpnet_ms_p99']} ms")
    print(f"saved {save('search_rerank', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
