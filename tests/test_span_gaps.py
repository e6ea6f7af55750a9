"""A line of on-screen text that drops out of a frame or two stays one span (``indexer.span_gaps``)."""

from __future__ import annotations

import numpy as np

from indexer.span_gaps import join_interrupted
from indexer.text_spans import TextSpan

T_S = np.arange(20, dtype=np.float64)  # one sampled frame a second
BOX_A = ((10.0, 10.0), (200.0, 10.0), (200.0, 30.0), (10.0, 30.0))
BOX_B = ((10.0, 300.0), (200.0, 300.0), (200.0, 320.0), (10.0, 320.0))


def span(start_s: float, end_s: float, text: str, confidence: float = 0.9, box=BOX_A, frames: int = 1) -> TextSpan:
    return TextSpan(start_s, end_s, text, confidence, box, frames)


def test_a_line_missing_from_one_or_two_frames_is_one_span_with_its_best_reading() -> None:
    pieces = [span(2, 5, "Sacha Goedegebure", 0.8, frames=3), span(6, 9, "Sacha Goedegebure", 0.95, BOX_B, 3),
              span(11, 12, "Sacha Goedegebur", 0.7)]
    [whole] = join_interrupted(pieces, T_S, max_gap_s=2.0)
    assert (whole.start_s, whole.end_s, whole.text, whole.confidence, whole.box, whole.frame_count) == (
        2, 12, "Sacha Goedegebure", 0.95, BOX_B, 7)


def test_longer_gaps_other_text_and_copies_on_screen_at_once_stay_apart() -> None:
    far = [span(2, 5, "Jan Morgenstern"), span(8, 9, "Jan Morgenstern")]  # three frames without it
    other = [span(2, 5, "Jan Morgenstern"), span(6, 9, "Sun Microsystems")]
    copies = [span(2, 8, "Nathan Vegdahl"), span(4, 10, "Nathan Vegdahl", box=BOX_B)]
    for spans in (far, other, copies):
        assert join_interrupted(spans, T_S, max_gap_s=2.0) == sorted(spans, key=lambda s: s.start_s)


def test_across_a_cut_only_the_very_same_text_joins() -> None:
    frame_shot = (T_S >= 6).astype(np.int64)  # a cut at 6 s
    alike = [span(2, 6, "Pilot fixes old car"), span(7, 9, "Chef fixes old car")]
    same = [span(2, 6, "CHANNEL 4 NEWS"), span(7, 9, "Channel 4 news")]
    assert len(join_interrupted(alike, T_S, 2.0, frame_shot, min_similarity=0.7)) == 2
    assert len(join_interrupted(alike, T_S, 2.0, None, min_similarity=0.7)) == 1
    assert [(s.start_s, s.end_s) for s in join_interrupted(same, T_S, 2.0, frame_shot)] == [(2, 9)]


def test_the_same_name_credited_twice_is_not_joined_while_another_copy_is_on_screen() -> None:
    first, second, third = span(2, 6, "Enrico Valenza"), span(4, 9, "Enrico Valenza", box=BOX_B), \
        span(7, 10, "Enrico Valenza")
    assert len(join_interrupted([first, second, third], T_S, max_gap_s=2.0)) == 3
