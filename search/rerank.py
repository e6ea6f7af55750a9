"""A second reading of a query's first moments by a cross-encoder: a model that reads the query and a
moment's text together (e.g. cross-encoder/ms-marco-MiniLM-L-6-v2, from a local folder), which sentence
embeddings, compared vector to vector, cannot do. Off unless configured: no cross-encoder ships in a PyPI
package, so its effect on the evaluation libraries is unmeasured here (README, *Not yet*).

The cross-encoder scores the text of each of the first ``top_n`` moments listed (above the confidence
cut-off: the cut-off decides what is listed, the cross-encoder only the order) that have text. Their new order
is the search's order and the cross-encoder's fused by rank (``weight`` against the search's 1, with
``search.fusion``'s k), so a model trained on other text (web passages) cannot on its own send to the
bottom a moment that every channel found. Moments with frames only keep their places, the others take the
places of those they pass. Each moment keeps its confidence (``search.confidence`` judges its own evidence);
the fused scores stay as they were, place by place, so the list stays sorted by them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from search.errors import SearchError
from search.moments import Moment

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1000  # of a moment's evidence given to the cross-encoder (it reads 256 tokens at most)

Scorer = Callable[[str, list[str]], np.ndarray]  # (query, N texts) -> (N,) scores, higher is better


class RerankerError(SearchError):
    """The configured cross-encoder cannot be loaded; says what to configure instead."""

    def __init__(self, model: str, reason: str) -> None:
        self.model, self.reason = model, reason
        super().__init__(f"the reranking model {model!r} cannot be used: {reason}; set SCENEDEX_RERANK_MODEL "
                         "to a local sentence-transformers cross-encoder folder, or leave it empty")


@dataclass(frozen=True)
class RerankSpec:
    model: str  # a local folder holding a sentence-transformers CrossEncoder (nothing is downloaded)
    top_n: int = 20  # the first moments read again
    weight: float = 1.0  # the cross-encoder's order against the search's (1: equal; large: its order alone)

    def __post_init__(self) -> None:
        assert self.top_n >= 2, f"top_n must be at least 2, got {self.top_n}"
        assert self.weight >= 0, f"weight must be >= 0, got {self.weight}"


def moment_text(moment: Moment) -> str:
    """The distinct texts of a moment's evidence, strongest first, as one passage ('' for frames only)."""
    texts = list(dict.fromkeys(e.text.strip() for e in moment.evidence if e.text and e.text.strip()))
    return " / ".join(texts)[:MAX_TEXT_CHARS]


def fused_order(scores: np.ndarray, weight: float, k: float) -> np.ndarray:
    """scores: (N,) the cross-encoder's, of moments in the search's order -> (N,) their positions in the new
    order: by ``1 / (k + search rank) + weight / (k + cross-encoder rank)``, ties kept in the search's order.

    >>> fused_order(np.array([0.1, 0.9, 0.5]), 1.0, 10.0).tolist()
    [1, 0, 2]
    >>> fused_order(np.array([0.1, 0.9, 0.5]), 0.0, 10.0).tolist()
    [0, 1, 2]
    """
    n = len(scores)
    own = np.empty(n)
    own[np.argsort(-scores, kind="stable")] = np.arange(1, n + 1)  # (N,) the cross-encoder's ranks
    fused = 1.0 / (k + np.arange(1, n + 1)) + weight / (k + own)
    return np.argsort(-fused, kind="stable")


def reranked(moments: Sequence[Moment], query: str, score: Scorer, spec: RerankSpec,
             k: float) -> list[Moment]:
    """``moments`` best first -> the same moments, the first ``spec.top_n`` with text in the fused order."""
    texts = {i: t for i, m in enumerate(moments[: spec.top_n]) if (t := moment_text(m))}
    slots = list(texts)
    out = list(moments)
    if len(slots) < 2:
        return out
    scores = np.asarray(score(query, list(texts.values())), dtype=np.float64)  # (S,)
    assert scores.shape == (len(slots),), f"{scores.shape} scores for {len(slots)} moments"
    for slot, j in zip(slots, fused_order(scores, spec.weight, k)):
        out[slot] = replace(moments[slots[j]], score=moments[slot].score)
    return out


class CrossEncoderScorer:
    """A sentence-transformers CrossEncoder loaded once from a local folder: ``(query, texts) -> (N,)``."""

    def __init__(self, model: str, device: str = "cpu", max_length: int = 256) -> None:
        folder = Path(model).expanduser()
        if not (folder / "config.json").is_file():
            raise RerankerError(model, "it is not a folder holding a model's config.json")
        if not _classifies_pairs(folder / "config.json"):  # a bi-encoder would load with a random head
            raise RerankerError(model, "its config.json names no *ForSequenceClassification architecture, so "
                                       "it is no cross-encoder (sentence models go in SCENEDEX_TEXT_MODEL)")
        try:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(str(folder), device=device, max_length=max_length,
                                       local_files_only=True)
        except Exception as exc:  # transformers raises many types for a folder it cannot read
            raise RerankerError(model, f"loading failed ({exc})") from exc
        self.model = model
        log.info("loaded the reranking model %s", folder)

    def __call__(self, query: str, texts: list[str]) -> np.ndarray:
        try:
            scores = self._model.predict([(query, t) for t in texts], batch_size=32, show_progress_bar=False,
                                         convert_to_numpy=True)  # (N,) or (N, labels)
        except Exception as exc:  # torch and tokenizers raise many types; a search must still answer
            raise RerankerError(self.model, f"scoring failed ({exc})") from exc
        scores = np.asarray(scores, dtype=np.float32)
        return scores if scores.ndim == 1 else scores[:, -1]  # two labels: the last is "relevant"


def _classifies_pairs(config: Path) -> bool:
    import json

    try:
        architectures = json.loads(config.read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return True  # let the loader say what is wrong with the file
    return any(str(a).endswith("ForSequenceClassification") for a in architectures)


def scorer_or_none(model: str) -> CrossEncoderScorer | None:
    """The cross-encoder in ``model``, or None with a warning saying what to configure when it cannot be used
    (search then lists its own order rather than failing)."""
    try:
        return CrossEncoderScorer(model)
    except RerankerError as exc:
        log.warning("%s; moments are listed in the search's own order", exc)
        return None
