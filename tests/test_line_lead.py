"""A caption's scene and a line said inside it both match: the line leads when it matches nearly as well, the
caption when it clearly matches better (search/line_lead.py; issue 15's "right place, other size" misses)."""

from __future__ import annotations

from search.fusion import Retriever
from search.line_lead import lines_before_their_caption
from search.moments import MomentPolicy, build_moments
from tests.test_moments import NO_PAD, OCR, SPEECH, SUBS, W, hit, timeline

CUTS = (0.0, 22.5, 37.5)  # the frozen library's moving-day reel: "The sofa problem", 22.5-37.5 s


def sofa(line_sim: float) -> list:
    caption = hit(1, 22.5, 37.5, OCR, Retriever.SEMANTIC, rank=1, sim=0.65, text="The sofa problem")
    elsewhere = hit(2, 10.5, 25.0, OCR, Retriever.SEMANTIC, rank=2, sim=0.49, text="Couchette for six")
    line = hit(1, 24.9, 28.4, SPEECH, Retriever.SEMANTIC, rank=3, sim=line_sim,
               text="It would not fit through the door so we took the legs off")
    return [caption, elsewhere, line]


def spans(moments: list) -> list[tuple[int, float, float]]:
    return [(m.media_id, m.start_s, m.end_s) for m in moments]


def test_a_line_inside_a_caption_that_matches_nearly_as_well_goes_first() -> None:
    """"couch too wide for the entrance": the scene's caption summarises it (0.65), its line says it (0.46)."""
    timelines = {1: timeline(60, CUTS), 2: timeline(60, (0.0, 10.5, 25.0))}
    moments = build_moments(sofa(0.46), timelines, W, NO_PAD)
    assert spans(moments) == [(1, 24.9, 28.4), (1, 22.5, 37.5), (2, 10.5, 25.0)], spans(moments)
    assert moments[0].score >= moments[1].score >= moments[2].score
    off = build_moments(sofa(0.46), timelines, W, MomentPolicy(pad_before_s=0.0, pad_after_s=0.0,
                                                                line_leads_caption=0.0))
    assert spans(off)[0] == (1, 22.5, 37.5)  # as before the rule


def test_a_caption_that_clearly_matches_better_keeps_the_lead() -> None:
    timelines = {1: timeline(60, CUTS), 2: timeline(60, (0.0, 10.5, 25.0))}
    moments = build_moments(sofa(0.30), timelines, W, NO_PAD)
    assert spans(moments)[0] == (1, 22.5, 37.5)


def test_only_a_said_line_inside_the_captions_span_and_only_after_it() -> None:
    caption = hit(1, 22.5, 37.5, OCR, Retriever.SEMANTIC, rank=1, sim=0.6, text="The sofa problem")
    outside = hit(1, 40.0, 44.0, SPEECH, Retriever.SEMANTIC, rank=2, sim=0.59, text="We ordered a pizza")
    other_caption = hit(1, 25.0, 29.0, OCR, Retriever.SEMANTIC, rank=3, sim=0.58, text="Legs off")
    subtitle = hit(1, 30.0, 33.0, SUBS, Retriever.SEMANTIC, rank=4, sim=0.5, text="It would not fit")
    moments = build_moments([caption, outside, other_caption, subtitle], {1: timeline(60, CUTS)}, W, NO_PAD)
    assert spans(moments)[0] == (1, 30.0, 33.0) and spans(moments)[1] == (1, 22.5, 37.5)
    assert lines_before_their_caption(moments, 0.0) == moments


def test_the_order_stays_sorted_by_score_when_another_moment_tied_with_the_caption() -> None:
    """Found by the property test of tests/test_moment_merging.py: the caption kept a hair less than its old score,
    below a moment that had tied with it."""
    from dataclasses import replace

    timelines = {1: timeline(60, CUTS), 2: timeline(60, (0.0, 10.5, 25.0))}
    off = build_moments(sofa(0.46), timelines, W, MomentPolicy(pad_before_s=0.0, pad_after_s=0.0,
                                                                line_leads_caption=0.0))
    caption, elsewhere, line = off
    tied = [caption, replace(elsewhere, score=caption.score), line]
    moments = lines_before_their_caption(tied, 0.6)
    assert spans(moments) == [(1, 24.9, 28.4), (1, 22.5, 37.5), (2, 10.5, 25.0)], spans(moments)
    scores = [m.score for m in moments]
    assert scores == sorted(scores, reverse=True), scores
    assert sorted(moments, key=lambda m: (-m.score, m.media_id, m.start_s))[:2] == moments[:2]  # re-sorting keeps it
