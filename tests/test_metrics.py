"""Moment-retrieval and highlight metrics: small cases with answers worked out by hand, and a golden test
that reproduces the official QVHighlights numbers for moment_detr's sample validation predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search.eval_qvh import QvhInputError, evaluate, read_ground_truth, read_predictions
from search.metrics import (MR_IOU_THRESHOLDS, average_precision, highlight_average_precision,
                            highlight_hit_at_1, mean_average_precision, recall_at_k, select_by_gt_length,
                            temporal_iou)

QVH = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "qvhighlights"


def spans(*rows: tuple[float, ...]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


# --- temporal IoU -------------------------------------------------------------------------------------------

def test_iou_of_disjoint_or_touching_spans_is_zero() -> None:
    assert temporal_iou(spans((0, 10)), spans((20, 30), (10, 15))).tolist() == [[0.0, 0.0]]


def test_iou_of_a_nested_span_is_its_share_of_the_outer_one() -> None:
    assert temporal_iou(spans((5, 10)), spans((0, 20))).tolist() == [[0.25]]
    assert temporal_iou(spans((0, 20)), spans((5, 10))).tolist() == [[0.25]]


def test_iou_of_identical_spans_is_one() -> None:
    assert temporal_iou(spans((3.5, 7.25)), spans((3.5, 7.25))).tolist() == [[1.0]]


def test_iou_has_one_row_per_prediction_and_one_column_per_window() -> None:
    assert temporal_iou(spans((0, 1), (1, 2), (2, 3)), spans((0, 3), (1, 3))).shape == (3, 2)


def test_iou_of_two_points_is_zero_not_nan() -> None:
    assert temporal_iou(spans((5, 5)), spans((5, 5))).tolist() == [[0.0]]


# --- R@k ----------------------------------------------------------------------------------------------------

def test_r1_averages_a_hit_and_a_miss_to_50_percent() -> None:
    gts = [spans((0, 10)), spans((50, 60))]
    preds = [spans((1, 10, 0.9)), spans((0, 10, 0.9))]  # IoU 0.9, then 0
    assert recall_at_k(preds, gts, k=1, iou_thresholds=[0.5, 0.7]).tolist() == [50.0, 50.0]


def test_r1_threshold_is_inclusive() -> None:
    r1 = recall_at_k([spans((0, 7, 1.0))], [spans((0, 10))], k=1, iou_thresholds=[0.7, 0.75])  # IoU 0.7
    assert r1.tolist() == [100.0, 0.0]


def test_r1_counts_a_hit_on_any_ground_truth_window_of_the_query() -> None:
    gts = [spans((0, 10), (40, 50), (80, 90))]
    assert recall_at_k([spans((41, 50, 0.9))], gts, k=1).tolist() == [100.0, 100.0]


def test_r1_uses_the_first_prediction_even_when_a_later_one_scores_higher() -> None:
    preds = [spans((60, 70, 0.1), (0, 10, 0.9))]  # rank order is the list order
    assert recall_at_k(preds, [spans((0, 10))], k=1).tolist() == [0.0, 0.0]


def test_r5_counts_a_hit_among_the_first_five_and_not_the_sixth() -> None:
    misses = [(100 + 20 * i, 110 + 20 * i, 1.0 - 0.1 * i) for i in range(5)]
    hit_fifth = spans(*misses[:4], (0, 10, 0.5))
    hit_sixth = spans(*misses, (0, 10, 0.4))
    gts = [spans((0, 10)), spans((0, 10))]
    assert recall_at_k([hit_fifth, hit_sixth], gts, k=5).tolist() == [50.0, 50.0]


def test_a_query_without_predictions_is_a_miss() -> None:
    assert recall_at_k([np.empty((0, 3))], [spans((0, 10))], k=1).tolist() == [0.0, 0.0]


# --- AP and mAP ---------------------------------------------------------------------------------------------

def test_ap_of_a_perfect_ranking_is_100() -> None:
    gts = [spans((0, 10), (20, 30)), spans((5, 50))]
    preds = [spans((20, 30, 0.9), (0, 10, 0.8), (70, 80, 0.1)), spans((5, 50, 0.5))]
    assert np.allclose(mean_average_precision(preds, gts), 100.0)


def test_ap_of_a_query_with_two_windows_weighs_each_by_half_its_recall() -> None:
    gts = [spans((0, 10), (20, 30))]
    preds = [spans((20, 30, 0.9), (50, 60, 0.8), (0, 10, 0.7))]  # hit, miss, hit: 1/2 * 1 + 1/2 * 2/3
    assert average_precision(preds, gts, iou_thresholds=[0.5])[0, 0] == pytest.approx(5 / 6)


def test_a_second_hit_on_the_same_window_is_a_false_positive() -> None:
    gts = [spans((0, 10), (20, 30))]
    preds = [spans((0, 10, 0.9), (0, 10, 0.8), (20, 30, 0.7))]  # hit, repeat, hit
    assert average_precision(preds, gts, iou_thresholds=[0.5])[0, 0] == pytest.approx(5 / 6)


def test_ap_ranks_the_kept_predictions_by_score() -> None:
    gts = [spans((0, 10))]
    preds = [spans((50, 60, 0.1), (0, 10, 0.9))]
    assert average_precision(preds, gts, iou_thresholds=[0.5])[0, 0] == pytest.approx(1.0)


def test_ap_looks_at_the_first_10_predictions_only() -> None:
    gts = [spans((0, 10))]
    preds = [spans(*[(100 + 20 * i, 110 + 20 * i, 0.5) for i in range(10)], (0, 10, 0.99))]
    assert average_precision(preds, gts, iou_thresholds=[0.5]).tolist() == [[0.0]]
    all_kept = average_precision(preds, gts, iou_thresholds=[0.5], max_predictions=None)
    assert all_kept[0, 0] == pytest.approx(1.0)


def test_ap_falls_with_the_iou_threshold_a_prediction_fails() -> None:
    gts = [spans((0, 10))]
    preds = [spans((0, 8, 0.9))]  # IoU 0.8
    ap = average_precision(preds, gts)[0]
    assert ap.tolist() == [1.0 if t <= 0.8 else 0.0 for t in MR_IOU_THRESHOLDS]


def test_a_query_without_predictions_has_ap_zero() -> None:
    gts = [spans((0, 10)), spans((0, 10))]
    preds = [np.empty((0, 3)), spans((0, 10, 1.0))]
    assert mean_average_precision(preds, gts, iou_thresholds=[0.5]).tolist() == [50.0]


def test_a_query_without_ground_truth_is_refused() -> None:
    with pytest.raises(AssertionError, match="no ground-truth window"):
        mean_average_precision([spans((0, 10, 1.0))], [np.empty((0, 2))])


# --- length buckets -----------------------------------------------------------------------------------------

def test_length_buckets_are_open_below_and_closed_above() -> None:
    gts = [spans((0, 10), (20, 30.5)), spans((0, 40))]
    keep, kept = select_by_gt_length(gts, 0, 10)
    assert keep.tolist() == [0] and kept[0].tolist() == [[0, 10]]
    keep, kept = select_by_gt_length(gts, 10, 30)
    assert keep.tolist() == [0] and kept[0].tolist() == [[20, 30.5]]
    keep, _ = select_by_gt_length(gts, 30, 150)
    assert keep.tolist() == [1]


# --- highlights ---------------------------------------------------------------------------------------------

def test_highlight_hit_at_1_counts_a_top_clip_positive_for_any_annotator() -> None:
    positive = [np.array([[0, 0], [0, 1]], bool), np.array([[1, 1], [0, 0]], bool)]
    assert highlight_hit_at_1([np.array([0.1, 0.9]), np.array([0.1, 0.9])], positive) == 50.0


def test_highlight_hit_at_1_misses_when_the_top_clip_is_past_the_labels() -> None:
    assert highlight_hit_at_1([np.array([0.1, 0.2, 0.9])], [np.array([[1], [1]], bool)]) == 0.0


def test_highlight_ap_of_a_perfect_ranking_is_100_and_of_no_positives_is_0() -> None:
    scores = [np.array([0.9, 0.5, 0.1])]
    positive = [np.array([[1, 0], [1, 0], [0, 0]], bool)]  # annotator 0: a perfect ranking; 1: no positive
    assert highlight_average_precision(scores, positive) == 50.0


# --- QVHighlights files -------------------------------------------------------------------------------------

def test_predictions_for_other_queries_are_refused(tmp_path: Path) -> None:
    truth = {"qid": 1, "duration": 10, "relevant_windows": [[0, 4]]}
    (tmp_path / "gt.jsonl").write_text(json.dumps(truth) + "\n")
    prediction = {"qid": 2, "pred_relevant_windows": [[0, 4, 1.0]]}
    (tmp_path / "pred.jsonl").write_text(json.dumps(prediction) + "\n")
    with pytest.raises(QvhInputError, match="1 missing"):
        evaluate(read_ground_truth(tmp_path / "gt.jsonl"), read_predictions(tmp_path / "pred.jsonl"))


@pytest.mark.skipif(not QVH.is_dir(), reason=f"QVHighlights validation files not found at {QVH}")
def test_sample_predictions_reproduce_every_official_qvhighlights_value() -> None:
    official = json.loads((QVH / "sample_val_preds_metrics_raw.json").read_text())
    ours = evaluate(read_ground_truth(QVH / "highlight_val_release.jsonl"),
                    read_predictions(QVH / "sample_val_preds.jsonl"))
    assert ours["brief"] == official["brief"]  # MR-full-R1@0.5 53.94, MR-full-mAP 32.2, .., HL-*
    for table in ("full", "short", "middle", "long", "HL-min-Fair", "HL-min-Good", "HL-min-VeryGood"):
        assert ours[table] == official[table], table
