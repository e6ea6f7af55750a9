"""Moment-retrieval and highlight-detection metrics with the semantics of the official QVHighlights
evaluation (moment_detr ``standalone_eval``), so that values computed here compare with published tables.

Conventions:

- A span is ``(start_s, end_s)`` in seconds.
- A query's predictions are an ``(N, 3)`` array of ``[start_s, end_s, score]`` rows in rank order, best
  first. R@k and the top-10 cut before AP use that order, as the official evaluation does; AP then re-sorts
  the rows it kept by score (stable), so for a list already sorted by score both readings agree.
- A query's ground truth is an ``(M, 2)`` array of relevant windows, M >= 1.
- A collection of queries is a pair of sequences (``preds``, ``gts``) aligned by position, ragged.
- Metrics come back in percent and unrounded; the official tables print ``round(value, 2)``.

Where the official script has no sensible answer we choose one, and say so:

- two spans whose union has zero length (both points) have IoU 0; the official code divides 0 by 0, and a
  NaN there counts as a match;
- a query with no predictions scores AP 0 and misses at every k; the official script leaves it out of mAP
  and fails in R1;
- when a prediction overlaps several free ground-truth windows with exactly the same IoU, the later window
  is matched (a stable sort, reversed). The official code leaves this to numpy's default sort: the same
  order for up to 16 windows with the insertion sort numpy used when the benchmark was published, another
  order with the SIMD sorts of recent numpy on AVX-512 machines. Only AP can change, only on such exact ties.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MR_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5:0.05:0.95
MR_MAX_PREDICTIONS = 10  # predictions per query that AP looks at
# Ground-truth window length buckets, (min_len_s, max_len_s]; "full" (no filter) is everything.
MR_LENGTH_BUCKETS_S: dict[str, tuple[float, float]] = {"short": (0.0, 10.0), "middle": (10.0, 30.0),
                                                      "long": (30.0, 150.0)}


def temporal_iou(pred_spans: np.ndarray, gt_spans: np.ndarray) -> np.ndarray:
    """Intersection over union of each span in ``pred_spans`` (N, 2) with each one in ``gt_spans`` (M, 2).

    Returns (N, M); disjoint or merely touching spans have IoU 0.

    >>> temporal_iou(np.array([[0.0, 10.0], [20.0, 30.0]]), np.array([[5.0, 15.0], [0.0, 40.0]]))
    array([[0.33333333, 0.25      ],
           [0.        , 0.25      ]])
    """
    pred_spans = np.asarray(pred_spans, dtype=np.float64)
    gt_spans = np.asarray(gt_spans, dtype=np.float64)
    assert pred_spans.ndim == 2 and pred_spans.shape[1] == 2, f"expected (N, 2), got {pred_spans.shape}"
    assert gt_spans.ndim == 2 and gt_spans.shape[1] == 2, f"expected (M, 2), got {gt_spans.shape}"
    return _iou(pred_spans[:, None, :], gt_spans[None, :, :])


def recall_at_k(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], k: int = 1,
                iou_thresholds: Sequence[float] = (0.5, 0.7)) -> np.ndarray:
    """Percent of queries with a prediction among their first ``k`` that has IoU >= threshold with any of
    their ground-truth windows, one value per threshold -> (T,).

    ``k=1`` is QVHighlights' "R1@t" (the official script matches the top prediction to the window it
    overlaps most).

    >>> gts = [np.array([[0.0, 10.0]]), np.array([[50.0, 60.0]])]
    >>> preds = [np.array([[0.0, 9.0, 0.9]]), np.array([[0.0, 9.0, 0.9], [50.0, 56.0, 0.5]])]
    >>> recall_at_k(preds, gts, k=1, iou_thresholds=[0.5, 0.95]), recall_at_k(preds, gts, k=2)
    (array([50.,  0.]), array([100.,  50.]))
    """
    assert k >= 1, f"k must be at least 1, got {k}"
    thresholds = _check_thresholds(iou_thresholds)
    _check_queries(preds, gts)
    P, pmask = _pad(preds, 2, max_rows=k)  # (Q, k', 2)
    G, gmask = _pad(gts, 2)  # (Q, M, 2)
    iou = _iou(P[:, :, None, :], G[:, None, :, :])  # (Q, k', M)
    iou = np.where(pmask[:, :, None] & gmask[:, None, :], iou, 0.0)
    best = iou.max(axis=(1, 2), initial=0.0)  # (Q,)
    return 100.0 * (best[:, None] >= thresholds[None, :]).mean(axis=0)


def average_precision(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                      iou_thresholds: Sequence[float] = MR_IOU_THRESHOLDS,
                      max_predictions: int | None = MR_MAX_PREDICTIONS) -> np.ndarray:
    """Detection AP of each query at each IoU threshold -> (Q, T), each in [0, 1].

    Per query and threshold (the official ``compute_average_precision_detection``): keep the first
    ``max_predictions`` predictions, sort them by score, and walk down the list; a prediction is a true
    positive when the free ground-truth window it overlaps most has IoU >= threshold (that window is then
    taken), otherwise a false positive, so a second hit on one window counts against the ranking. AP is the
    area under the precision-recall curve with precision made non-increasing (VOC 2011 interpolation); recall
    is over the query's ground-truth windows.

    >>> gts = [np.array([[0.0, 10.0], [20.0, 30.0]])]
    >>> preds = [np.array([[20.0, 30.0, 0.9], [50.0, 60.0, 0.8], [0.0, 10.0, 0.7]])]  # hit miss hit
    >>> average_precision(preds, gts, iou_thresholds=[0.5]).round(4)  # 1/2 * 1 + 1/2 * 2/3
    array([[0.8333]])
    """
    thresholds = _check_thresholds(iou_thresholds)
    _check_queries(preds, gts)
    P, pmask = _pad(preds, 3, max_rows=max_predictions)  # (Q, N, 3)
    G, gmask = _pad(gts, 2)  # (Q, M, 2)
    (Q, N), M, T = pmask.shape, gmask.shape[1], len(thresholds)

    by_score = np.argsort(np.where(pmask, -P[..., 2], np.inf), axis=1, kind="stable")  # (Q, N) pad last
    P = np.take_along_axis(P, by_score[..., None], axis=1)
    pmask = np.take_along_axis(pmask, by_score, axis=1)
    iou = _iou(P[:, :, None, :2], G[:, None, :, :])  # (Q, N, M)
    iou = np.where(gmask[:, None, :], iou, -np.inf)  # padding windows never match

    tp = np.zeros((Q, T, N), dtype=bool)
    taken = np.zeros((Q, T, M), dtype=bool)
    for i in range(N):  # greedy in score order: a match takes its window from the predictions after it
        by_iou = np.argsort(iou[:, i], axis=1, kind="stable")[:, ::-1]  # (Q, M) best first, ties: later
        iou_sorted = np.take_along_axis(iou[:, i], by_iou, axis=1)  # (Q, M)
        free = ~np.take_along_axis(taken, np.broadcast_to(by_iou[:, None, :], (Q, T, M)), axis=2)
        candidate = (iou_sorted[:, None, :] >= thresholds[None, :, None]) & free  # (Q, T, M)
        hit = candidate.any(axis=2) & pmask[:, i, None]  # (Q, T)
        window = np.take_along_axis(by_iou, candidate.argmax(axis=2), axis=1)  # (Q, T) first candidate
        tp[:, :, i] = hit
        q, t = np.nonzero(hit)
        taken[q, t, window[q, t]] = True
    fp = pmask[:, None, :] & ~tp  # (Q, T, N); padding is neither

    tp_cum = np.cumsum(tp, axis=2, dtype=np.float64)
    fp_cum = np.cumsum(fp, axis=2, dtype=np.float64)
    recall = tp_cum / gmask.sum(axis=1)[:, None, None]
    n_pred = tp_cum + fp_cum
    precision = np.divide(tp_cum, n_pred, out=np.zeros_like(tp_cum), where=n_pred > 0)
    return _interpolated_ap(precision, recall)


def mean_average_precision(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                           iou_thresholds: Sequence[float] = MR_IOU_THRESHOLDS,
                           max_predictions: int | None = MR_MAX_PREDICTIONS) -> np.ndarray:
    """Per-query AP (see ``average_precision``) averaged over queries, in percent -> (T,), one per threshold.

    With the default thresholds, ``.mean()`` of the result is QVHighlights' "MR-mAP"; its entries at 0.5 and
    0.75 are "MR-mAP@0.5" and "MR-mAP@0.75".

    >>> gts = [np.array([[0.0, 10.0]]), np.array([[0.0, 10.0]])]
    >>> preds = [np.array([[0.0, 10.0, 0.9]]), np.array([[40.0, 50.0, 0.9], [0.0, 8.0, 0.1]])]
    >>> mean_average_precision(preds, gts, iou_thresholds=[0.5, 0.9])  # (100 + 50) / 2, (100 + 0) / 2
    array([75., 50.])
    """
    return 100.0 * average_precision(preds, gts, iou_thresholds, max_predictions).mean(axis=0)


def select_by_gt_length(gts: Sequence[np.ndarray], min_len_s: float,
                        max_len_s: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Keep the ground-truth windows with ``min_len_s < end_s - start_s <= max_len_s``, and the queries left
    with any.

    Returns the kept queries' positions (Q',) and their kept windows, as the official evaluation builds its
    length buckets (``MR_LENGTH_BUCKETS_S``): a query in several buckets is scored in each against its
    windows there.

    >>> gts = [np.array([[0.0, 10.0], [20.0, 50.0]]), np.array([[0.0, 40.0]])]
    >>> select_by_gt_length(gts, 0, 10)
    (array([0]), [array([[ 0., 10.]])])
    """
    keep, kept = [], []
    for q, windows in enumerate(gts):
        windows = np.asarray(windows, dtype=np.float64).reshape(-1, 2)
        length_s = windows[:, 1] - windows[:, 0]
        in_range = windows[(length_s > min_len_s) & (length_s <= max_len_s)]
        if len(in_range):
            keep.append(q)
            kept.append(in_range)
    return np.array(keep, dtype=np.int64), kept


