"""Timed text of every channel, and the chunks of it that get embedded for retrieval."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

WORD = re.compile(r"\w+", re.UNICODE)
LETTERS = re.compile(r"[^\W\d_]{2,}", re.UNICODE)  # a run of two or more letters, in any script
# Names the rules below: it is part of each file's channels key (``workers.models.TextChannels.key``), so
# a library chunked by older rules is chunked again from its stored text (no speech or OCR) by
# ``scenedex index``.
# chunks2 (session 20): text without words is chunked apart from text with words.
CHUNK_RULE = "chunks2"


@dataclass(frozen=True)
class TimedText:
    """A piece of text with its span: a subtitle cue, a speech segment, or an on-screen text span."""

    channel: str  # "subtitles", "speech", "ocr"
    start_s: float
    end_s: float
    text: str
    language: str | None = None
    source: str | None = None
    confidence: float | None = None
    detail: dict[str, Any] | None = field(default=None, compare=False)


def word_count(text: str) -> int:
    return len(WORD.findall(text))


def has_words(text: str) -> bool:
    """Whether ``text`` holds a word of letters: not only figures and signs (a burnt-in timecode, a counter, a
    score, a subtitle's "♪").

    >>> [has_words(t) for t in ("Compare energy tariffs", "00:00:00.000", "100 125", "Item 2")]
    [True, False, False, True]
    """
    return LETTERS.search(text) is not None


def make_chunks(items: Sequence[TimedText], min_words: int = 4, max_gap_s: float = 2.0,
                max_span_s: float = 20.0) -> list[TimedText]:
    """Retrieval chunks: each item of a channel on its own, except that items shorter than ``min_words`` are
    joined to their neighbours (same channel, gap at most ``max_gap_s``, span at most ``max_span_s``).

    Text without words (``has_words``) is joined only with other such text: on screen, a caption shares its
    frames with whatever figures the footage shows (a burnt-in timecode, a counter, a scoreboard), and
    "00:00:00.000 Compare energy tariffs 100 125 150 175" is far from what anyone asks for. Measured on the
    untuned libraries' captions over busy footage (session 20): a query's cosine with the caption alone
    0.55-0.75, with the caption among the figures 0.36-0.51.

    Chunks stay close to the items' own spans, so a hit points at a precise moment.

    >>> a = TimedText("speech", 0.0, 1.0, "Hello")
    >>> b = TimedText("speech", 1.2, 4.0, "and welcome to the launch")
    >>> [(c.start_s, c.end_s, c.text) for c in make_chunks([a, b])]
    [(0.0, 4.0, 'Hello and welcome to the launch')]
    >>> clock, caption = TimedText("ocr", 0, 12, "00:00:00.000"), TimedText("ocr", 0, 12, "Water at dusk")
    >>> [c.text for c in make_chunks([clock, caption, TimedText("ocr", 4.0, 5.0, "100")])]
    ['00:00:00.000 100', 'Water at dusk']
    """
    chunks: list[TimedText] = []
    by_channel: dict[tuple[str, bool], list[TimedText]] = {}
    for item in sorted(items, key=lambda i: (i.channel, i.start_s)):
        if item.text.strip():
            by_channel.setdefault((item.channel, has_words(item.text)), []).append(item)
    for channel_items in by_channel.values():
        pending: TimedText | None = None
        for item in channel_items:
            if pending is None:
                pending = item
                continue
            joinable = (item.start_s - pending.end_s <= max_gap_s and item.end_s - pending.start_s <= max_span_s)
            if joinable and (word_count(pending.text) < min_words or word_count(item.text) < min_words):
                pending = TimedText(pending.channel, pending.start_s, max(pending.end_s, item.end_s),
                                    f"{pending.text} {item.text}", pending.language, pending.source)
            else:
                chunks.append(pending)
                pending = item
        if pending is not None:
            chunks.append(pending)
    return sorted(chunks, key=lambda c: (c.start_s, c.channel))
