"""One moment, one result: hits of several channels over one span become one moment with all their evidence, a
short line inside a long caption keeps its own tight span, edges follow the evidence that matched, and no two
moments of a file overlap by IoU > 0.5 (a property over random hits; on a real indexed library in
test_search_results_real.py)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.fusion import Retriever
from search.moments import Hit, Moment, MomentPolicy, build_moments, one_per_span, span_iou
from search.request import SearchChannel
from tests.test_moments import NO_PAD, OCR, SPEECH, SUBS, VISUAL, W, hit, timeline


def overlapping_pairs(moments: list[Moment], max_iou: float = 0.5) -> list[tuple[Moment, Moment]]:
    return [(a, b) for a, b in itertools.combinations(moments, 2)
            if a.media_id == b.media_id and span_iou(a, b) > max_iou]


def test_the_subtitle_the_spoken_line_and_the_caption_of_one_sentence_are_one_moment() -> None:
    """The demo's "honey bees": a subtitle cue held on screen to the next line, the recognised speech of the same
    sentence (with recognition errors), and the on-screen text chunk around both."""
    subtitle = hit(1, 0.5, 7.0, SUBS, rank=1, sim=0.31, text="Our field report comes from the bee colony.")
    spoken = hit(1, 0.5, 3.9, SPEECH, rank=4, sim=0.22, text="Our field report comes from the me -colonist.")
    caption = hit(1, 0.0, 14.0, OCR, rank=2, sim=0.29, text="Field report: the colony grows HARVEST SEASON")
    other = hit(1, 6.5, 13.8, SPEECH, rank=3, sim=0.25, text="The harvest season has started early this year.")
    moments = build_moments([subtitle, spoken, caption, other], {1: timeline(14.0, (0.0, 7.0))}, W, MomentPolicy())
    assert not overlapping_pairs(moments)
    first = moments[0]
    assert first.channels == {SUBS, SPEECH, OCR}, [(m.start_s, m.end_s, m.channels) for m in moments]
    assert {e.text for e in first.evidence} >= {subtitle.text, spoken.text, caption.text}


def test_a_narrated_line_inside_a_long_caption_keeps_its_tight_span() -> None:
    caption = hit(1, 13.0, 23.0, OCR, Retriever.SEMANTIC, rank=1, sim=0.6, text="Chef catches big fish at hotel")
    line = hit(1, 15.7, 18.8, SPEECH, Retriever.LEXICAL, rank=1, sim=1.0, text="the chef caught a big fish")
    moments = build_moments([caption, line], {1: timeline(60)}, W, MomentPolicy())
    assert sorted((m.start_s, m.end_s) for m in moments) == [(12.5, 23.25), (15.2, 19.05)]


def test_a_chunk_of_several_lines_gives_way_to_the_line_whose_words_matched() -> None:
    """Short captions are embedded together ("LAUNCH BRIEFING Telemetry Questions", 0-16 s); when the words match
    one of them, the moment is that caption's on-screen span, not the chunk's."""
    chunk = hit(1, 0.0, 16.0, OCR, Retriever.SEMANTIC, rank=1, sim=0.5, text="LAUNCH BRIEFING Telemetry Questions")
    caption = hit(1, 11.0, 16.0, OCR, Retriever.LEXICAL, rank=1, sim=1.0, text="Questions")
    moments = build_moments([chunk, caption], {1: timeline(16.0, (0.0, 6.0, 11.0))}, W, NO_PAD)
    assert [(m.start_s, m.end_s) for m in moments] == [(11.0, 16.0)]
    assert {e.text for e in moments[0].evidence} == {chunk.text, caption.text}


@pytest.mark.parametrize("line_first", [True, False])
@pytest.mark.parametrize("chunk_rank", [1, 3])
def test_a_line_and_the_chunk_around_it_are_one_moment_whatever_their_order(line_first: bool,
                                                                           chunk_rank: int) -> None:
    """The Big Buck Bunny credits: "MUSIC AND SOUND DESIGN" (7-10 s) found by its words and the chunk
    "MUSIC AND SOUND DESIGN Jan Morgenstern Sacha Goedegebure" (7-17 s) by its meaning. When the line came
    first (ranked higher, or a tie), the chunk used to start a moment of its own: each scored one list's rank
    and a heading sharing fewer words, found by both lists, ranked above both. One moment at the line's span
    now holds both, and a caption lying in the chunk's span beyond the line stays a moment of its own."""
    line = hit(1, 7.0, 10.0, OCR, Retriever.LEXICAL, rank=1, sim=0.75, text="MUSIC AND SOUND DESIGN")
    chunk = hit(1, 7.0, 17.1, OCR, Retriever.SEMANTIC, rank=chunk_rank, sim=0.6,
                text="MUSIC AND SOUND DESIGN Jan Morgenstern Sacha Goedegebure")
    later = hit(1, 10.0, 18.0, OCR, Retriever.SEMANTIC, rank=chunk_rank + 1, sim=0.5,
                text="ORIGINAL STORY AND SCRIPT")
    hits = [line, chunk, later] if line_first else [chunk, line, later]
    moments = build_moments(hits, {1: timeline(120.0)}, W, NO_PAD)
    assert (moments[0].start_s, moments[0].end_s) == (7.0, 10.0), [(m.start_s, m.end_s) for m in moments]
    assert {e.text for e in moments[0].evidence} == {line.text, chunk.text}
    both = W.contribution((OCR, Retriever.LEXICAL), 1) + W.contribution((OCR, Retriever.SEMANTIC), chunk_rank)
    assert moments[0].score == pytest.approx(both)
    assert [(m.start_s, m.end_s) for m in moments[1:]] == [(10.0, 18.0)]


