"""Joining transcribed chunks, without a model: the cut in each overlap keeps every word once (a word both
chunks heard, else word midpoints), segments cut by a border are sliced to their words and rejoined, and
segments are split where speech pauses. Words and segments are built by hand with exact times."""

from __future__ import annotations

import pytest

from indexer.transcript import ChunkStitcher, SpeechSegment, Word, border_cut, slice_words, split_at_pauses


def _w(text: str, start_s: float, duration_s: float = 0.3) -> Word:
    return Word(start_s, start_s + duration_s, text, 0.9)


def _seg(*words: Word) -> SpeechSegment:
    text = " ".join(w.text for w in words)
    return SpeechSegment(words[0].start_s, words[-1].end_s, text, words, -0.2, 0.01)


def test_border_cut_uses_a_word_both_chunks_heard() -> None:
    """Both chunks timed "window" differently; the midpoint rule alone would have kept it twice."""
    before = [_w("open", 6.2), _w("the", 6.6), _w("window", 6.8, 0.36)]  # midpoint 6.98: before 7.0
    after = [_w("open", 6.25), _w("the", 6.65), _w("window", 6.9, 0.3), _w("in", 7.3)]  # midpoint 7.05
    stop, first = border_cut(before, after, (6.0, 8.0))
    assert [w.text for w in before[:stop] + after[first:]] == ["open", "the", "window", "in"]


def test_border_cut_falls_back_to_word_midpoints_without_a_common_word() -> None:
    before = [_w("a", 6.0), _w("b", 6.9)]
    after = [_w("c", 6.5), _w("d", 7.1)]
    assert border_cut(before, after, (6.0, 8.0)) == (1, 1)


def test_a_segment_cut_by_a_border_is_sliced_to_its_words() -> None:
    segments = [_seg(_w("one", 1.0), _w("two", 1.5)),
                _seg(_w("three", 3.0), _w("four", 3.5), _w("five", 4.0))]
    kept, cut_start, cut_end = slice_words(segments, 1, 4)
    assert [s.text for s in kept] == ["two", "three four"]
    assert (cut_start, cut_end) == (True, True)
    assert kept[1].end_s == pytest.approx(3.8)


def test_stitcher_keeps_each_word_once_and_rejoins_the_segment_the_border_cut() -> None:
    """Chunks 0-8 s and 6-14 s; "the open window" spans the cut at 7 s and each chunk times it differently."""
    first = [_seg(_w("hello", 1.0), _w("there", 1.4)),
             _seg(_w("the", 6.5), _w("open", 6.8), _w("window", 7.1), _w("sh", 7.8, 0.2))]  # cut off at 8 s
    second = [_seg(_w("en", 6.0, 0.2), _w("the", 6.55), _w("open", 6.85), _w("window", 7.05),
                   _w("shines", 7.8)),
              _seg(_w("bright", 12.0))]
    stitcher = ChunkStitcher()
    stitcher.add(first, 0.0, 8.0)
    stitcher.add(second, 6.0, 14.0)
    segments = stitcher.finish()
    assert [s.text for s in segments] == ["hello there", "the open window shines", "bright"]
    assert segments[1].start_s == 6.5 and segments[1].end_s == pytest.approx(8.1)


def test_chunks_without_overlap_are_concatenated() -> None:
    stitcher = ChunkStitcher()
    stitcher.add([_seg(_w("one", 1.0))], 0.0, 5.0)
    stitcher.add([], 5.0, 10.0)
    stitcher.add([_seg(_w("two", 11.0))], 10.0, 15.0)
    assert [s.text for s in stitcher.finish()] == ["one", "two"]


def test_segments_are_split_where_speech_pauses() -> None:
    segment = _seg(_w("first", 1.0), _w("line", 1.4), _w("second", 6.0), _w("line", 6.4))
    parts = split_at_pauses(segment)
    assert [(p.text, p.start_s, p.end_s) for p in parts] == [("first line", 1.0, 1.7),
                                                             ("second line", 6.0, 6.7)]
    assert split_at_pauses(_seg(_w("no", 1.0), _w("pause", 1.5))) == [_seg(_w("no", 1.0), _w("pause", 1.5))]
