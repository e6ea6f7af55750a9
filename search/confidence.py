"""How likely a moment is to be what was asked for: a calibrated score in [0, 1], a high/medium/low label, and
the cut-off below which a search does not show a moment unless asked to.

Fused rank scores (``search.fusion``) order moments within one query but say nothing across queries: the first
moment of a query that nothing in the library answers still ranks first. The score here is a logistic model of
what the moment's evidence says in absolute terms (the best sentence-embedding cosine of its text, the share of
the query's words one of its lines holds) and of how it compares with the query's best moment; fitted on the
generated quality library (``scenedex.search_samples``, the library the thresholds are tuned on) by
``bench/confidence_calibration.py``, where a moment counts as right when it overlaps its query's true span by
IoU >= 0.5. The model's inputs depend on the sentence model: a new text model needs a new fit.

Labels and the cut-off answer two questions. A label says how likely: "high" where at least 90 % of the tuned
library's moments are right (never below 0.5), "medium" where at least half of those under "high" are, "low"
below. The cut-off says what is listed by default: the score that keeps every right moment of the tuned library,
which lies far under "medium", so a listed moment may be "low"; a hidden one is always "low".

Moments found by frames alone (the visual channel, query by example) have no labelled library to fit on: their
score is their fused score as a share of the query's best frames-only moment, times twice the cut-off, so the
best is "medium" (never "high"), every listed one is "medium", and a moment under half the best one's fused
score falls below the cut-off.
Moments that answer a question (``search.answer_focus``) take their source's signals.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from search.moments import Moment


class Confidence(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


FEATURES = ("semantic", "lexical", "relative", "semantic_gap", "lexical_gap")


@dataclass(frozen=True)
class Calibration:
    """A logistic model over a moment's match signals (``FEATURES``), and where its labels and cut-off lie."""

    intercept: float
    weights: tuple[float, ...]  # one per FEATURES entry
    high_from: float  # score at or above which a moment is "high"
    cutoff: float  # score at or above which a moment is shown by default; below: hidden, listed only when asked
    fitted_for: str  # the sentence model the fit was made with
    medium_from: float | None = None  # score at or above which "medium" (None: the cut-off); shown below it: "low"

    def __post_init__(self) -> None:
        assert len(self.weights) == len(FEATURES), f"{len(self.weights)} weights for {len(FEATURES)} features"
        assert 0 < self.cutoff <= self.medium < self.high_from < 1, \
            f"cut-off {self.cutoff}, medium from {self.medium}, high from {self.high_from}"

    @property
    def medium(self) -> float:
        return self.cutoff if self.medium_from is None else self.medium_from

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(n, F) features -> (n,) probabilities."""
        z = self.intercept + x @ np.asarray(self.weights, dtype=np.float64)  # (n,)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))

    def label(self, score: float) -> Confidence:
        if score >= self.high_from:
            return Confidence.HIGH
        return Confidence.MEDIUM if score >= self.medium else Confidence.LOW

    def shown(self, score: float) -> bool:
        return score >= self.cutoff


# Fitted by `.venv/bin/python bench/confidence_calibration.py` (L2 0.3, the cut-off keeping every right moment,
# "high" from 0.5, "medium" where half the moments under "high" are right) on the 20-reel quality library (seed 7, 80
# queries, 8000 moments with text, 80 right), one fit per sentence model (a model's cosines are its own scale).
# all-MiniLM-L6-v2: the cut-off keeps 80/80 right moments and returns 5 moments per query on median (at most 9);
# fitted on half the reels, it keeps 37/40 and 40/40 of the other half's. In sample, "high" is right for 69/71
# moments, "medium" for 8/15, and a shown "low" for 2/317.
MINILM_CALIBRATION = Calibration(intercept=-12.169, weights=(6.008, -0.890, 8.892, -8.170, -2.415), high_from=0.5,
                                 cutoff=0.0088, fitted_for="all-MiniLM-L6-v2", medium_from=0.3464)
# all-MiniLM-L6-v2 and all-mpnet-base-v2-int8 joined (the default, session 13; refitted in session 14, when texts
# were batched by token count and the int8 model's vectors moved a little), the cut-off raised until a query lists
# at most 5 on median (`--max-median 5`; keeping all 80 would list 6-7): keeps 79/80 at 5 on median (at most 10);
# "high" right for 75/77, "medium" 3/6. Session 13's fit, on the untuned libraries: it keeps 80.2 / 72.6 / 70.4 %
# of the right moments (frozen / holdout2 / holdout3) at 3-3.5 listed on median.
JOINT_CALIBRATION = Calibration(intercept=-12.642, weights=(6.324, -0.833, 9.141, -8.307, -2.438), high_from=0.5,
                                cutoff=0.0075, fitted_for="all-MiniLM-L6-v2,all-mpnet-base-v2-int8", medium_from=0.3905)
DEFAULT_CALIBRATION = JOINT_CALIBRATION  # the default sentence model's (indexer.text_embedding.DEFAULT_TEXT_MODEL)
CALIBRATIONS = {c.fitted_for: c for c in (MINILM_CALIBRATION, JOINT_CALIBRATION)}


def calibration_for(text_model: str) -> Calibration:
    """The fit made for the sentence model named ``text_model``; for a model without one, the default model's
    (its labels and cut-off are then approximate: fit one with bench/confidence_calibration.py --text-model).

    >>> calibration_for("all-MiniLM-L6-v2") is MINILM_CALIBRATION, calibration_for("my-model") is DEFAULT_CALIBRATION
    (True, True)
    """
    return CALIBRATIONS.get(text_model, DEFAULT_CALIBRATION)


def has_text(m: Moment) -> bool:
    """Whether a line or a chunk of text was retrieved for the moment, not only frames (however weakly: in a small
    library every chunk is a candidate, and a chunk at cosine <= 0 must score as weak text, not as frames)."""
    return m.signals.semantic > 0 or m.signals.lexical > 0 or any(e.frame_id is None for e in m.evidence)


def features(moments: Sequence[Moment]) -> np.ndarray:
    """(n, F) features of one query's moments with text (``has_text``); see ``FEATURES``."""
    semantic = np.array([m.signals.semantic for m in moments], dtype=np.float64)  # (n,)
    lexical = np.array([m.signals.lexical for m in moments], dtype=np.float64)
    fused = np.array([m.score for m in moments], dtype=np.float64)
    if not len(moments):
        return np.zeros((0, len(FEATURES)))
    relative = fused / fused.max() if fused.max() > 0 else np.zeros_like(fused)
    return np.stack([semantic, lexical, relative, semantic.max() - semantic, lexical.max() - lexical], axis=1)


