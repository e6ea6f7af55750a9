"""End-to-end query latency through the HTTP API on the generated quality library, against the search service
called directly in the same run (the baseline: what the HTTP layer and JSON cost on top), with the parts of a
query timed alone (sentence embedding of the query, Postgres full-text search, FAISS search).

    .venv/bin/python bench/search_api.py [--database-url URL] [--videos 20] [--repeats 3]

The library (``scenedex.search_samples``, 20 narrated and captioned reels) is generated into bench/out/ once and
indexed into the given Postgres database (default: a database ``scenedex_bench`` on the local server, created
when missing); later runs reuse both (indexing is incremental). Queries are the library's 80 quality queries;
each is run ``--repeats`` times after one warm-up pass, through ``fastapi.testclient`` (the full ASGI stack in
process, no network) and through ``SearchService.search``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, save  # noqa: E402


def _ensure_database(url: str) -> None:
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{u.database}"')
    conn.close()


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "mean_ms": round(float(a.mean()), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/scenedex_bench")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--text-model", default=None, help="sentence model (default: packaged); e.g. all-mpnet-base-v2")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: bench/out/quality_data_VIDEOS")
    parser.add_argument("--label", default="", help="suffix of the saved result's name")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from db.repositories import search as search_repo
    from db.session import Database, upgrade
    from indexer.sampling import SamplingPolicy
    from scenedex.search_samples import build_search_library
    from scenedex.search_service import SearchConfig, SearchService
    from search.request import SearchRequest
    from web.app import create_app
    from workers.index_run import TextChannels, index_paths
    from workers.ingest import IngestConfig
    from workers.layout import DataLayout

    library = OUT_DIR / f"quality_library_{args.videos}"
    data_dir = args.data_dir or OUT_DIR / f"quality_data_{args.videos}"
    print(f"library: {library} (generated once)")
    queries = build_search_library(library, n_videos=args.videos, seed=7, progress=print)
    _ensure_database(args.database_url)
    upgrade(args.database_url)
    db = Database(args.database_url)
    t0 = time.perf_counter()
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32))
    summary = index_paths(db, [library], config, (".mp4",), None, text=TextChannels(text_model=args.text_model))
    print(f"indexed: {len(summary.indexed)} new, {summary.unchanged} unchanged in {time.perf_counter() - t0:.0f} s")

    service = SearchService(db, DataLayout(data_dir), SearchConfig(text_model=args.text_model))
    client = TestClient(create_app(service))
    texts = [q.query for q in queries]
    for text in texts:  # warm-up: models and indexes load, caches fill
        service.search(SearchRequest(text=text))
        client.get("/api/search", params={"q": text})

    direct, api, embed, fts, ann = [], [], [], [], []
    encoder = service._text_encoder()
    model = service._model_row(service._text_key)
    assert model is not None
    index = service._index(model)
    for repeat in range(args.repeats):
        for i, text in enumerate(texts):
            for via_api in ((False, True) if (i + repeat) % 2 == 0 else (True, False)):  # alternate who goes first
                t = time.perf_counter()
                if via_api:
                    response = client.get("/api/search", params={"q": text})
                    api.append((time.perf_counter() - t) * 1000)
                    assert response.status_code == 200, response.text
                else:
                    service.search(SearchRequest(text=text))
                    direct.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            vector = encoder.encode_queries([text])
            embed.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.search(vector, 100)
            ann.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            with db.session() as session:
                search_repo.lexical_matches(session, text, ["speech", "subtitles", "ocr"], 100)
            fts.append((time.perf_counter() - t) * 1000)
    result = {
        "library": {"videos": args.videos, "queries": len(texts), "text_chunks": index.count},
        "api": _percentiles(api), "service": _percentiles(direct), "query_embedding": _percentiles(embed),
        "full_text": _percentiles(fts), "faiss": _percentiles(ann),
        "api_over_service_p50": round(statistics.median(api) / statistics.median(direct), 3),
    }
    print(f"\n{'stage':<18}{'p50 ms':>10}{'p99 ms':>10}")
    for name in ("api", "service", "query_embedding", "full_text", "faiss"):
        print(f"{name:<18}{result[name]['p50_ms']:>10.2f}{result[name]['p99_ms']:>10.2f}")  # type: ignore[index]
    print(f"\nAPI / service at p50: {result['api_over_service_p50']}x "
          f"({len(texts)} queries x {args.repeats}, {index.count} text vectors)")
    result["text_model"] = args.text_model or "default"
    print(f"saved {save('search_api' + (f'_{args.label}' if args.label else ''), result)}")
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
