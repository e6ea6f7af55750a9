"""Fit the confidence model (``search.confidence``) on libraries of ``bench/search_quality.py`` (never on the one
it will be tested on), and report what its cut-off keeps.

    .venv/bin/python bench/confidence_calibration.py [--libraries tuned,frozen,holdout,holdout2,holdout3]
        [--test holdout4] [--current] [--text-model all-mpnet-base-v2] [--set F=V] [--keep 0.85]

The libraries and their indexes are ``bench/search_quality.py``'s (bench/out/, one database each): built on
first use, reused after. Every query is run with the cut-off off (``show_all``, 100 moments); a moment is
right when it lies in the query's file with IoU >= 0.5 with the true span. A logistic model (L2, Newton steps)
is fitted on all moments with text; the cut-off is the highest score that keeps ``--keep`` of the right moments,
and "high" starts where at least ``--high-precision`` of the moments from there up are right, and never below
``--high-floor`` (0.5: more likely right than not); "medium" where at least ``--medium-precision`` of the moments
from there up to "high" are right (below it a listed moment is "low"). ``--budget N`` lowers the cut-off while a
query lists at most N moments on median; ``--max-median N`` raises it, if need be, until it does; ``--thresholds-only`` keeps the model and chooses only the thresholds.
The label precision (right / moments) is printed and saved. Held-out check: with one library
the model is fitted again on every other file and its cut-off's figures measured on the rest (and the other way
round); with several, it is fitted on all but one library and measured on that one, for each. Prints the ``Calibration(...)`` to paste into search/confidence.py and saves bench/out/confidence.json.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402


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


@dataclass
class Collected:
    """Every moment with text that a library's queries list with the cut-off off, as model inputs."""

    x: np.ndarray  # (n, F) features
    right: np.ndarray  # (n,) 1.0 where the moment is right
    query: np.ndarray  # (n,) query number, unique over all libraries
    group: np.ndarray  # (n,) "library:file" of the query's file, for held-out checks
    per_query: list[tuple[Any, list[str], list[Any], int]]  # (EvalQuery, media, moments, first row)


