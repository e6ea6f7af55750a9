"""Evaluate search over a whole library against queries with ground-truth spans (``scenedex eval``).

Input: JSON Lines, one query per line::

    {"query": "ferry captain rescues swimmers", "media": "news/0412.mp4", "start_s": 31.2, "end_s": 36.9}

``media`` is a path relative to a library root (or absolute); any other keys (``kind``, ``channel``, ...) are
kept and used to break the report down. A prediction in another file than the truth never overlaps it: each
file is placed on its own stretch of one long timeline, so the QVHighlights metrics (``search.metrics``) apply
unchanged: R1 and R5 at IoU 0.5 and 0.7, and mAP over IoU 0.5:0.05:0.95.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import SearchError
from search.metrics import mean_average_precision, recall_at_k, temporal_iou

FILE_STRIDE_S = 1e7  # seconds between files on the shared timeline: longer than any video


class EvalInputError(SearchError):
    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {problem}")


@dataclass(frozen=True)
class EvalQuery:
    query: str
    media: str
    start_s: float
    end_s: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Predicted:
    media: str  # the same spelling as EvalQuery.media (the caller resolves paths)
    start_s: float
    end_s: float
    score: float


@dataclass(frozen=True)
class EvalReport:
    queries: int
    metrics: dict[str, float]  # R1@0.5, R1@0.7, R5@0.5, R5@0.7, mAP, mAP@0.5, mAP@0.75 in percent
    by_group: dict[str, dict[str, float]]  # "kind=paraphrase" -> metrics of those queries
    top1_iou: list[float]  # per query, IoU of the first prediction with the truth (0 when another file)


def read_eval_queries(path: Path) -> list[EvalQuery]:
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(path, number, f"not JSON ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise EvalInputError(path, number, "each line must be a JSON object")
        missing = [k for k in ("query", "media", "start_s", "end_s") if k not in raw]
        if missing:
            raise EvalInputError(path, number, f"missing {', '.join(missing)}")
        try:
            start_s, end_s = float(raw.pop("start_s")), float(raw.pop("end_s"))
        except (TypeError, ValueError) as exc:
            raise EvalInputError(path, number, "start_s and end_s must be numbers of seconds") from exc
        if not 0 <= start_s < end_s:
            raise EvalInputError(path, number, f"the span {start_s}-{end_s} s is empty or negative")
        queries.append(EvalQuery(str(raw.pop("query")), str(raw.pop("media")), start_s, end_s, raw))
    if not queries:
        raise EvalInputError(path, 0, "no queries in the file")
    return queries


def evaluate(queries: Sequence[EvalQuery], predictions: Sequence[Sequence[Predicted]]) -> EvalReport:
    """``predictions[i]``: the ranked moments returned for ``queries[i]``, best first."""
    assert len(queries) == len(predictions), f"{len(queries)} queries, {len(predictions)} prediction lists"
    offsets: dict[str, float] = {}

    def place(media: str) -> float:
        return offsets.setdefault(media, len(offsets) * FILE_STRIDE_S)

    gts = [np.array([[place(q.media) + q.start_s, place(q.media) + q.end_s]]) for q in queries]
    preds = [np.array([[place(p.media) + p.start_s, place(p.media) + p.end_s, p.score] for p in ps]).reshape(-1, 3)
             for ps in predictions]
    top1 = [float(temporal_iou(p[:1, :2], g)[0, 0]) if len(p) else 0.0 for p, g in zip(preds, gts)]
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        for key, value in sorted(q.extra.items()):
            if isinstance(value, str | int | bool):
                groups.setdefault(f"{key}={value}", []).append(i)
    return EvalReport(queries=len(queries), metrics=_metrics(preds, gts),
                      by_group={g: _metrics([preds[i] for i in idx], [gts[i] for i in idx])
                                for g, idx in sorted(groups.items())},
                      top1_iou=top1)


def _metrics(preds: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, float]:
    r1 = recall_at_k(preds, gts, k=1)
    r5 = recall_at_k(preds, gts, k=5)
    ap = mean_average_precision(preds, gts)
    return {"R1@0.5": round(float(r1[0]), 2), "R1@0.7": round(float(r1[1]), 2), "R5@0.5": round(float(r5[0]), 2),
            "R5@0.7": round(float(r5[1]), 2), "mAP": round(float(ap.mean()), 2),
            "mAP@0.5": round(float(ap[0]), 2), "mAP@0.75": round(float(ap[5]), 2), "queries": len(gts)}
