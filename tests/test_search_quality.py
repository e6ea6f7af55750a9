"""The search quality bar on a generated library with exact ground truth (``scenedex.search_samples``): 20
reels of 2-2.5 min, narrated (espeak-ng) and captioned, with needle facts among distractors that share their
words. Indexed with the real packaged default models (faster-whisper base in English, PP-OCRv4's text
detector with PP-OCRv6's tiny recogniser, all-MiniLM-L6-v2 joined with all-mpnet-base-v2 in int8); at least
90% of speech and on-screen-text queries, half of them paraphrases, must put a moment with IoU >= 0.5 first.

Measured 96-98% (R5@0.5 ~98-99%); every query's outcome goes to the artefact, so a failure shows which needles
were missed and what ranked first instead.

The per-query results are written to ``tests/artifacts/search_quality.json`` for inspection (CI keeps it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from db.session import Database
from indexer.sampling import SamplingPolicy
from scenedex.search_samples import build_search_library
from scenedex.search_service import SearchConfig, SearchService
from search.cutoff_eval import ListedMoment, cutoff_report
from search.library_eval import EvalQuery, Predicted, evaluate
from search.moments import span_iou
from search.request import SearchRequest
from tests.conftest import create_database, drop_database
from workers.index_run import TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

ARTIFACTS = Path(__file__).parent / "artifacts"
GOAL = 0.90  # the bar: top-1 IoU >= 0.5 for 90% of queries
# making and indexing the 20 reels takes 5-6 min on a quick 2-core machine and more than the suite's 10
# on a slow one (session 17), which the first test's limit includes
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def quality_library(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Path,
                                                                                                   Path, list]]:
    root = tmp_path_factory.mktemp("quality")
    queries = build_search_library(root, n_videos=20, seed=7)
    name, url = create_database(template=template_db)
    db = Database(url)
    data_dir = tmp_path_factory.mktemp("data")
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32))
    summary = index_paths(db, [root], config, (".mp4",), None, text=TextChannels())
    assert not summary.problems, summary.problems
    yield db, root, data_dir, queries
    db.dispose()
    drop_database(name)


@pytest.mark.e2e
def test_top_moment_overlaps_the_truth_for_nine_queries_in_ten(quality_library: tuple) -> None:
    db, root, data_dir, queries = quality_library
    service = SearchService(db, DataLayout(data_dir), SearchConfig())
    eval_queries, predictions = [], []
    for q in queries:
        response = service.search(SearchRequest(text=q.query, page_size=10))
        assert response.moments is not None
        eval_queries.append(EvalQuery(q.query, q.media, q.start_s, q.end_s, {"channel": q.channel, "kind": q.kind}))
        predictions.append([Predicted(str(Path(response.media[m.media_id].path).relative_to(root)), m.start_s,
                                      m.end_s, m.score) for m in response.moments.items])
    report = evaluate(eval_queries, predictions)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "search_quality.json").write_text(json.dumps({
        "metrics": report.metrics, "by_group": report.by_group,
        "queries": [{**asdict(q), "top1_iou": iou, "top1": asdict(p[0]) if p else None}
                    for q, iou, p in zip(eval_queries, report.top1_iou, predictions)]}, indent=2, default=str))
    hit = [iou >= 0.5 for iou in report.top1_iou]
    misses = [(q.query, q.media, q.start_s, q.end_s, round(iou, 2)) for q, iou in zip(eval_queries, report.top1_iou)
              if iou < 0.5]
    share = sum(hit) / len(hit)
    print(f"top-1 IoU>=0.5: {sum(hit)}/{len(hit)} = {share:.1%} (goal {GOAL:.0%}); "
          f"by group: { {g: m['R1@0.5'] for g, m in report.by_group.items()} }")
    assert share >= GOAL, f"top-1 IoU>=0.5 for {sum(hit)}/{len(hit)} (goal {GOAL:.0%}); misses: {misses}"
    for group in ("channel=speech", "channel=ocr", "kind=exact", "kind=paraphrase"):
        assert report.by_group[group]["R1@0.5"] >= 80.0, (group, report.by_group[group], misses)
    assert len(queries) >= 40 and sum(q.kind == "paraphrase" for q in queries) >= 0.4 * len(queries)


@pytest.mark.e2e
def test_one_result_per_moment_and_a_cut_off_that_keeps_the_right_moments(quality_library: tuple) -> None:
    """No two of a query's top 10 moments overlap by IoU > 0.5 in one file; the confidence cut-off keeps >= 95% of
    the right moments (IoU >= 0.5 with the truth) while returning at most 5 moments on median (measured: 80/80 kept,
    5 on median: 47 of the 80 queries list at most 5; the cut-off keeps every right moment of this library, and
    "low" labels, not the cut-off, say which listed moments are unlikely)."""
    db, root, data_dir, queries = quality_library
    service = SearchService(db, DataLayout(data_dir), SearchConfig())
    eval_queries, listed, overlapping = [], [], []
    for q in queries:
        response = service.search(SearchRequest(text=q.query, page_size=100, show_all=True))
        assert response.moments is not None
        items = response.moments.items
        names = [str(Path(response.media[m.media_id].path).relative_to(root)) for m in items]
        overlapping += [(q.query, a.start_s, b.start_s) for i, a in enumerate(items[:10]) for b in items[i + 1:10]
                        if span_iou(a, b) > 0.5]
        eval_queries.append(EvalQuery(q.query, q.media, q.start_s, q.end_s))
        listed.append([ListedMoment(n, m.start_s, m.end_s, m.below_cutoff) for n, m in zip(names, items)])
    assert not overlapping, overlapping
    report = cutoff_report(eval_queries, listed)
    print(f"cut-off: {report.as_dict()}")
    assert report.kept_share >= 0.95 and report.returned_median <= 5, report.as_dict()