def collect(service: Any, root: Path, queries: list[dict[str, Any]], library: str, first_query: int,
            first_row: int) -> Collected:
    """Run each query (``show_all``, 100 moments) and label its moments with text against the true span; query
    numbers and rows continue from ``first_query`` and ``first_row`` (the libraries collected before)."""
    from search.confidence import features, has_text
    from search.library_eval import EvalQuery
    from search.metrics import temporal_iou
    from search.request import SearchRequest

    rows_x, rows_y, rows_query, rows_group, per_query = [], [], [], [], []
    for qi, q in enumerate(queries):
        response = service.search(SearchRequest(text=q["query"], show_all=True, page_size=100))
        assert response.moments is not None
        moments = [m for m in response.moments.items if has_text(m)]
        media = [str(Path(response.media[m.media_id].path).relative_to(root)) for m in moments]
        spans = np.array([[m.start_s, m.end_s] for m in moments]).reshape(-1, 2)
        iou = temporal_iou(spans, np.array([[q["start_s"], q["end_s"]]]))[:, 0] if len(moments) else np.zeros(0)
        right = [md == q["media"] and v >= 0.5 for md, v in zip(media, iou)]
        per_query.append((EvalQuery(q["query"], q["media"], q["start_s"], q["end_s"], {}), media, moments,
                          first_row + len(rows_y)))
        rows_x.append(features(moments))
        rows_y += right
        rows_query += [first_query + qi] * len(moments)
        rows_group += [f"{library}:{q['media']}"] * len(moments)
    return Collected(np.vstack(rows_x), np.asarray(rows_y, dtype=np.float64), np.asarray(rows_query),
                     np.asarray(rows_group), per_query)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--libraries", default="tuned",
                        help="comma-separated libraries of bench/search_quality.py to fit on (default: tuned); "
                             "never the one you will test on")
    parser.add_argument("--test", default="",
                        help="comma-separated libraries measured with the fitted model but never fitted on")
    parser.add_argument("--current", action="store_true",
                        help="measure the calibration in search/confidence.py as it is (no fit, no thresholds)")
    parser.add_argument("--text-model", default=None,
                        help="fit for this sentence model (e.g. all-mpnet-base-v2) on the libraries' re-embedded "
                             "copies, as bench/search_quality.py --text-model makes them")
    parser.add_argument("--reembed-label", default="mpnet", help="the label of those copies (default: mpnet)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a SearchConfig field the fit is made under (as bench/search_quality.py --set)")
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
    parser.add_argument("--max-median", type=float, default=None,
                        help="raise the cut-off, if need be, until a query lists at most this many on median")
    args = parser.parse_args()
    libraries = [name.strip() for name in args.libraries.split(",") if name.strip()]
    tests = [name.strip() for name in args.test.split(",") if name.strip()]

    import torch

    from bench.search_quality import DATA_DIRS, LIBRARIES, build, index_default, search_config, with_text_model
    from db.session import Database
    from scenedex.search_service import SearchService
    from search.confidence import DEFAULT_CALIBRATION, FEATURES, Calibration, calibration_for
    from search.cutoff_eval import ListedMoment, cutoff_report
    from workers.layout import DataLayout

    unknown = set(libraries + tests) - set(LIBRARIES)
    if unknown or not libraries:
        parser.error(f"unknown libraries {sorted(unknown)}: choose from {', '.join(LIBRARIES)}")
    if set(libraries) & set(tests):
        parser.error(f"fitted on and tested on: {sorted(set(libraries) & set(tests))}")
    torch.set_num_threads(1)  # as bench/search_quality.py: a pool of 2 spins against the load on 2 cores
    config = search_config(args.text_model, args.set)
    parts: list[Collected] = []
    for library in libraries + tests:
        root, queries = build(library)
        url, data_dir = index_default(library, root), DATA_DIRS[library]
        if args.text_model:
            url, data_dir = with_text_model(library, args.text_model, args.reembed_label)
        db = Database(url)
        service = SearchService(db, DataLayout(data_dir), config)
        parts.append(collect(service, root, queries, library, sum(len(p.per_query) for p in parts),
                             sum(len(p.right) for p in parts)))
        db.dispose()
    library_of = np.concatenate([np.full(len(p.right), lib) for lib, p in zip(libraries + tests, parts)])  # (n,)
    fitted = np.isin(library_of, libraries)
    x_all = np.vstack([p.x for p in parts])
    y_all = np.concatenate([p.right for p in parts])
    query_of = np.concatenate([p.query for p in parts])
    group = np.concatenate([p.group for p in parts])
    per_query = [(library, *item) for library, p in zip(libraries + tests, parts) for item in p.per_query]

    current = calibration_for(args.text_model or DEFAULT_CALIBRATION.fitted_for)  # search/confidence.py's for it

    def calibrate(mask: np.ndarray) -> Calibration:
        if args.current:
            return current
        if args.thresholds_only:  # the model in search/confidence.py, new thresholds
            intercept, weights = current.intercept, np.asarray(current.weights)
        else:
            intercept, weights = fit_logistic(x_all[mask], y_all[mask], l2=args.l2)
        probe = Calibration(intercept, tuple(float(w) for w in weights), 0.99, 0.01,
                            args.text_model or DEFAULT_CALIBRATION.fitted_for)
        scores = probe.scores(x_all[mask])
        cutoff = choose_cutoff(scores, y_all[mask] > 0, args.keep)
        if args.budget is not None:
            cutoff = min(cutoff, choose_budget_cutoff(scores, query_of[mask], args.budget))
        if args.max_median is not None:  # raised, if need be, until a query lists at most that many on median
            cutoff = max(cutoff, choose_budget_cutoff(scores, query_of[mask], args.max_median))
        high = round(min(max(args.high_floor, choose_high(scores, y_all[mask] > 0, args.high_precision, cutoff)),
                         0.99), 4)
        medium = choose_medium(scores, y_all[mask] > 0, args.medium_precision, cutoff, high)
        cutoff = math.floor(cutoff * 1e4) / 1e4  # rounded down: rounding never hides a right moment
        return replace(probe, cutoff=cutoff, high_from=high, medium_from=round(max(medium, cutoff), 4))

    def measure(calibration: Calibration, groups: set[str] | None) -> dict[str, float]:
        scores = calibration.scores(x_all)
        evals, listed = [], []
        for library, eq, media, moments, first in per_query:
            if groups is not None and f"{library}:{eq.media}" not in groups:
                continue
            evals.append(eq)
            listed.append([ListedMoment(md, m.start_s, m.end_s, bool(v < calibration.cutoff))
                           for md, m, v in zip(media, moments, scores[first:first + len(moments)])])
        return cutoff_report(evals, listed).as_dict()

    def of(library: str) -> set[str]:
        return set(group[library_of == library].tolist())

    final = calibrate(fitted)
    held_out: dict[str, Any] = {}
    if len(libraries) == 1:  # one library: fit on every other file, test on the rest, and the other way round
        files = sorted(set(group.tolist()))
        halves = (set(files[0::2]), set(files[1::2]))
        for name, (fit, test) in {"fit_even_test_odd": halves, "fit_odd_test_even": halves[::-1]}.items():
            held_out[name] = measure(calibrate(fitted & np.isin(group, sorted(fit))), test)
    else:  # several: fit on all but one library, test on that one, for each
        for library in libraries:
            held_out[f"fit_without_{library}"] = measure(calibrate(fitted & (library_of != library)), of(library))

    report = {"libraries": libraries, "tested_on": tests, "settings": args.set, "current": args.current,
              "moments": int(fitted.sum()), "right": int(y_all[fitted].sum()),
              "features": list(FEATURES),
              "calibration": {"intercept": final.intercept, "weights": final.weights, "cutoff": final.cutoff,
                              "medium_from": final.medium_from, "high_from": final.high_from},
              "in_sample": measure(final, set().union(*(of(lib) for lib in libraries))),
              "in_sample_by_library": {lib: measure(final, of(lib)) for lib in libraries},
              "tested": {f"test_{lib}": measure(final, of(lib)) for lib in tests},
              "held_out": held_out}
    scores, y_fit = final.scores(x_all[fitted]), y_all[fitted]
    bins = np.linspace(0, 1, 6)
    reliability = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        inside = (scores >= lo) & (scores < hi + (hi == 1.0))
        reliability.append({"bin": f"{lo:.1f}-{hi:.1f}", "moments": int(inside.sum()),
                            "mean_score": round(float(scores[inside].mean()), 3) if inside.any() else None,
                            "share_right": round(float(y_fit[inside].mean()), 3) if inside.any() else None})
    report["reliability"] = reliability
    report["label_precision"] = label_precision(final, scores, y_fit > 0)
    print("label precision (right/listed):", report["label_precision"])
    print(f"fitted on {len(y_fit)} moments with text, {int(y_fit.sum())} right ({', '.join(libraries)})")
    for row in reliability:
        print(f"  score {row['bin']}: {row['moments']:>5} moments, mean score {row['mean_score']}, "
              f"right {row['share_right']}")
    print("in sample:", report["in_sample"])
    for name, figures in {**report["in_sample_by_library"], **held_out, **report["tested"]}.items():
        print(f"{name}:", figures)
    weights = ", ".join(f"{w:.3f}" for w in final.weights)
    print(f"\nCalibration(intercept={final.intercept:.3f}, weights=({weights}), "
          f"high_from={final.high_from}, cutoff={final.cutoff}, fitted_for=\"{final.fitted_for}\", "
          f"medium_from={final.medium_from})")
    print(f"saved {save('confidence', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
