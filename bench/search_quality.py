"""Search quality on the library search was tuned on and on the frozen one it never saw, side by side.

    .venv/bin/python bench/search_quality.py [--only tuned|frozen|holdout|...|holdout5]
        [--text-model NAME] [--label NAME] [--set F=V]

- tuned: ``scenedex.search_samples`` (20 reels, 80 needle queries; the wording and fusion were chosen on it),
  built in bench/out/quality_library_20 and indexed into the database ``scenedex_bench`` (shared with
  bench/search_api.py, so one index serves both);
- frozen: ``bench/frozen_library`` (12 reels in other voices with music and noise, 84 paraphrases, 8 queries on
  the real clips), built in bench/out/frozen_library and indexed into ``scenedex_sq_frozen``; its misses were read
  while search was changed, so it is no longer unseen;
- holdout: ``bench/frozen_library/holdout.toml`` (6 reels of the same kinds on new topics, 44 paraphrases), frozen
  before the search changes that followed, built in bench/out/holdout_library, indexed into
  ``scenedex_sq_holdout``;
- holdout2: ``bench/frozen_library/holdout2.toml`` (6 more reels of the same kinds on other topics, 50 paraphrases),
  frozen on 2026-12-03 before the search changes of session 9, built in bench/out/holdout2_library, indexed into
  ``scenedex_sq_holdout2``;
- holdout3: ``bench/frozen_library/holdout3.toml`` (6 more reels, other topics and voices, 54 queries as an archive
  user would type them), frozen on 2026-12-04 before any search change of session 10, built in
  bench/out/holdout3_library, indexed into ``scenedex_sq_holdout3``;
- holdout4: ``bench/frozen_library/holdout4.toml`` (6 more reels, other topics and voices, 64 queries as an
  archive user would type them), frozen on 2026-12-05 before any search change of session 15, built in
  bench/out/holdout4_library, indexed into ``scenedex_sq_holdout4``;
- holdout5: ``bench/frozen_library/holdout5.toml`` (6 more reels, 64 queries), written on 2026-12-05 (session 21)
  by a helper that read no search code and no results, frozen before any search change of that session, built in
  bench/out/holdout5_library, indexed into ``scenedex_sq_holdout5``.

Each is built and indexed once (default channels: subtitles, speech, on-screen text, the packaged models) and
reused; later runs only search. Every query goes through ``SearchService.search`` as the CLI and the API call it.
A text model other than the default gets its own copies of the databases, re-embedded from the stored text
(``workers.reembed``): speech and OCR are not run again.

Reported per library and group: top-1 IoU >= 0.5, R@5 IoU >= 0.5, mAP (QVHighlights, ``search.library_eval``);
and, when moments carry a confidence label: top-10 pairs in one file overlapping by IoU > 0.5, the share of
correct moments (IoU >= 0.5, in the top 10) kept above the cut-off, the median number of moments above the
cut-off, and each label's precision (the share of the top-10 moments with that label that are right). Results go
to bench/out/search_quality[_LABEL].json.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, save  # noqa: E402

TOP_K = 10
SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
LIBRARIES = ("tuned", "frozen", "holdout", "holdout2", "holdout3", "holdout4", "holdout5")
DEFAULT_DATABASES = {"tuned": "scenedex_bench", "frozen": "scenedex_sq_frozen", "holdout": "scenedex_sq_holdout",
                     "holdout2": "scenedex_sq_holdout2", "holdout3": "scenedex_sq_holdout3",
                     "holdout4": "scenedex_sq_holdout4", "holdout5": "scenedex_sq_holdout5"}
DATA_DIRS = {"tuned": OUT_DIR / "quality_data_20", "frozen": OUT_DIR / "frozen_data",
             "holdout": OUT_DIR / "holdout_data", "holdout2": OUT_DIR / "holdout2_data",
             "holdout3": OUT_DIR / "holdout3_data", "holdout4": OUT_DIR / "holdout4_data",
             "holdout5": OUT_DIR / "holdout5_data"}


def _admin(sql: str, *params: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def _exists(name: str) -> bool:
    return bool(_admin("SELECT 1 FROM pg_database WHERE datname = %s", name))


def build(library: str) -> tuple[Path, list[dict[str, Any]]]:
    """The library's folder and its queries as dicts (query, media, start_s, end_s, group keys)."""
    if library == "tuned":
        from scenedex.search_samples import build_search_library

        root = OUT_DIR / "quality_library_20"
        queries = build_search_library(root, n_videos=20, seed=7, progress=print)
        return root, [{"query": q.query, "media": q.media, "start_s": q.start_s, "end_s": q.end_s,
                       "channel": q.channel, "kind": q.kind} for q in queries]
    from bench.frozen_library.build import HOLDOUT_PLAN, PLAN_PATH, build_frozen_library

    plans = {"frozen": PLAN_PATH, "holdout": HOLDOUT_PLAN, "holdout2": HOLDOUT_PLAN.with_name("holdout2.toml"),
             "holdout3": HOLDOUT_PLAN.with_name("holdout3.toml"),
             "holdout4": HOLDOUT_PLAN.with_name("holdout4.toml"),
             "holdout5": HOLDOUT_PLAN.with_name("holdout5.toml")}
    root = OUT_DIR / f"{library}_library"
    return root, build_frozen_library(root, plans[library], progress=print)