def highlight_hit_at_1(pred_saliency: Sequence[np.ndarray], gt_positive: Sequence[np.ndarray]) -> float:
    """Percent of queries whose highest-scored clip is positive for at least one annotator (QVHighlights
    "HL-Hit1").

    ``pred_saliency``: per query (C',) scores, one per clip; ``gt_positive``: per query (C, A) booleans, clip
    by annotator. A top clip beyond the labelled C clips is a miss; ties go to the earliest clip.

    >>> highlight_hit_at_1([np.array([0.1, 0.9, 0.2]), np.array([0.9, 0.1])],
    ...                    [np.array([[0, 0], [0, 1], [1, 1]], bool), np.array([[0, 0], [1, 1]], bool)])
    50.0
    """
    assert len(pred_saliency) == len(gt_positive) > 0, f"{len(pred_saliency)} for {len(gt_positive)} queries"
    hits = []
    for scores, positive in zip(pred_saliency, gt_positive):
        top = int(np.argmax(scores))
        hits.append(top < len(positive) and bool(np.any(positive[top])))
    return 100.0 * float(np.mean(hits))


def highlight_average_precision(pred_saliency: Sequence[np.ndarray],
                                gt_positive: Sequence[np.ndarray]) -> float:
    """Mean over queries and annotators of the AP of ranking clips by predicted saliency, in percent
    (QVHighlights "HL-mAP").

    Scores are cut or zero-padded to the C labelled clips. AP follows video2gif's interpolated ``get_ap``: the
    mean, over the distinct recall levels, of the best precision at that recall or higher; tied scores form
    one threshold. An annotator with no positive clip gives AP 0, one with only positives AP 1.

    >>> positive = np.array([[1], [0], [1], [0]], bool)  # clips 0 and 2: precision 1 and 2/3
    >>> round(highlight_average_precision([np.array([0.9, 0.8, 0.1, 0.0])], [positive]), 2)
    83.33
    """
    assert len(pred_saliency) == len(gt_positive) > 0, f"{len(pred_saliency)} for {len(gt_positive)} queries"
    aps = []
    for scores, positive in zip(pred_saliency, gt_positive):
        positive = np.asarray(positive, dtype=bool)
        assert positive.ndim == 2, f"expected (clips, annotators) labels, got {positive.shape}"
        scores = np.asarray(scores, dtype=np.float64)[:len(positive)]
        scores = np.pad(scores, (0, len(positive) - len(scores)))  # (C,)
        aps.append(_ranking_ap(scores, positive))
    return 100.0 * float(np.mean(np.concatenate(aps)))


