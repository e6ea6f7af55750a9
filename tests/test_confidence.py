"""Confidence: the calibrated score, its labels and the cut-off, on hand-made moments (their cosines on
all-MiniLM-L6-v2's scale, so scored with its fit); the cut-off figures of an evaluation; and the option to show the
rest through the CLI, the API and its OpenAPI document."""

from __future__ import annotations

import numpy as np
import pytest

from search.confidence import FEATURES, MINILM_CALIBRATION, Calibration, Confidence, assess, features
from search.cutoff_eval import ListedMoment, cutoff_report
from search.fusion import FusionWeights, Retriever
from search.library_eval import EvalQuery
from search.moments import Hit, MomentPolicy, build_moments
from search.request import SearchChannel

W = FusionWeights()
SPEECH, OCR, VISUAL = SearchChannel.SPEECH, SearchChannel.OCR, SearchChannel.VISUAL


def hit(media: int, start: float, retriever: str, rank: int, sim: float, channel: SearchChannel = SPEECH,
        frame: int | None = None) -> Hit:
    return Hit(media, start, start + 3.0, channel, retriever, rank, sim, None if frame else f"line {media} {start}",
               frame)


def ranked(hits: list[Hit]):  # noqa: ANN201
    return build_moments(hits, {}, W, MomentPolicy())


def test_a_line_that_says_it_is_high_and_one_sharing_a_common_word_is_cut_off() -> None:
    """"where do supplies come from": the line about supplies matches in words and meaning; the next ones share
    only "come" (half of the query's words) and mean something else."""
    moments = ranked([hit(1, 10, Retriever.LEXICAL, 1, 1.0), hit(1, 10, Retriever.SEMANTIC, 1, 0.62),
                      hit(2, 40, Retriever.LEXICAL, 2, 0.5), hit(2, 40, Retriever.SEMANTIC, 6, 0.12),
                      hit(3, 20, Retriever.LEXICAL, 3, 0.5), hit(3, 20, Retriever.SEMANTIC, 9, 0.08)])
    assessed = assess(moments, MINILM_CALIBRATION)
    labels = [(m.media_id, m.confidence) for m in assessed.moments]
    assert labels[0] in ((1, "high"), (1, "medium")), labels
    assert [c for _, c in labels[1:]] == ["low", "low"], [(m.media_id, m.calibrated_score) for m in assessed.moments]
    assert assessed.shown == 1 and assessed.below_cutoff == 2


def test_a_paraphrase_that_only_the_meaning_matches_is_kept() -> None:
    moments = ranked([hit(1, 10, Retriever.SEMANTIC, 1, 0.55), hit(2, 30, Retriever.SEMANTIC, 2, 0.21),
                      hit(3, 50, Retriever.SEMANTIC, 3, 0.19)])
    assessed = assess(moments, MINILM_CALIBRATION)
    assert assessed.moments[0].media_id == 1 and not assessed.moments[0].below_cutoff
    assert assessed.shown <= 2, [(m.media_id, m.calibrated_score) for m in assessed.moments]


def test_scores_rise_with_the_evidence_and_labels_follow_the_thresholds() -> None:
    c = MINILM_CALIBRATION
    weak, strong = np.zeros((1, len(FEATURES))), np.zeros((1, len(FEATURES)))
    weak[0, FEATURES.index("semantic")], strong[0, FEATURES.index("semantic")] = 0.2, 0.7
    assert 0.0 <= c.scores(weak)[0] < c.scores(strong)[0] <= 1.0
    assert c.label(c.high_from) == Confidence.HIGH and c.label(c.medium) == Confidence.MEDIUM
    assert c.label(c.medium - 1e-6) == Confidence.LOW and c.shown(c.medium - 1e-6) and c.shown(c.cutoff)
    assert not c.shown(c.cutoff - 1e-6) and c.label(c.cutoff - 1e-6) == Confidence.LOW
    with pytest.raises(AssertionError, match="cut-off"):
        Calibration(0.0, (0.0,) * len(FEATURES), high_from=0.2, cutoff=0.5, fitted_for="x")
    with pytest.raises(AssertionError, match="medium"):
        Calibration(0.0, (0.0,) * len(FEATURES), high_from=0.5, cutoff=0.2, fitted_for="x", medium_from=0.1)


def test_labels_say_how_likely_and_the_cut_off_only_what_is_listed() -> None:
    """"medium" means about half right on the tuned library, so a moment the cut-off keeps (it keeps every right
    moment there) can be listed as "low"; before, everything above the cut-off was "medium" (0.038 to 0.5)."""
    c = MINILM_CALIBRATION
    assert c.cutoff < c.medium < c.high_from, c
    between = Calibration(c.intercept, c.weights, c.high_from, c.cutoff, c.fitted_for, c.medium_from)
    x = np.zeros((1, len(FEATURES)))
    x[0, FEATURES.index("relative")] = 1.0
    for semantic in np.linspace(0.0, 1.0, 201):  # a moment scored between the cut-off and "medium"
        x[0, FEATURES.index("semantic")] = semantic
        score = float(between.scores(x)[0])
        if c.cutoff <= score < c.medium:
            break
    else:
        raise AssertionError("no score between the cut-off and medium")
    assert between.shown(score) and between.label(score) == Confidence.LOW