def index_default(library: str, root: Path) -> str:
    """Index ``root`` with the default channels and models into the library's database; its URL."""
    from db.session import Database, upgrade
    from indexer.sampling import SamplingPolicy
    from workers.index_run import TextChannels, index_paths
    from workers.ingest import IngestConfig
    from workers.layout import DataLayout

    name = DEFAULT_DATABASES[library]
    if not _exists(name):
        _admin(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    upgrade(url)
    db = Database(url)
    t0 = time.perf_counter()
    config = IngestConfig(layout=DataLayout(DATA_DIRS[library]), sampling=SamplingPolicy(size_px=32))
    summary = index_paths(db, [root], config, (".mp4",), None, text=TextChannels())
    again = f" ({summary.ocr_read_again} with on-screen text read again)" if summary.ocr_read_again else ""
    print(f"{library}: {len(summary.indexed)} indexed, {summary.unchanged} unchanged{again} in "
          f"{time.perf_counter() - t0:.0f} s; problems: {summary.problems or 'none'}")
    db.dispose()
    return url


def with_text_model(library: str, text_model: str, label: str) -> tuple[str, Path]:
    """A copy of the library's default database and data folder re-embedded with ``text_model`` (once)."""
    from db.session import Database
    from workers.layout import DataLayout
    from workers.reembed import reembed_text

    name = f"{DEFAULT_DATABASES[library]}_{label}"
    data_dir = DATA_DIRS[library].with_name(f"{DATA_DIRS[library].name}_{label}")
    if not _exists(name):  # a dump, not TEMPLATE: the source may have other sessions (bench/search_api.py)
        _admin(f'CREATE DATABASE "{name}"')
        dump = subprocess.Popen(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-Fc",
                                 DEFAULT_DATABASES[library]], stdout=subprocess.PIPE)
        subprocess.run(["pg_restore", "-h", "127.0.0.1", "-U", "postgres", "-d", name], stdin=dump.stdout,
                       check=True)
        assert dump.wait() == 0, "pg_dump failed"
        subprocess.run(["rm", "-rf", str(data_dir)], check=True)
        subprocess.run(["cp", "-a", str(DATA_DIRS[library]), str(data_dir)], check=True)
    url = f"{SERVER}/{name}"
    db = Database(url)
    t0 = time.perf_counter()
    done = reembed_text(db, DataLayout(data_dir), text_model)
    print(f"{library}: re-embedded {done.media} files, {done.chunks} chunks with {text_model} "
          f"in {time.perf_counter() - t0:.0f} s")
    db.dispose()
    return url, data_dir


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def search_config(text_model: str | None, settings: list[str]) -> Any:
    """The default SearchConfig with ``text_model`` and each ``field=value`` of ``settings`` (``weights.k=20``
    for a fusion weight); values are read as JSON (true, 0.5), else kept as text."""
    import json

    from scenedex.search_service import SearchConfig

    config = SearchConfig(text_model=text_model)
    for item in settings:
        name, _, raw = item.partition("=")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if "." in name:
            outer, inner = name.split(".", 1)
            value = dataclasses.replace(getattr(config, outer), **{inner: value})
            name = outer
        config = dataclasses.replace(config, **{name: value})
    return config


