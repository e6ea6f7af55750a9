"""One span for a line of on-screen text that drops out of a frame or two: the readings of a line are followed
frame to frame (``indexer.text_spans.merge_spans``), and a frame where the detector misses the line, or
something passes in front of it, ends its span; when the line is read again it starts another. On the Big Buck
Bunny end credits (``bench/credits_truth.toml``, ``bench/credits_score.py``) 36 of 245 read lines were split,
16 of them by a single frame without the line and 13 by two or more.

A span is joined to an earlier one when its text reads as the same (``text_similarity`` at least
``MIN_TEXT_SIMILARITY``), it starts after the earlier one ended, at most ``max_gap_s`` later, and, across a cut,
only when the text is the very same (the rule ``merge_spans`` keeps for a span that runs on over a cut). Two
copies of a text on screen at once overlap in time, so they stay two spans, and while another copy of the text
is on screen nothing is joined (the same name credited under two headings). The gap is measured between frames
read: frames skipped as unchanged never end a span.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from indexer.ocr import TextBox
from indexer.text_spans import MIN_TEXT_SIMILARITY, TextSpan, better_reading, normalise_text, similar_enough

MAX_GAP_FRAMES = 2  # frames read without the line that still join its two spans


def shot_at(t_s: np.ndarray, frame_shot: np.ndarray | None, at_s: float) -> int:
    """The shot of the sampled frame at or just before ``at_s`` (-1 without shots); t_s, frame_shot: (N,)."""
    if frame_shot is None or len(t_s) == 0:
        return -1
    i = max(0, int(np.searchsorted(t_s, at_s + 1e-6, side="right")) - 1)
    return int(frame_shot[i])


def _joined(a: TextSpan, b: TextSpan) -> TextSpan:
    best_b = better_reading(TextBox(b.text, b.confidence, b.box), TextBox(a.text, a.confidence, a.box))
    best = b if best_b else a
    return replace(a, end_s=max(a.end_s, b.end_s), text=best.text, confidence=max(a.confidence, b.confidence),
                   box=best.box, frame_count=a.frame_count + b.frame_count)


def join_interrupted(spans: Sequence[TextSpan], t_s: np.ndarray, max_gap_s: float,
                     frame_shot: np.ndarray | None = None,
                     min_similarity: float = MIN_TEXT_SIMILARITY) -> list[TextSpan]:
    """Spans (any order) -> the same spans with each line's interrupted pieces joined, sorted like
    ``merge_spans``'s. t_s: (N,) time of every sampled frame; frame_shot: (N,) shot of each, or None."""
    pieces = _Pieces(sorted(spans, key=lambda s: (s.start_s, s.end_s)))
    joined: list[tuple[TextSpan, set[int]]] = []  # a span and the pieces it is made of
    reachable: list[int] = []  # indices into joined ending at most max_gap_s before the pieces still to come
    for p, span in enumerate(pieces.spans):
        reachable = [k for k in reachable if span.start_s - joined[k][0].end_s <= max_gap_s + 1e-6]
        best: tuple[float, float, int] | None = None
        for k in reachable:
            prev, members = joined[k]
            if span.start_s < prev.end_s:
                continue
            sim = similar_enough(prev.text, span.text, min_similarity)
            if sim is None or _across_a_cut(prev, span, t_s, frame_shot) \
                    or pieces.another_copy(members | {p}, prev.start_s, span.end_s, span.text, min_similarity):
                continue
            key = (-(span.start_s - prev.end_s), sim, k)
            best = key if best is None or key > best else best
        if best is None:
            joined.append((span, {p}))
            reachable.append(len(joined) - 1)
        else:
            prev, members = joined[best[2]]
            joined[best[2]] = (_joined(prev, span), members | {p})
    return sorted((s for s, _ in joined), key=lambda s: (s.start_s, min(y for _, y in s.box),
                                                         min(x for x, _ in s.box)))


def _across_a_cut(prev: TextSpan, span: TextSpan, t_s: np.ndarray, frame_shot: np.ndarray | None) -> bool:
    """Whether the gap between two alike spans crosses a cut and their texts are not the very same."""
    return (shot_at(t_s, frame_shot, prev.end_s - 1e-3) != shot_at(t_s, frame_shot, span.start_s)
            and normalise_text(prev.text) != normalise_text(span.text))


class _Pieces:
    """The spans to join, sorted by start, with what finds the ones showing between two times without
    scanning them all (a long film has tens of thousands)."""

    def __init__(self, spans: list[TextSpan]) -> None:
        self.spans = spans
        self._starts = [s.start_s for s in spans]
        self._longest_s = max((s.end_s - s.start_s for s in spans), default=0.0)

    def another_copy(self, own: set[int], start_s: float, end_s: float, text: str, min_similarity: float) -> bool:
        """Whether a span other than ``own`` pieces shows the same text between start_s and end_s: the same
        name credited twice, one copy scrolling in as the other leaves, is two lines, and which piece is whose
        is not known without their motion, so neither is joined."""
        lo = bisect.bisect_right(self._starts, start_s - self._longest_s)
        hi = bisect.bisect_left(self._starts, end_s)
        return any(j not in own and self.spans[j].end_s > start_s
                   and similar_enough(self.spans[j].text, text, min_similarity) is not None
                   for j in range(lo, hi))