def test_the_bench_chooses_medium_by_precision_and_can_lower_the_cut_off_to_a_budget() -> None:
    from bench.confidence_calibration import choose_budget_cutoff, choose_medium

    scores = np.array([0.9, 0.45, 0.40, 0.35, 0.30, 0.2, 0.1, 0.05])  # (n,)
    right = np.array([1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    assert choose_medium(scores, right, 0.5, low=0.01, high=0.5) == 0.30  # [0.30, 0.5): 2 of 4 right
    assert choose_medium(scores, right, 0.6, low=0.01, high=0.5) == 0.35  # [0.35, 0.5): 2 of 3
    query = np.array([0, 0, 0, 0, 1, 1, 1, 1])  # two queries of four moments
    assert choose_budget_cutoff(scores, query, budget=2) == pytest.approx(0.35, abs=1e-5)  # 4 and 0 shown
    assert choose_budget_cutoff(scores, query, budget=4) == pytest.approx(0.05, abs=1e-5)


def test_features_compare_each_moment_with_the_query_best() -> None:
    moments = ranked([hit(1, 10, Retriever.SEMANTIC, 1, 0.6), hit(2, 30, Retriever.LEXICAL, 1, 0.5)])
    x = features(moments)  # (2, F)
    assert x.shape == (2, len(FEATURES))
    gap = x[:, FEATURES.index("semantic_gap")]
    assert sorted(gap.round(3).tolist()) == [0.0, 0.6]
    assert x[:, FEATURES.index("relative")].max() == 1.0


def test_moments_seen_in_frames_only_are_at_most_medium_and_cut_under_half_the_best() -> None:
    moments = ranked([hit(1, 10, Retriever.VISUAL, 1, 0.3, VISUAL, frame=1),
                      hit(2, 30, Retriever.VISUAL, 2, 0.29, VISUAL, frame=2),
                      hit(3, 50, Retriever.VISUAL, 40, 0.1, VISUAL, frame=3)])
    assessed = assess(moments, MINILM_CALIBRATION)
    assert [m.confidence for m in assessed.moments] == ["medium", "medium", "low"]


def test_cutoff_report_counts_right_moments_kept_and_moments_returned() -> None:
    queries = [EvalQuery("a", "x.mp4", 10.0, 14.0), EvalQuery("b", "y.mp4", 0.0, 5.0)]
    listed = [[ListedMoment("x.mp4", 10.0, 14.5, False), ListedMoment("z.mp4", 10.0, 14.0, False),
               ListedMoment("x.mp4", 30.0, 34.0, True)],
              [ListedMoment("y.mp4", 40.0, 44.0, False), ListedMoment("y.mp4", 0.5, 5.0, True)]]
    report = cutoff_report(queries, listed)
    assert (report.right, report.right_kept, report.queries_with_right, report.queries_kept) == (2, 1, 2, 1)
    assert report.returned_median == 1.5 and report.kept_share == 0.5


def test_a_line_at_cosine_zero_or_below_is_weak_text_not_a_frames_only_moment() -> None:
    """In a small library every chunk is a candidate: chunks that mean nothing like the query (cosine <= 0) used to
    be scored as frames-only moments, half the best of them "medium" ("honey bees" in the demo, 0.07-0.08)."""
    moments = ranked([hit(1, 10, Retriever.SEMANTIC, 1, 0.62), hit(2, 30, Retriever.SEMANTIC, 60, 0.0),
                      hit(3, 50, Retriever.SEMANTIC, 61, -0.02)])
    assessed = assess(moments, MINILM_CALIBRATION)
    by_media = {m.media_id: m for m in assessed.moments}
    assert not by_media[1].below_cutoff
    for media in (2, 3):
        assert by_media[media].confidence == "low" and by_media[media].below_cutoff, by_media[media]
        assert by_media[media].calibrated_score < 0.01


def test_the_default_sentence_model_has_its_own_fit_and_minilm_keeps_its_own() -> None:
    """A model's cosines are its own scale: changing the default sentence model without fitting the confidence
    model for it would label and cut off its moments by another model's fit."""
    from indexer.text_embedding import DEFAULT_TEXT_MODEL, MINILM_NAME, canonical
    from search.confidence import DEFAULT_CALIBRATION, calibration_for

    assert calibration_for(canonical(None)) is DEFAULT_CALIBRATION
    assert DEFAULT_CALIBRATION.fitted_for == DEFAULT_TEXT_MODEL
    assert calibration_for(MINILM_NAME) is MINILM_CALIBRATION and MINILM_CALIBRATION is not DEFAULT_CALIBRATION
