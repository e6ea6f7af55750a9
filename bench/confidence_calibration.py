"""Fit the confidence model (``search.confidence``) on the generated quality library, the library search is tuned
on (never on a held-out library), and report what its cut-off keeps.

    .venv/bin/python bench/confidence_calibration.py [--database-url URL] [--videos 20]

The library and its index are the ones ``bench/search_api.py`` builds (bench/out/, database ``scenedex_bench``):
built on first use, reused after. Every query is run with the cut-off off (``show_all``, 100 moments); a moment is
right when it lies in the query's file with IoU >= 0.5 with the true span. A logistic model (L2, Newton steps)
is fitted on all moments with text; the cut-off is the highest score that keeps ``--keep`` of the right moments,
and "high" starts where at least ``--high-precision`` of the moments from there up are right, and never below
``--high-floor`` (0.5: more likely right than not); "medium" where at least ``--medium-precision`` of the moments
from there up to "high" are right (below it a listed moment is "low"). ``--budget N`` lowers the cut-off while a
query lists at most N moments on median; ``--thresholds-only`` keeps the model and chooses only the thresholds.
The label precision (right / moments) is printed and saved. Held-out check: the
model is fitted again on the even reels and its cut-off's figures measured on the odd ones (and the other way
round). Prints the ``Calibration(...)`` to paste into search/confidence.py and saves bench/out/confidence.json.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, save  # noqa: E402


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[float, np.ndarray]:
    """(intercept, (F,) weights) of an L2-regularised logistic regression (intercept not penalised)."""
    xb = np.hstack([np.ones((len(x), 1)), x])  # (n, F+1)
    w = np.zeros(xb.shape[1])
    penalty = np.eye(len(w)) * l2
    penalty[0, 0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -60, 60)))  # (n,)
        grad = xb.T @ (p - y) + penalty @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), w[1:]


def choose_cutoff(scores: np.ndarray, right: np.ndarray, keep: float) -> float:
    """The highest threshold that keeps at least ``keep`` of the right moments."""
    right_scores = np.sort(scores[right])[::-1]
    if not len(right_scores):
        return 0.5
    n_keep = int(np.ceil(keep * len(right_scores)))
    return float(right_scores[n_keep - 1]) - 1e-6


def choose_high(scores: np.ndarray, right: np.ndarray, precision: float, floor: float) -> float:
    """The lowest threshold above ``floor`` from which at least ``precision`` of the moments are right."""
    order = np.argsort(-scores)
    hits = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(hits >= precision)
    candidates = [float(scores[order][i]) for i in ok if scores[order][i] > floor]
    return max(min(candidates), floor + 0.05) if candidates else max(0.9, floor + 0.05)


def choose_medium(scores: np.ndarray, right: np.ndarray, precision: float, low: float, high: float) -> float:
    """The lowest threshold (not under ``low``) from which at least ``precision`` of the moments scored below
    ``high`` are right: what "medium" promises."""
    band = (scores >= low) & (scores < high)
    order = np.argsort(-scores[band])
    s, r = scores[band][order], right[band][order]
    if not len(s):
        return low
    share = np.cumsum(r) / np.arange(1, len(s) + 1)  # precision of [s[i], high)
    ok = np.flatnonzero(share >= precision)
    return max(low, float(s[ok.max()])) if len(ok) else float(np.nextafter(high, 0))


def choose_budget_cutoff(scores: np.ndarray, query: np.ndarray, budget: float) -> float:
    """The lowest threshold at which a query shows at most ``budget`` moments on median."""
    candidates = np.unique(scores)[::-1]  # high to low
    chosen = float(candidates[0])
    queries = np.unique(query)
    for t in candidates:
        shown = np.array([np.count_nonzero(scores[query == q] >= t) for q in queries])
        if np.median(shown) > budget:
            break
        chosen = float(t)
    return chosen - 1e-6


def label_precision(calibration: object, scores: np.ndarray, right: np.ndarray) -> dict[str, str]:
    out = {}
    for name in ("high", "medium", "low"):
        mask = np.array([str(calibration.label(float(v))) == name for v in scores], dtype=bool)
        out[name] = f"{int(right[mask].sum())}/{int(mask.sum())}"
    shown = scores >= calibration.cutoff
    out["low_shown"] = f"{int(right[shown & (scores < calibration.medium)].sum())}/" \
                       f"{int((shown & (scores < calibration.medium)).sum())}"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/scenedex_bench")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--keep", type=float, default=1.0, help="share of right moments the cut-off keeps")
    parser.add_argument("--high-precision", type=float, default=0.9)
    parser.add_argument("--high-floor", type=float, default=0.5, help="'high' never starts below this score")
    parser.add_argument("--l2", type=float, default=0.3)
    parser.add_argument("--medium-precision", type=float, default=0.5,
                        help="'medium' starts where at least this share of the moments under 'high' are right")
    parser.add_argument("--thresholds-only", action="store_true",
                        help="keep the fitted model of search/confidence.py; choose only its thresholds")
    parser.add_argument("--budget", type=float, default=None,
                        help="lower the cut-off while a query shows at most this many moments on median")
    args = parser.parse_args()

    from db.session import Database, upgrade
    from indexer.sampling import SamplingPolicy
    from scenedex.search_samples import build_search_library
    from scenedex.search_service import SearchConfig, SearchService
    from search.confidence import DEFAULT_CALIBRATION, FEATURES, Calibration, features, has_text
    from search.cutoff_eval import ListedMoment, cutoff_report
    from search.library_eval import EvalQuery
    from search.metrics import temporal_iou
    from search.request import SearchRequest
    from workers.index_run import TextChannels, index_paths
    from workers.ingest import IngestConfig
    from workers.layout import DataLayout

    from bench.search_api import _ensure_database

    library = OUT_DIR / f"quality_library_{args.videos}"
    data_dir = OUT_DIR / f"quality_data_{args.videos}"
    queries = build_search_library(library, n_videos=args.videos, seed=7, progress=print)
    _ensure_database(args.database_url)
    upgrade(args.database_url)
    db = Database(args.database_url)
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32))
    summary = index_paths(db, [library], config, (".mp4",), None, text=TextChannels())
    assert not summary.problems, summary.problems
    service = SearchService(db, DataLayout(data_dir), SearchConfig())

    rows_x, rows_y, rows_query, rows_reel = [], [], [], []
    per_query = []  # (EvalQuery, [(media, start, end, text?)], feature rows index range)
    for qi, q in enumerate(queries):
        response = service.search(SearchRequest(text=q.query, show_all=True, page_size=100))
        assert response.moments is not None
        moments = [m for m in response.moments.items if has_text(m)]
        media = [str(Path(response.media[m.media_id].path).relative_to(library)) for m in moments]
        x = features(moments)  # (n, F)
        spans = np.array([[m.start_s, m.end_s] for m in moments]).reshape(-1, 2)
        iou = temporal_iou(spans, np.array([[q.start_s, q.end_s]]))[:, 0] if len(moments) else np.zeros(0)
        right = np.array([md == q.media and v >= 0.5 for md, v in zip(media, iou)], dtype=bool)
        start = len(rows_y)
        rows_x.append(x)
        rows_y += right.tolist()
        rows_query += [qi] * len(moments)
        rows_reel += [int(q.media.split("_")[-1][:2])] * len(moments)
        per_query.append((EvalQuery(q.query, q.media, q.start_s, q.end_s, {"kind": q.kind}), media, moments,
                          start))
    x_all = np.vstack(rows_x)
    y_all = np.asarray(rows_y, dtype=np.float64)
    reel = np.asarray(rows_reel)
    query_of = np.asarray(rows_query)

    def calibrate(mask: np.ndarray) -> Calibration:
        if args.thresholds_only:  # the model in search/confidence.py, new thresholds
            intercept, weights = DEFAULT_CALIBRATION.intercept, np.asarray(DEFAULT_CALIBRATION.weights)
        else:
            intercept, weights = fit_logistic(x_all[mask], y_all[mask], l2=args.l2)
        probe = Calibration(intercept, tuple(float(w) for w in weights), 0.99, 0.01, DEFAULT_CALIBRATION.fitted_for)
        scores = probe.scores(x_all[mask])
        cutoff = choose_cutoff(scores, y_all[mask] > 0, args.keep)
        if args.budget is not None:
            cutoff = min(cutoff, choose_budget_cutoff(scores, query_of[mask], args.budget))
        high = round(min(max(args.high_floor, choose_high(scores, y_all[mask] > 0, args.high_precision, cutoff)),
                         0.99), 4)
        medium = choose_medium(scores, y_all[mask] > 0, args.medium_precision, cutoff, high)
        cutoff = math.floor(cutoff * 1e4) / 1e4  # rounded down: rounding never hides a right moment
        return replace(probe, cutoff=cutoff, high_from=high, medium_from=round(max(medium, cutoff), 4))

    def measure(calibration: Calibration, reels: set[int] | None) -> dict[str, float]:
        scores = calibration.scores(x_all)
        evals, listed = [], []
        for eq, media, moments, start in per_query:
            reel_no = int(eq.media.split("_")[-1][:2])
            if reels is not None and reel_no not in reels:
                continue
            s = scores[start:start + len(moments)]
            evals.append(eq)
            listed.append([ListedMoment(md, m.start_s, m.end_s, bool(v < calibration.cutoff))
                           for md, m, v in zip(media, moments, s)])
        return cutoff_report(evals, listed).as_dict()

    everything = np.ones(len(y_all), dtype=bool)
    final = calibrate(everything)
    even, odd = reel % 2 == 0, reel % 2 == 1
    held_out = {"fit_even_test_odd": measure(calibrate(even), set(np.unique(reel[odd]).tolist())),
                "fit_odd_test_even": measure(calibrate(odd), set(np.unique(reel[even]).tolist()))}
    report = {"moments": int(len(y_all)), "right": int(y_all.sum()), "features": list(FEATURES),
              "calibration": {"intercept": final.intercept, "weights": final.weights, "cutoff": final.cutoff,
                              "medium_from": final.medium_from, "high_from": final.high_from},
              "in_sample": measure(final, None), "held_out": held_out}
    scores = final.scores(x_all)
    bins = np.linspace(0, 1, 6)
    reliability = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        inside = (scores >= lo) & (scores < hi + (hi == 1.0))
        reliability.append({"bin": f"{lo:.1f}-{hi:.1f}", "moments": int(inside.sum()),
                            "mean_score": round(float(scores[inside].mean()), 3) if inside.any() else None,
                            "share_right": round(float(y_all[inside].mean()), 3) if inside.any() else None})
    report["reliability"] = reliability
    report["label_precision"] = label_precision(final, scores, y_all > 0)
    print("label precision (right/listed):", report["label_precision"])
    print(f"{len(y_all)} moments with text, {int(y_all.sum())} right, {len(queries)} queries")
    for row in reliability:
        print(f"  score {row['bin']}: {row['moments']:>5} moments, mean score {row['mean_score']}, "
              f"right {row['share_right']}")
    print("in sample:", report["in_sample"])
    for name, figures in held_out.items():
        print(f"{name}:", figures)
    weights = ", ".join(f"{w:.3f}" for w in final.weights)
    print(f"\nDEFAULT_CALIBRATION = Calibration(intercept={final.intercept:.3f}, weights=({weights}), "
          f"high_from={final.high_from}, cutoff={final.cutoff}, fitted_for=\"{final.fitted_for}\", "
          f"medium_from={final.medium_from})")
    print(f"saved {save('confidence', report)}")
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
