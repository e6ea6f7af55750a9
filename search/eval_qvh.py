"""QVHighlights JSONL files -> the official metric tables, laid out as moment_detr's ``standalone_eval``
writes them (``sample_val_preds_metrics_raw.json``).

Ground-truth rows carry ``qid``, ``duration`` (s), ``relevant_windows`` ([start_s, end_s] pairs) and, for
highlight detection, ``relevant_clip_ids`` (2-second clips) with ``saliency_scores`` (three annotators, 0-4,
one row per relevant clip). Prediction rows carry ``qid``, ``pred_relevant_windows`` ([start_s, end_s, score],
ranked best first) and/or ``pred_saliency_scores`` (one per 2-second clip).

Typical use::

    tables = evaluate(read_ground_truth(gt_path), read_predictions(pred_path))
    tables["brief"]["MR-full-mAP"], tables["full"]["MR-R1"]["0.7"]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import SearchError
from search.metrics import (
    MR_IOU_THRESHOLDS,
    MR_LENGTH_BUCKETS_S,
    highlight_average_precision,
    highlight_hit_at_1,
    mean_average_precision,
    recall_at_k,
    select_by_gt_length,
)

CLIP_S = 2.0  # QVHighlights' saliency clip length
HL_MIN_SCORES = {"Fair": 2, "Good": 3, "VeryGood": 4}  # a clip is positive for an annotator from this score

Tables = dict[str, Any]


class QvhInputError(SearchError):
    """A QVHighlights ground-truth or prediction file cannot be evaluated as it is."""

    def __init__(self, source: Path | str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"{source}: {problem}")


@dataclass(frozen=True)
class GroundTruth:
    qid: int
    duration_s: float
    windows: np.ndarray  # (M, 2) [start_s, end_s]
    saliency: np.ndarray  # (C, 3) annotator scores 0-4 of the C = duration_s // 2 clips, 0 where not relevant


@dataclass(frozen=True)
class Prediction:
    qid: int
    windows: np.ndarray | None  # (N, 3) [start_s, end_s, score] ranked best first; None: no moments
    saliency: np.ndarray | None  # (C',) one score per 2-second clip; None: no highlight predictions


def read_ground_truth(path: Path) -> list[GroundTruth]:
    truths = []
    for line_no, row in _read_jsonl(path):
        try:
            saliency = np.zeros((int(row["duration"] / CLIP_S), 3), dtype=np.int64)
            if row.get("relevant_clip_ids"):
                saliency[np.asarray(row["relevant_clip_ids"])] = np.asarray(row["saliency_scores"])
            windows = np.asarray(row["relevant_windows"], dtype=np.float64).reshape(-1, 2)
            truths.append(GroundTruth(qid=row["qid"], duration_s=float(row["duration"]), windows=windows,
                                      saliency=saliency))
        except (KeyError, IndexError, ValueError) as err:
            raise QvhInputError(f"{path}:{line_no}", f"not a ground-truth row ({err!r})") from err
    return truths


def read_predictions(path: Path) -> list[Prediction]:
    predictions = []
    for line_no, row in _read_jsonl(path):
        try:
            windows, saliency = row.get("pred_relevant_windows"), row.get("pred_saliency_scores")
            predictions.append(Prediction(
                qid=row["qid"],
                windows=None if windows is None else np.asarray(windows, dtype=np.float64).reshape(-1, 3),
                saliency=None if saliency is None else np.asarray(saliency, dtype=np.float64)))
        except (KeyError, ValueError) as err:
            raise QvhInputError(f"{path}:{line_no}", f"not a prediction row ({err!r})") from err
    return predictions


def evaluate(truths: Sequence[GroundTruth], predictions: Sequence[Prediction]) -> Tables:
    """All tables: "brief" (the headline numbers), then one per length bucket and one per highlight level.

    Moment tables need ``windows`` in every prediction, highlight tables ``saliency``. Every query must be
    predicted once, and only those queries: a mismatch raises ``QvhInputError``.
    """
    truths, predictions = _align(truths, predictions)
    tables: Tables = {}
    brief: dict[str, float] = {}
    if all(p.windows is not None for p in predictions):
        mr = moment_retrieval_tables(truths, predictions)
        tables.update(mr)
        full, buckets = mr["full"], {name: mr[name]["MR-mAP"]["average"] for name in MR_LENGTH_BUCKETS_S}
        brief.update(sorted({
            "MR-full-mAP": full["MR-mAP"]["average"], "MR-full-mAP@0.5": full["MR-mAP"]["0.5"],
            "MR-full-mAP@0.75": full["MR-mAP"]["0.75"],
            "MR-full-R1@0.5": full["MR-R1"]["0.5"], "MR-full-R1@0.7": full["MR-R1"]["0.7"],
            **{f"MR-{name}-mAP": value for name, value in buckets.items()}}.items()))
    if all(p.saliency is not None for p in predictions):
        hl = highlight_tables(truths, predictions)
        tables.update(hl)
        brief.update({f"{level}-{name.removeprefix('HL-')}": value
                      for level, table in hl.items() for name, value in table.items()})
    return {"brief": brief, **dict(sorted(tables.items()))}


def moment_retrieval_tables(truths: Sequence[GroundTruth], predictions: Sequence[Prediction]) -> Tables:
    """{"short" | "middle" | "long" | "full": {"MR-mAP": {"0.5": .., .., "0.95": .., "average": ..},
    "MR-R1": {"0.5": .., .., "0.95": ..}}}, percent rounded to 2 decimals; inputs aligned by position."""
    gts = [t.windows for t in truths]
    preds = [p.windows for p in predictions if p.windows is not None]
    assert len(preds) == len(gts), "every prediction needs pred_relevant_windows"
    buckets = {name: select_by_gt_length(gts, lo, hi) for name, (lo, hi) in MR_LENGTH_BUCKETS_S.items()}
    buckets["full"] = (np.arange(len(gts)), gts)  # every window, whatever its length
    keys = [str(t) for t in MR_IOU_THRESHOLDS]
    tables = {}
    for name, (keep, bucket_gts) in buckets.items():
        bucket_preds = [preds[q] for q in keep]
        mean_ap = mean_average_precision(bucket_preds, bucket_gts, MR_IOU_THRESHOLDS)  # (T,)
        r1 = recall_at_k(bucket_preds, bucket_gts, k=1, iou_thresholds=MR_IOU_THRESHOLDS)  # (T,)
        tables[name] = {"MR-mAP": {**dict(zip(keys, _round(mean_ap))), "average": _round(mean_ap.mean())[0]},
                        "MR-R1": dict(zip(keys, _round(r1)))}
    return tables


def highlight_tables(truths: Sequence[GroundTruth], predictions: Sequence[Prediction]) -> Tables:
    """{"HL-min-Fair" | "HL-min-Good" | "HL-min-VeryGood": {"HL-mAP": .., "HL-Hit1": ..}}, percent rounded to
    2 decimals; inputs aligned by position."""
    scores = [p.saliency for p in predictions if p.saliency is not None]
    assert len(scores) == len(truths), "every prediction needs pred_saliency_scores"
    tables = {}
    for level, min_score in HL_MIN_SCORES.items():
        positive = [t.saliency >= min_score for t in truths]  # (C, 3) per query
        tables[f"HL-min-{level}"] = {"HL-mAP": _round(highlight_average_precision(scores, positive))[0],
                                     "HL-Hit1": _round(highlight_hit_at_1(scores, positive))[0]}
    return tables


def _align(truths: Sequence[GroundTruth],
           predictions: Sequence[Prediction]) -> tuple[list[GroundTruth], list[Prediction]]:
    """Predictions reordered to follow the ground truth; both must hold the same qids, each once."""
    truth_qids = [t.qid for t in truths]
    if not truth_qids or len(set(truth_qids)) != len(truth_qids):
        raise QvhInputError("ground truth", "no queries, or a qid given more than once")
    by_qid = {p.qid: p for p in predictions}
    if len(by_qid) != len(predictions):
        raise QvhInputError("predictions", "a qid is predicted more than once")
    missing, extra = set(truth_qids) - set(by_qid), set(by_qid) - set(truth_qids)
    if missing or extra:
        raise QvhInputError("predictions", f"qids differ from the ground truth: {len(missing)} missing "
                            f"(e.g. {sorted(missing)[:3]}), {len(extra)} unknown (e.g. {sorted(extra)[:3]})")
    return list(truths), [by_qid[q] for q in truth_qids]


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append((line_no, json.loads(line)))
                except json.JSONDecodeError as err:
                    raise QvhInputError(f"{path}:{line_no}", f"not JSON ({err.msg})") from err
    return rows


def _round(values: np.ndarray | float) -> list[float]:
    """Percentages as the official tables print them: 2 decimals (correctly rounded, as ``f"{v:.2f}"``)."""
    return [round(float(v), 2) for v in np.atleast_1d(values)]