def run_queries(url: str, data_dir: Path, root: Path, queries: list[dict[str, Any]], config: Any) -> dict[str, Any]:
    from db.session import Database
    from scenedex.search_service import SearchService
    from search.library_eval import EvalQuery, Predicted, evaluate
    from search.request import SearchRequest
    from workers.layout import DataLayout

    db = Database(url)
    service = SearchService(db, DataLayout(data_dir), config)
    has_show_all = "show_all" in {f.name for f in dataclasses.fields(SearchRequest)}
    eval_queries, predictions, rows = [], [], []
    overlaps, kept, correct, shown_counts, took = 0, 0, 0, [], []
    labelled = False
    label_tally: dict[str, list[int]] = {}  # label -> [right, listed] over every query's top 10
    for q in queries:
        extra = {k: v for k, v in q.items() if k not in ("query", "media", "start_s", "end_s")}
        request = SearchRequest(text=q["query"], page_size=TOP_K, **({"show_all": True} if has_show_all else {}))
        t0 = time.perf_counter()
        response = service.search(request)
        took.append((time.perf_counter() - t0) * 1000)
        assert response.moments is not None
        items = response.moments.items
        paths = [str(Path(response.media[m.media_id].path).relative_to(root)) for m in items]
        eval_queries.append(EvalQuery(q["query"], q["media"], q["start_s"], q["end_s"], extra))
        predictions.append([Predicted(p, m.start_s, m.end_s, m.score) for p, m in zip(paths, items)])
        truth = (q["start_s"], q["end_s"])
        ious = [_iou((m.start_s, m.end_s), truth) if p == q["media"] else 0.0 for p, m in zip(paths, items)]
        overlaps += sum(1 for i in range(len(items)) for j in range(i + 1, len(items))
                        if items[i].media_id == items[j].media_id
                        and _iou((items[i].start_s, items[i].end_s), (items[j].start_s, items[j].end_s)) > 0.5)
        labels = [getattr(m, "confidence", None) for m in items]
        if any(label is not None for label in labels):
            labelled = True
            good = [i for i, iou in enumerate(ious) if iou >= 0.5]
            correct += bool(good)
            kept += any(not getattr(items[i], "below_cutoff", False) for i in good)
            for label, iou in zip(labels, ious):  # label precision over the top 10
                tally = label_tally.setdefault(str(label), [0, 0])
                tally[0] += iou >= 0.5
                tally[1] += 1
            if has_show_all:
                shown = service.search(SearchRequest(text=q["query"], page_size=1)).moments
                shown_counts.append(shown.total if shown is not None else 0)
        rows.append({**q, "top1_iou": round(ious[0], 3) if ious else 0.0,
                     "top1": {"media": paths[0], "start_s": items[0].start_s, "end_s": items[0].end_s}
                     if items else None, "first_correct_rank": next((i + 1 for i, x in enumerate(ious) if x >= 0.5),
                                                                   None),
                     "labels": [str(x) for x in labels] if labelled else None,
                     "scores": [getattr(m, "calibrated_score", None) for m in items],  # top 10, calibrated
                     "ious": [round(x, 3) for x in ious]})
    report = evaluate(eval_queries, predictions)
    db.dispose()
    out: dict[str, Any] = {"metrics": report.metrics, "by_group": report.by_group,
                           "top10_same_file_pairs_iou_over_0.5": overlaps,
                           "search_ms_p50": round(statistics.median(took), 1), "queries": rows}
    if labelled:
        out["cutoff_keeps_correct"] = round(kept / correct, 3) if correct else None
        out["median_moments_above_cutoff"] = statistics.median(shown_counts) if shown_counts else None
        out["label_precision"] = {k: {"right": a, "listed": b, "precision": round(a / b, 3)}
                                  for k, (a, b) in sorted(label_tally.items())}
    return out


def _line(name: str, m: dict[str, Any]) -> str:
    return f"  {name:<28}{m['queries']:>5}{m['R1@0.5']:>9.1f}{m['R5@0.5']:>9.1f}{m['mAP']:>8.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=LIBRARIES)
    parser.add_argument("--text-model", default=None, help="a sentence-transformers directory (default: packaged)")
    parser.add_argument("--label", default=None, help="names the output and the re-embedded databases")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a SearchConfig field for this run, e.g. lexical_rare_words=true or weights.k=20")
    parser.add_argument("--reembed-label", default=None, help="the label of the re-embedded copies to use "
                        "(default: --label)")
    args = parser.parse_args()
    if args.text_model and not args.label:
        parser.error("--text-model needs --label (it names the re-embedded copies)")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    import torch

    torch.set_num_threads(1)  # on this shared 2-core machine a torch pool of 2 spins against the load: 20x slower
    config = search_config(args.text_model, args.set)
    results: dict[str, Any] = {"commit": commit, "text_model": args.text_model or "default", "settings": args.set,
                               "load_before": load}
    for library in LIBRARIES:
        if args.only and args.only != library:
            continue
        root, queries = build(library)
        url, data_dir = index_default(library, root), DATA_DIRS[library]
        if args.text_model:
            url, data_dir = with_text_model(library, args.text_model, args.reembed_label or args.label)
        results[library] = run_queries(url, data_dir, root, queries, config)
    results["load_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\ncommit {commit}, text model {results['text_model']}, settings {args.set or 'default'}; load: {load}")
    print(f"  {'library / group':<28}{'n':>5}{'top1':>9}{'R@5':>9}{'mAP':>8}   (IoU >= 0.5, %)")
    for library in LIBRARIES:
        if library not in results:
            continue
        r = results[library]
        print(_line(library, r["metrics"]))
        for group, m in r["by_group"].items():
            print(_line("  " + group, m))
        extra = f"  top-10 same-file pairs IoU>0.5: {r['top10_same_file_pairs_iou_over_0.5']}"
        if "cutoff_keeps_correct" in r:
            extra += (f"; cut-off keeps {r['cutoff_keeps_correct']} of correct; median above cut-off "
                      f"{r['median_moments_above_cutoff']}")
        print(extra + f"; search p50 {r['search_ms_p50']} ms")
        if "label_precision" in r:
            print("  label precision (top 10): " + ", ".join(
                f"{k} {v['right']}/{v['listed']}" for k, v in r["label_precision"].items()))
    print(f"saved {save('search_quality' + (f'_{args.label}' if args.label else ''), results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
