"""Transcripts as data, and how the transcripts of overlapping chunks are joined into one (no model here).

Words are addressed by their position in a chunk's word list (all its segments' words, in order). Where two
chunks overlap, the cut is placed at a word both heard at about the same time, the one nearest the middle of
the overlap: the earlier chunk keeps it and the later one starts after it, so no word is lost or counted twice
where both heard the same words. Without such a word, each chunk keeps the words whose midpoint lies on its
side of the middle of the overlap. A segment cut in two by the border is joined back into one. Segments are
split where speech pauses for long: faster-whisper's VAD glues stretches of speech together before decoding,
so one segment can span a long silence; and joined where Whisper cut one utterance without a pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from indexer.text_metrics import normalize_words

MATCH_TOLERANCE_S = 0.5  # the same word heard by two chunks: midpoints this close
MAX_PAUSE_S = 1.5  # a segment is split where its words pause longer than this
# A segment longer than this is cut where its words pause longest (``split_long``): Whisper hears a long
# sentence, or two sentences, as one segment or as two depending on the CPU's arithmetic (the NASA clip's
# 11.2 s sentence: one segment on an AVX2 CPU, two on an AVX-512 one), and a moment that long points at
# nothing in particular. 6 s is about the longest a subtitle cue stays up; the frozen library's spoken lines
# are 0.7-5.2 s, so one of them is never cut, and two heard as one segment are cut between them.
MAX_LINE_S = 6.0
MIN_LINE_WORDS = 3  # each part of a cut keeps at least this many words
SENTENCE_END_S = 1.0  # a cut after a sentence's last word counts as a pause this much longer
# Whisper ends a segment where its decoding happens to, not only where the speaker pauses: with beam search
# the NASA clip's sentence came as "... in one of the largest" + "clean rooms in the world at NASA's ...",
# with no pause between "largest" and "clean". Segments are joined where one's last word runs into the next
# one's first (a gap under JOIN_GAP_S) and does not end a sentence, and lines are then cut where the words
# pause (``split_long``): the NASA sentence becomes three lines at its two real pauses, as its subtitles are.
JOIN_GAP_S = 0.05
LINE_RULE = f"lines{MAX_LINE_S:g}s+joins"  # names the rules in the channels' key: a change re-transcribes


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str  # without surrounding spaces; punctuation stays attached ("Maryland.")
    probability: float

    @property
    def mid_s(self) -> float:
        return (self.start_s + self.end_s) / 2

    @property
    def ends_sentence(self) -> bool:
        return self.text.endswith((".", "?", "!"))


@dataclass(frozen=True)
class SpeechSegment:
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float  # mean token log-probability of the decoded text
    no_speech_prob: float  # the model's probability that the window held no speech


@dataclass(frozen=True)
class Transcript:
    language: str | None  # None when no speech was found (or the file has no audio)
    language_probability: float
    segments: tuple[SpeechSegment, ...]
    audio_stream_index: int | None  # None: the file has no audio stream
    duration_s: float  # audio decoded
    concealed_errors: int = 0  # decode errors ffmpeg concealed (damaged packets): the transcript may have gaps

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)

def _word_key(word: Word) -> str:
    return "".join(normalize_words(word.text))


def border_cut(before: Sequence[Word], after: Sequence[Word],
               overlap_s: tuple[float, float]) -> tuple[int, int]:
    """(stop, first): keep ``before[:stop]`` and ``after[first:]``, so the words of the overlap count once.

    >>> w = lambda t, s: Word(s, s + 0.4, t, 1.0)
    >>> border_cut([w("a", 5.0), w("b", 6.0), w("c", 7.1)], [w("b", 6.1), w("c", 7.0), w("d", 8.0)],
    ...            (5.5, 7.5))
    (2, 1)
    """
    lo_s, hi_s = overlap_s
    middle_s = (lo_s + hi_s) / 2
    matches = [
        (abs((a.mid_s + b.mid_s) / 2 - middle_s), i, j)
        for i, a in enumerate(before) if lo_s <= a.mid_s <= hi_s
        for j, b in enumerate(after) if lo_s <= b.mid_s <= hi_s
        and abs(a.mid_s - b.mid_s) <= MATCH_TOLERANCE_S and _word_key(a) == _word_key(b)
    ]
    if matches:
        _, i, j = min(matches)
        return i + 1, j + 1
    return sum(a.mid_s < middle_s for a in before), sum(b.mid_s < middle_s for b in after)


def slice_words(segments: Sequence[SpeechSegment], first: int,
                stop: int) -> tuple[list[SpeechSegment], bool, bool]:
    """The segments holding words ``first`` to ``stop - 1`` of the chunk, cut to those words.

    Returns (segments, cut_start, cut_end): whether the first kept segment lost words at its start, and
    whether the last one lost words at its end. A cut segment takes its times and text from the words it kept.
    """
    kept: list[SpeechSegment] = []
    cut_start = cut_end = False
    offset = 0
    for segment in segments:
        n = len(segment.words)
        lo, hi = max(first - offset, 0), min(stop - offset, n)
        offset += n
        if lo >= hi:
            continue
        if not kept:
            cut_start = lo > 0
        cut_end = hi < n
        if lo > 0 or hi < n:
            words = segment.words[lo:hi]
            segment = replace(segment, words=words, text=" ".join(w.text for w in words),
                              start_s=words[0].start_s if lo > 0 else segment.start_s,
                              end_s=words[-1].end_s if hi < n else segment.end_s)
        kept.append(segment)
    return kept, cut_start, cut_end


def merge_segments(a: SpeechSegment, b: SpeechSegment) -> SpeechSegment:
    """One segment from the two halves of an utterance a chunk border cut (scores weighted by words)."""
    n_a, n_b = len(a.words), len(b.words)
    return SpeechSegment(start_s=a.start_s, end_s=max(a.end_s, b.end_s), text=f"{a.text} {b.text}",
                         words=a.words + b.words,
                         avg_logprob=(a.avg_logprob * n_a + b.avg_logprob * n_b) / (n_a + n_b),
                         no_speech_prob=(a.no_speech_prob * n_a + b.no_speech_prob * n_b) / (n_a + n_b))


def join_unpaused(segments: Sequence[SpeechSegment], max_gap_s: float = JOIN_GAP_S) -> list[SpeechSegment]:
    """Consecutive segments joined where the first's last word runs into the second's first word (they are
    less than ``max_gap_s`` apart) and does not end a sentence: one utterance Whisper happened to cut.

    >>> w = lambda t, s, e: Word(s, e, t, 1.0)
    >>> a = SpeechSegment(0.7, 6.3, "one largest", (w("one", 0.7, 5.5), w("largest", 5.8, 6.3)), -0.2, 0.1)
    >>> b = SpeechSegment(6.3, 8.1, "clean rooms.", (w("clean", 6.3, 6.9), w("rooms.", 6.9, 8.1)), -0.4, 0.1)
    >>> c = SpeechSegment(8.1, 9.0, "Next.", (w("Next.", 8.1, 9.0),), -0.1, 0.1)
    >>> [s.text for s in join_unpaused([a, b, c])]
    ['one largest clean rooms.', 'Next.']
    """
    out: list[SpeechSegment] = []
    for segment in segments:
        previous = out[-1] if out else None
        if (previous is not None and previous.words and segment.words
                and segment.words[0].start_s - previous.words[-1].end_s < max_gap_s
                and not previous.words[-1].ends_sentence):
            out[-1] = merge_segments(previous, segment)
        else:
            out.append(segment)
    return out


def split_at_pauses(segment: SpeechSegment, max_pause_s: float = MAX_PAUSE_S) -> list[SpeechSegment]:
    """``segment`` split where one word ends more than ``max_pause_s`` before the next starts.

    >>> w = lambda t, s: Word(s, s + 0.4, t, 1.0)
    >>> words = (w("Hello", 1.0), w("there.", 1.5), w("Goodbye.", 9.0))
    >>> seg = SpeechSegment(0.9, 9.5, "Hello there. Goodbye.", words, -0.2, 0.1)
    >>> [(s.start_s, s.end_s, s.text) for s in split_at_pauses(seg)]
    [(0.9, 1.9, 'Hello there.'), (9.0, 9.5, 'Goodbye.')]
    """
    words = segment.words
    cuts = [i for i in range(1, len(words)) if words[i].start_s - words[i - 1].end_s > max_pause_s]
    return [_part(segment, lo, hi) for lo, hi in zip([0, *cuts], [*cuts, len(words)])]


def split_long(segment: SpeechSegment, max_line_s: float = MAX_LINE_S,
               min_words: int = MIN_LINE_WORDS) -> list[SpeechSegment]:
    """``segment`` cut in two while it lasts longer than ``max_line_s``: before the word after the longest
    pause (a sentence's end adds SENTENCE_END_S; of equal pauses the one nearest the middle), each part
    keeping at least ``min_words`` words; each part again while it is longer.

    >>> starts_s = (0, 1, 2, 3, 5, 6, 7, 8)  # a pause of 1.5 s after "d."
    >>> words = tuple(Word(s, s + 0.5, t, 1.0) for s, t in zip(starts_s, "a b c d. e f g h.".split()))
    >>> seg = SpeechSegment(0.0, 8.5, "a b c d. e f g h.", words, -0.2, 0.1)
    >>> [(s.start_s, s.end_s, s.text) for s in split_long(seg, max_line_s=4.0)]
    [(0.0, 3.5, 'a b c d.'), (5, 8.5, 'e f g h.')]
    """
    words = segment.words
    if segment.end_s - segment.start_s <= max_line_s or len(words) < 2 * min_words:
        return [segment]

    def weight(i: int) -> float:
        pause_s = words[i].start_s - words[i - 1].end_s
        return pause_s + SENTENCE_END_S * words[i - 1].ends_sentence - 1e-6 * abs(2 * i - len(words))

    cut = max(range(min_words, len(words) - min_words + 1), key=weight)
    return [*split_long(_part(segment, 0, cut), max_line_s, min_words),
            *split_long(_part(segment, cut, len(words)), max_line_s, min_words)]


def _part(segment: SpeechSegment, lo: int, hi: int) -> SpeechSegment:
    """The words ``lo:hi`` of ``segment`` as a segment; an end that is the segment's own keeps its time."""
    if lo == 0 and hi == len(segment.words):
        return segment
    part = segment.words[lo:hi]
    return replace(segment, words=part, text=" ".join(w.text for w in part),
                   start_s=segment.start_s if lo == 0 else part[0].start_s,
                   end_s=segment.end_s if hi == len(segment.words) else part[-1].end_s)


def _not_before(segment: SpeechSegment, t_s: float) -> SpeechSegment:
    """``segment`` with every start moved to at least ``t_s`` (never past its own end): monotonic times."""
    if segment.start_s >= t_s and segment.words[0].start_s >= t_s:
        return segment
    words = tuple(replace(w, start_s=min(max(w.start_s, t_s), w.end_s)) for w in segment.words)
    return replace(segment, start_s=min(max(segment.start_s, t_s), segment.end_s), words=words)


class ChunkStitcher:
    """Joins the segments of consecutive, possibly overlapping chunks into one transcript's segments.

    Holds one chunk back until the next one shows where their border falls; ``finish`` emits the last one.

    >>> stitcher = ChunkStitcher()                                                      # doctest: +SKIP
    >>> for chunk in chunks: stitcher.add(segments_of(chunk), chunk.start_s, chunk.end_s)  # doctest: +SKIP
    >>> segments = stitcher.finish()                                                    # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._done: list[SpeechSegment] = []
        self._pending: list[SpeechSegment] = []  # segments of the previous chunk, its end not cut yet
        self._pending_end_s = 0.0
        self._first = 0  # words of the pending chunk before this index belong to the chunk before it
        self._open_end = False  # the last segment of ``done`` was cut at its end by a border

    def add(self, segments: list[SpeechSegment], start_s: float, end_s: float) -> None:
        if self._pending_end_s > start_s:  # an overlap: cut both chunks at the same word
            overlap_s = (start_s, self._pending_end_s)
            stop, next_first = border_cut(_words(self._pending), _words(segments), overlap_s)
        else:
            stop, next_first = len(_words(self._pending)), 0
        self._emit(stop)
        self._pending, self._pending_end_s, self._first = segments, end_s, next_first

    def finish(self) -> list[SpeechSegment]:
        self._emit(len(_words(self._pending)))
        self._pending = []
        return [line for segment in join_unpaused(self._done) for part in split_at_pauses(segment)
                for line in split_long(part)]

    def _emit(self, stop: int) -> None:
        kept, cut_start, cut_end = slice_words(self._pending, self._first, stop)
        if not kept:
            self._open_end = False
            return
        if self._done:
            kept[0] = _not_before(kept[0], self._done[-1].words[-1].end_s)
            if self._open_end and cut_start:
                kept[0] = merge_segments(self._done.pop(), kept[0])
        self._done.extend(kept)
        self._open_end = cut_end


def _words(segments: Sequence[SpeechSegment]) -> list[Word]:
    return [w for s in segments for w in s.words]