def _ranking_ap(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """AP of one ranking ``scores`` (C,) against each column of ``positive`` (C, A) -> (A,)."""
    order = np.argsort(scores, kind="stable")[::-1]
    ranked_scores, ranked = scores[order], positive[order]  # (C,), (C, A)
    last_of_tie = np.r_[np.nonzero(np.diff(ranked_scores))[0], len(scores) - 1]  # (K,) high to low
    tps = np.cumsum(ranked, axis=0, dtype=np.float64)[last_of_tie]  # (K, A)
    precision = tps / (last_of_tie + 1)[:, None]
    n_pos = tps[-1]  # (A,)
    recall = (tps / np.maximum(n_pos, 1)).astype(np.float32)  # float32 as the reference computes it
    best_precision = np.maximum.accumulate(precision[::-1], axis=0)[::-1]  # at this recall or higher
    new_level = np.diff(recall, axis=0, prepend=np.float32(0)) != 0  # (K, A) recall rises here
    ap = (best_precision * new_level).sum(axis=0) / np.maximum(new_level.sum(axis=0), 1)
    return np.where(n_pos == 0, 0.0, np.where(n_pos == len(scores), 1.0, ap))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of spans ``a`` (..., 2) and ``b`` (..., 2), broadcast against each other -> (...)."""
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter  # summed in the reference's order
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """VOC 2011 AP of precision/recall curves (..., N) -> (...): precision made non-increasing, then summed
    over the recall steps."""
    zero, one = np.zeros(precision.shape[:-1] + (1,)), np.ones(recall.shape[:-1] + (1,))
    precision = np.concatenate([zero, precision, zero], axis=-1)
    recall = np.concatenate([zero, recall, one], axis=-1)
    precision = np.flip(np.maximum.accumulate(np.flip(precision, -1), axis=-1), -1)
    return np.sum(np.diff(recall, axis=-1) * precision[..., 1:], axis=-1)


def _pad(rows: Sequence[np.ndarray], width: int,
         max_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-query arrays (n_q, >= width) -> zero-padded (Q, L, width) of their first ``max_rows`` rows
    and a (Q, L) mask of the real ones."""
    arrays = [np.asarray(r, dtype=np.float64) for r in rows]
    for a in arrays:
        assert a.size == 0 or (a.ndim == 2 and a.shape[1] >= width), f"expected (n, {width}), got {a.shape}"
    lengths = np.array([len(a) if a.size else 0 for a in arrays], dtype=np.int64)
    if max_rows is not None:
        lengths = np.minimum(lengths, max_rows)
    out = np.zeros((len(arrays), int(lengths.max(initial=0)), width))
    for q, (a, n) in enumerate(zip(arrays, lengths)):
        out[q, :n] = a[:n, :width]
    return out, np.arange(out.shape[1])[None, :] < lengths[:, None]


def _check_queries(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> None:
    assert len(preds) == len(gts) > 0, f"{len(preds)} prediction lists for {len(gts)} queries"
    empty = [q for q, g in enumerate(gts) if np.asarray(g).size == 0]
    assert not empty, f"queries at positions {empty[:5]} have no ground-truth window; leave them out"


def _check_thresholds(iou_thresholds: Sequence[float]) -> np.ndarray:
    thresholds = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
    assert ((thresholds > 0) & (thresholds <= 1)).all(), f"IoU thresholds must lie in (0, 1]: {thresholds}"
    return thresholds
