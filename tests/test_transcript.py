"""Joining transcribed chunks, without a model: the cut in each overlap keeps every word once (a word both
chunks heard, else word midpoints), segments cut by a border are sliced to their words and rejoined,
segments are split where speech pauses, and long ones where it pauses longest. Words and segments are built by
hand with exact times."""

from __future__ import annotations

import pytest

from indexer.transcript import (MAX_LINE_S, ChunkStitcher, SpeechSegment, Word, border_cut, slice_words,
                                split_at_pauses, split_long)


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


# The NASA clip's one sentence as whisper-base heard it on an AVX2 CPU: one 11.2 s segment (two on AVX-512).
NASA_WORDS = [("This", 0.74, 0.86), ("is", 0.86, 1.12), ("the", 1.12, 1.32), ("optical", 1.32, 1.66),
              ("and", 1.66, 1.96), ("science", 1.96, 2.38), ("segment", 2.38, 2.92), ("of", 2.92, 3.18),
              ("the", 3.18, 3.34), ("web", 3.34, 3.64), ("space", 3.64, 4.04), ("telescope", 4.04, 4.62),
              ("in", 5.18, 5.32), ("one", 5.32, 5.52), ("of", 5.52, 5.7), ("the", 5.7, 5.82),
              ("largest", 5.82, 6.34), ("clean", 6.34, 6.86), ("rooms", 6.86, 7.14), ("in", 7.14, 7.44),
              ("the", 7.44, 7.58), ("world", 7.58, 8.1), ("at", 8.58, 8.68), ("NASA's", 8.68, 9.3),
              ("Goddard", 9.3, 9.6), ("Space", 9.6, 9.9), ("Flight", 9.9, 10.24), ("Center", 10.24, 10.66),
              ("in", 10.66, 10.96), ("Greenbelt,", 10.96, 11.46), ("Maryland.", 11.64, 11.98)]


def test_a_long_segment_is_cut_where_its_words_pause_longest_into_lines_of_at_most_six_seconds() -> None:
    segment = _seg(*(Word(a, b, t, 0.9) for t, a, b in NASA_WORDS))
    lines = ChunkStitcher()
    lines.add([segment], 0.0, 13.1)
    parts = lines.finish()
    assert [(p.start_s, p.end_s) for p in parts] == [(0.74, 4.62), (5.18, 8.1), (8.58, 11.98)]
    assert parts[2].text == "at NASA's Goddard Space Flight Center in Greenbelt, Maryland."
    assert all(p.end_s - p.start_s <= MAX_LINE_S for p in parts)
    assert [w for p in parts for w in p.words] == list(segment.words)  # every word once, in order


def test_an_utterance_whisper_cut_without_a_pause_is_joined_then_cut_where_it_pauses() -> None:
    """With beam search whisper-base gave the NASA sentence as "… in one of the largest" + "clean rooms in the
    world at NASA's …", the two with no pause between them (seen in session 18). Joined and cut at the
    words' pauses they become the same three lines as the sentence heard as one segment, as its subtitles
    are; a sentence's end, or a pause, keeps two segments apart."""
    words = [Word(a, b, t, 0.9) for t, a, b in NASA_WORDS]
    at_clean = next(i for i, w in enumerate(words) if w.text == "clean")
    assert words[at_clean].start_s == words[at_clean - 1].end_s  # no pause where Whisper cut
    lines = ChunkStitcher()
    lines.add([_seg(*words[:at_clean]), _seg(*words[at_clean:])], 0.0, 13.1)
    parts = lines.finish()
    assert [(p.start_s, p.end_s) for p in parts] == [(0.74, 4.62), (5.18, 8.1), (8.58, 11.98)]
    assert parts[1].text == "in one of the largest clean rooms in the world"
    two = ChunkStitcher()
    two.add([_seg(_w("Stop.", 0.0)), _seg(_w("Go", 0.3)), _seg(_w("on", 1.0))], 0.0, 2.0)  # an end, a pause
    assert [p.text for p in two.finish()] == ["Stop.", "Go", "on"]


def test_a_sentence_end_is_cut_before_a_slightly_longer_pause_and_short_segments_stay_whole() -> None:
    words = [_w("we", 0.0), _w("start", 0.4), _w("now.", 0.8), _w("then", 1.3), _w("we", 1.7), _w("go", 2.1),
             _w("to", 2.8), _w("the", 3.2), _w("end", 3.6)]  # pauses: 0.2 after "now.", 0.4 after "go"
    segment = _seg(*words)
    assert [p.text for p in split_long(segment, max_line_s=3.0)] == ["we start now.", "then we go to the end"]
    assert split_long(segment) == [segment]  # 3.9 s: under MAX_LINE_S
    few = _seg(_w("one", 0.0), _w("two", 4.0), _w("three", 8.0))
    assert split_long(few) == [few]  # fewer words than two parts of three
