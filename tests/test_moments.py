"""From hits to moments, on hand-made hits with known answers: joining, stretching, snapping, padding, fusion,
and/or, grouping by video, paging, request validation and answer focus."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.answer_focus import AnswerType, Line, answer_type, continuation, focus, holds_answer
from search.errors import QueryError
from search.fusion import FusionWeights, Retriever
from search.moments import Evidence, Hit, MediaTimeline, MomentPolicy, build_moments
from search.request import (
    MAX_QUERY_CHARS,
    Combine,
    ExampleFrame,
    SearchChannel,
    SearchFilters,
    SearchRequest,
    parse_channels,
    validate,
)
from search.results import group_by_video, paginate

W = FusionWeights(k=20, agreement=0.1)
NO_PAD = MomentPolicy(pad_before_s=0.0, pad_after_s=0.0)
SPEECH, OCR, SUBS, VISUAL = SearchChannel.SPEECH, SearchChannel.OCR, SearchChannel.SUBTITLES, SearchChannel.VISUAL


def hit(media: int, start: float, end: float, channel: SearchChannel = SPEECH, retriever: str = Retriever.SEMANTIC,
        rank: int = 1, sim: float = 0.8, text: str | None = "line", frame: int | None = None) -> Hit:
    return Hit(media, start, end, channel, retriever, rank, sim, text, frame)


def timeline(duration: float = 100.0, cuts: tuple[float, ...] = (0.0,)) -> MediaTimeline:
    return MediaTimeline(duration, np.asarray(cuts, dtype=np.float64), 1.0)


def test_agreeing_channels_outrank_a_single_channel() -> None:
    hits = [hit(1, 10, 14, SPEECH, rank=1), hit(2, 50, 54, SPEECH, rank=2),
            hit(2, 49, 55, OCR, Retriever.LEXICAL, rank=1, text="caption")]
    moments = build_moments(hits, {1: timeline(), 2: timeline()}, W, NO_PAD)
    assert [(m.media_id, m.start_s, m.end_s) for m in moments] == [(2, 49.0, 55.0), (1, 10.0, 14.0)]
    assert moments[0].channels == {SPEECH, OCR}
    assert moments[0].score == pytest.approx(1 / 21 + 0.1 / 22)  # the best channel, plus a tenth of the other


def test_weak_neighbour_neither_stretches_nor_hides_in_a_moment() -> None:
    strong = hit(1, 8.35, 12.47, SUBS, rank=1, sim=0.7, text="at the flight center")
    weak_next = hit(1, 12.47, 16.57, SUBS, rank=5, sim=0.2, text="this half")
    moments = build_moments([strong, weak_next], {1: timeline(20)}, W, NO_PAD)
    assert [(m.start_s, m.end_s) for m in moments] == [(8.35, 12.47), (12.47, 16.57)]


def test_similar_consecutive_frames_stretch_one_moment() -> None:
    frames = [hit(1, t, t + 1, VISUAL, Retriever.VISUAL, rank=i + 1, sim=0.31 - 0.001 * i, text=None, frame=100 + i)
              for i, t in enumerate([20, 21, 22, 23])]
    far = hit(1, 60, 61, VISUAL, Retriever.VISUAL, rank=5, sim=0.30, text=None, frame=200)
    moments = build_moments(frames + [far], {1: timeline(100, (0.0, 19.5, 24.2, 59.0, 70.0))}, W, NO_PAD)
    # frames only: a moment is the shot its frames fall in; the thumbnail is the best frame
    assert [(m.start_s, m.end_s, m.thumbnail_t_s) for m in moments] == [(19.5, 24.2, 20.0), (59.0, 70.0, 60.0)]
    assert {e.frame_id for e in moments[0].evidence} == {100, 101, 102}  # at most 3 per channel


def test_boundaries_snap_to_close_cuts_then_pad() -> None:
    policy = MomentPolicy(pad_before_s=0.5, pad_after_s=0.25, snap_tolerance_s=1.0)
    moments = build_moments([hit(1, 10.6, 14.2)], {1: timeline(30, (0.0, 10.0, 14.9, 20.0))}, W, policy)
    assert (moments[0].start_s, moments[0].end_s) == (9.5, 15.15)
    first = build_moments([hit(1, 0.2, 3.0)], {1: timeline(30, (0.0, 10.0))}, W, policy)[0]
    assert first.start_s == 0.0  # padding never goes before the file


def test_and_keeps_moments_every_chosen_channel_supports() -> None:
    hits = [hit(1, 10, 14, SPEECH, rank=1), hit(1, 10, 14, OCR, Retriever.LEXICAL, rank=3, text="cap"),
            hit(2, 30, 33, SPEECH, rank=2)]
    both = build_moments(hits, {1: timeline(), 2: timeline()}, W, NO_PAD, Combine.AND, frozenset({SPEECH, OCR}))
    assert [m.media_id for m in both] == [1]
    either = build_moments(hits, {1: timeline(), 2: timeline()}, W, NO_PAD, Combine.OR, frozenset({SPEECH, OCR}))
    assert [m.media_id for m in either] == [1, 2]


def test_channel_weights_change_the_order() -> None:
    hits = [hit(1, 10, 14, SPEECH, rank=1), hit(2, 10, 14, OCR, rank=2, text="cap")]
    assert build_moments(hits, {}, W, NO_PAD)[0].media_id == 1
    assert build_moments(hits, {}, FusionWeights(k=20, agreement=0.1, ocr=3.0), NO_PAD)[0].media_id == 2


def test_group_by_video_and_pages() -> None:
    hits = [hit(1, 10, 12, rank=1), hit(2, 10, 12, rank=2), hit(1, 40, 42, rank=3), hit(3, 5, 6, rank=4)]
    moments = build_moments(hits, {}, W, NO_PAD)
    videos = group_by_video(moments)
    assert [(v.media_id, len(v.moments)) for v in videos] == [(1, 2), (2, 1), (3, 1)]
    assert [m.start_s for m in videos[0].moments] == [10.0, 40.0]
    page = paginate(moments, 2, 3)
    assert (len(page.items), page.total, page.pages, page.has_next) == (1, 4, 2, False)


@pytest.mark.parametrize("request_, message", [
    (SearchRequest(text="   "), "empty"),
    (SearchRequest(text="x" * (MAX_QUERY_CHARS + 1)), "limit"),
    (SearchRequest(text="a", page=0), "page must be"),
    (SearchRequest(text="a", page_size=1000), "page size"),
    (SearchRequest(text="a", min_similarity=3.0), "cosine"),
    (SearchRequest(text="a", filters=SearchFilters(min_duration_s=10, max_duration_s=5)), "larger than"),
    (SearchRequest(text="a", filters=SearchFilters(min_duration_s=-1)), "negative"),
    (SearchRequest(text="a", example=ExampleFrame(3)), "not both"),
])
def test_bad_requests_say_what_to_change(request_: SearchRequest, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        validate(request_)


def test_channels_parse_and_examples_search_pictures_only() -> None:
    assert parse_channels("all") == frozenset(SearchChannel)
    with pytest.raises(QueryError, match="unknown channel 'smell'"):
        parse_channels("speech,smell")
    assert validate(SearchRequest(example=ExampleFrame(3))).channels == {VISUAL}
    assert validate(SearchRequest(text="  two   words ")).text == "two words"


def test_answer_types_and_their_patterns() -> None:
    assert answer_type("When did the ferry sink?") == AnswerType.TIME
    assert answer_type("who rescued the swimmers") == AnswerType.PERSON
    assert answer_type("How many boats left?") == AnswerType.NUMBER
    assert answer_type("ferry rescue") is None
    assert holds_answer("the storm hit on Tuesday", AnswerType.TIME)
    assert holds_answer("we spoke to Maria Lopez about it", AnswerType.PERSON)
    assert holds_answer("twelve boats", AnswerType.NUMBER) and not holds_answer("the boats", AnswerType.NUMBER)


def test_question_moves_to_the_line_that_answers() -> None:
    lines = [Line(SUBS, 0.21, 4.26, "This is the optical segment of the Webb"),
             Line(SUBS, 4.26, 8.35, "space telescope in one of the largest cleanrooms in the world"),
             Line(SUBS, 8.35, 12.47, "at NASA's Goddard Space Flight Center in Greenbelt, Maryland."),
             Line(SUBS, 12.47, 16.57, "This half of the observatory element successfully")]
    assert continuation(lines, lines[1]) == [lines[2]]  # the sentence ends there
    assert continuation(lines, lines[2]) == []
    source = build_moments([hit(1, 0.21, 8.35, SUBS, rank=1, text=lines[1].text)], {}, W, NO_PAD)[0]
    answer = focus(source, AnswerType.PLACE, lines, pad_before_s=0.5)
    assert answer is not None and (answer.start_s, answer.end_s) == (7.85, 12.47)
    assert answer.score > source.score and answer.evidence[0].text == lines[2].text
    assert focus(source, AnswerType.TIME, lines) is None  # nothing in the sentence names a time


def test_an_answering_line_listed_with_a_moment_that_does_not_play_it_still_gets_its_own_moment() -> None:
    """A weaker moment's evidence joins the stronger one, which keeps its span: the speech line naming the place
    (8.58-11.98) came with the moment of the line before (3.76-8.26), so that moment holds the answer's text but
    does not play it; only its own span's text counts, and the answer moves to the line after it."""
    lines = [Line(SPEECH, 0.74, 8.1, "This is the optical segment of the Webb telescope in one of the largest rooms"),
             Line(SPEECH, 8.58, 11.98, "At NASA's Goddard Space Flight Center in Greenbelt, Maryland")]
    source = build_moments([hit(1, 3.76, 8.26, SUBS, rank=1, text="telescope in one of the largest rooms")], {}, W,
                           NO_PAD)[0]
    joined = replace(source, evidence=source.evidence + tuple(
        Evidence(channel=SPEECH, start_s=ln.start_s, end_s=ln.end_s, similarity=0.5, rank=2,
                 retrievers=(Retriever.SEMANTIC,), text=ln.text) for ln in lines))
    answer = focus(joined, AnswerType.PLACE, lines, pad_before_s=0.5)
    assert answer is not None and (answer.start_s, answer.end_s) == (8.08, 11.98), answer
    assert "Goddard" in (answer.evidence[0].text or "")
    played = replace(joined, end_s=12.0)  # the same moment playing the line: nothing to move
    assert focus(played, AnswerType.PLACE, lines) is None