def test_a_caption_does_not_stretch_into_the_next_scenes_caption() -> None:
    needle = hit(1, 10.0, 22.0, OCR, rank=1, sim=0.62, text="Pilot catches big fish at lighthouse")
    neighbour = hit(1, 22.0, 31.0, OCR, rank=2, sim=0.58, text="Pilot catches big fish at airport")
    moments = build_moments([needle, neighbour], {1: timeline(60, (0.0, 10.0, 22.0, 31.0))}, W, NO_PAD)
    assert [(m.start_s, m.end_s) for m in moments] == [(10.0, 22.0), (22.0, 31.0)]


def test_an_absorbed_moment_gives_its_evidence_and_agreement_to_the_stronger_one() -> None:
    strong = build_moments([hit(1, 10, 14, SPEECH, rank=1, text="a")], {}, W, NO_PAD)[0]
    weak = build_moments([hit(1, 10.5, 14.5, OCR, rank=3, text="b")], {}, W, NO_PAD)[0]
    far = build_moments([hit(1, 40, 44, OCR, rank=2, text="c")], {}, W, NO_PAD)[0]
    merged = one_per_span([weak, strong, far], W)
    assert [(m.start_s, m.end_s) for m in merged] == [(10.0, 14.0), (40.0, 44.0)]
    assert merged[0].channels == {SPEECH, OCR} and merged[0].score > strong.score
    assert merged[0].signals.semantic == pytest.approx(0.8)


spans = st.tuples(st.floats(0, 55, allow_nan=False), st.floats(0.2, 25, allow_nan=False))
hit_strategy = st.builds(
    lambda media, span, channel, retriever, rank, sim, text: Hit(
        media, span[0], min(60.0, span[0] + span[1]), channel,
        Retriever.VISUAL if channel == VISUAL else retriever, rank, sim,
        None if channel == VISUAL else text, rank if channel == VISUAL else None),
    st.integers(1, 2), spans, st.sampled_from(list(SearchChannel)),
    st.sampled_from([Retriever.SEMANTIC, Retriever.LEXICAL]), st.integers(1, 40), st.floats(0.05, 1.0),
    st.sampled_from(["the pilot caught a big fish", "Pilot catches big fish", "the ferry left", "storm"]))


@settings(max_examples=200, deadline=None)
@given(hits=st.lists(hit_strategy, min_size=1, max_size=40),
       cuts=st.lists(st.floats(1, 59, allow_nan=False), max_size=6),
       padded=st.booleans())
def test_no_two_moments_of_a_file_overlap_by_more_than_half(hits: list[Hit], cuts: list[float],
                                                              padded: bool) -> None:
    line = timeline(60.0, tuple(sorted({0.0, *cuts})))
    moments = build_moments(hits, {1: line, 2: line}, W, MomentPolicy() if padded else NO_PAD)
    assert not overlapping_pairs(moments)
    assert all(0.0 <= m.start_s <= m.end_s <= 60.0 for m in moments)
    for h in hits:  # no hit is lost: its channel counts in a moment of its file
        assert any(m.media_id == h.media_id and h.channel in m.channels for m in moments), h
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)