@dataclass(frozen=True)
class Assessed:
    """Moments with their confidence, those above the cut-off first (each part in rank order)."""

    moments: list[Moment]
    shown: int  # how many of them are above the cut-off (the first ``shown``)

    @property
    def below_cutoff(self) -> int:
        return len(self.moments) - self.shown


def assess(moments: Sequence[Moment], calibration: Calibration = DEFAULT_CALIBRATION) -> Assessed:
    """Every moment of one query's ranked list (best first) with its score, label and cut-off flag set."""
    text_moments = [m for m in moments if has_text(m)]
    text_scores = iter(calibration.scores(features(text_moments)).tolist())
    best_visual = max((m.score for m in moments if not has_text(m)), default=0.0)
    out: list[Moment] = []
    for m in moments:
        if has_text(m):
            score = next(text_scores)
            label = calibration.label(score)
        else:  # frames only: no fit to say how likely; medium when shown, never high
            score = 2 * calibration.cutoff * (m.score / best_visual if best_visual > 0 else 0.0)
            label = Confidence.MEDIUM if calibration.shown(score) else Confidence.LOW
        out.append(replace(m, calibrated_score=round(score, 4), confidence=label.value,
                           below_cutoff=not calibration.shown(score)))
    above = [m for m in out if not m.below_cutoff]
    below = [m for m in out if m.below_cutoff]
    return Assessed(above + below, len(above))
