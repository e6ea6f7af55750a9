"""What the confidence cut-off keeps, on queries with ground-truth spans: the share of right moments above it,
and how many moments a query returns by default.

A moment is right when it lies in its query's file and overlaps the true span by IoU >= 0.5. Every moment a query
lists with the cut-off off counts (the caller asks with ``show_all`` and a large page); a query with two right
moments (say the line and its caption kept apart) counts both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from search.library_eval import EvalQuery
from search.metrics import temporal_iou

RIGHT_IOU = 0.5


@dataclass(frozen=True)
class ListedMoment:
    media: str  # the same spelling as EvalQuery.media
    start_s: float
    end_s: float
    below_cutoff: bool


@dataclass(frozen=True)
class CutoffReport:
    queries: int
    right: int  # right moments listed with the cut-off off, over all queries
    right_kept: int  # ... of them above the cut-off
    queries_with_right: int  # queries with a right moment among their listed ones
    queries_kept: int  # ... whose right moment (one at least) is above the cut-off
    returned_median: float  # moments above the cut-off per query
    returned_p90: float
    returned_max: int

    @property
    def kept_share(self) -> float:
        return self.right_kept / self.right if self.right else 1.0

    def as_dict(self) -> dict[str, float]:
        return {"queries": self.queries, "right": self.right, "right_kept": self.right_kept,
                "kept_share": round(100 * self.kept_share, 2), "queries_with_right": self.queries_with_right,
                "queries_kept": self.queries_kept, "returned_median": self.returned_median,
                "returned_p90": self.returned_p90, "returned_max": self.returned_max}


def cutoff_report(queries: Sequence[EvalQuery], listed: Sequence[Sequence[ListedMoment]]) -> CutoffReport:
    """``listed[i]``: every moment query ``i`` returns with the cut-off off, each marked above or below it."""
    assert len(queries) == len(listed) > 0, f"{len(queries)} queries, {len(listed)} lists"
    right = right_kept = with_right = kept = 0
    returned = []
    for q, moments in zip(queries, listed):
        returned.append(sum(not m.below_cutoff for m in moments))
        same_file = [m for m in moments if m.media == q.media]
        if not same_file:
            continue
        spans = np.array([[m.start_s, m.end_s] for m in same_file])  # (n, 2)
        iou = temporal_iou(spans, np.array([[q.start_s, q.end_s]]))[:, 0]  # (n,)
        hits = [m for m, v in zip(same_file, iou) if v >= RIGHT_IOU]
        right += len(hits)
        right_kept += sum(not m.below_cutoff for m in hits)
        with_right += bool(hits)
        kept += any(not m.below_cutoff for m in hits)
    counts = np.asarray(returned, dtype=np.float64)
    return CutoffReport(queries=len(queries), right=right, right_kept=right_kept, queries_with_right=with_right,
                        queries_kept=kept, returned_median=float(np.median(counts)),
                        returned_p90=float(np.percentile(counts, 90)), returned_max=int(counts.max()))