def test_a_narrated_line_inside_a_long_caption_is_a_moment_of_its_own() -> None:
    caption = hit(1, 13.0, 23.0, OCR, Retriever.SEMANTIC, rank=1, sim=0.6, text="Chef catches big fish at hotel")
    line = hit(1, 15.7, 18.8, SPEECH, Retriever.LEXICAL, rank=1, sim=1.0, text="the chef caught a big fish")
    subtitle = hit(1, 15.5, 18.9, SUBS, Retriever.LEXICAL, rank=2, sim=1.0, text="the chef caught a big fish")
    moments = build_moments([caption, line, subtitle], {1: timeline(60)}, W, NO_PAD)
    spans = sorted((m.start_s, m.end_s, frozenset(m.channels)) for m in moments)
    # the subtitle and the narration of one sentence are one moment; the caption around them is another
    assert spans == [(13.0, 23.0, frozenset({OCR})), (15.5, 18.9, frozenset({SPEECH, SUBS}))]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 200), st.floats(0, 30), st.sampled_from([SPEECH, OCR, SUBS, VISUAL])),
                min_size=1, max_size=12),
       st.floats(0.2, 120), st.lists(st.floats(0, 120), max_size=6))
def test_moments_never_leave_the_media(spans: list[tuple[float, float, SearchChannel]], duration: float,
                                       cuts: list[float]) -> None:
    """Padding, snapping and growing to a shot never put a moment (or its thumbnail) past the file's end."""
    hits = [hit(1, start, start + length, channel, Retriever.VISUAL if channel == VISUAL else Retriever.SEMANTIC,
                rank=i + 1, text=None if channel == VISUAL else "line", frame=i if channel == VISUAL else None)
            for i, (start, length, channel) in enumerate(spans)]
    starts = tuple(sorted({0.0, *(c for c in cuts if c < duration)}))
    for m in build_moments(hits, {1: timeline(duration, starts)}, W, MomentPolicy()):
        assert 0.0 <= m.start_s <= m.end_s <= duration


def test_an_unknown_duration_still_pads_the_end() -> None:
    moment = build_moments([hit(1, 10, 14)], {1: timeline(0.0)}, W, MomentPolicy(pad_before_s=0.5, pad_after_s=0.25))[0]
    assert (moment.start_s, moment.end_s) == (9.5, 14.25)
