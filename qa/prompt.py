"""The text of an answer prompt: numbered moments with their timed lines, then the question.

A moment is shown as ``[n] <media name> <start>–<end>`` followed by its lines, each with its time mark and channel:

    [1] nasa_webb_cleanroom.mp4 0:07.9–0:12.7
    0:08.4 said: at NASA's Goddard Space Flight Center in Greenbelt, Maryland.

Moments are numbered in time order (file by file), so ``[1]`` is the earliest; the model cites them by number and
scenedex turns the numbers back into its own timestamps (``cited_numbers``). Nothing here tokenises: the budget
planner counts each piece with the model's tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from qa.answering import EvidenceMoment, TimedLine

SYSTEM_PROMPT = ("You answer questions about videos using only the numbered moments you are given: what was said, "
                 "subtitled or shown on screen. Cite a moment by its number, like [1].")
# Asking a 135M model for citations in the instruction itself made it answer about "the moment number" instead of
# the question (and a worked example leaked into its answers): the request to cite stays in the system prompt.
INSTRUCTION = "Answer in one short sentence."
# Tokens the chat template and the system prompt add around the user message (role markers, newlines); the text
# answer model checks the real prompt against its context, so this only has to be an upper bound in practice.
TEMPLATE_RESERVE_TOKENS = 64
CHANNEL_LABELS = {"speech": "said", "subtitles": "subtitle", "ocr": "on screen"}
CITATION = re.compile(r"\[(\d{1,3}(?:\s*(?:,|and|&)\s*\d{1,3})*)\]")


def clock(t_s: float) -> str:
    """Seconds as m:ss.s (h:mm:ss.s from an hour on), the way a player shows them.

    >>> clock(8.349), clock(72.0), clock(3725.44)
    ('0:08.3', '1:12.0', '1:02:05.4')
    """
    tenths = int(round(max(0.0, t_s) * 10))
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    s, tenth = divmod(rest, 10)
    return f"{h}:{m:02d}:{s:02d}.{tenth}" if h else f"{m}:{s:02d}.{tenth}"


def moment_header(moment: EvidenceMoment) -> str:
    return f"[{moment.n}] {moment.media_name} {clock(moment.start_s)}–{clock(moment.end_s)}"


def line_text(line: TimedLine) -> str:
    label = CHANNEL_LABELS.get(line.channel, line.channel)
    return f"{clock(line.start_s)} {label}: {' '.join(line.text.split())}"


def question_text(question: str) -> str:
    return f"Question: {question}\n{INSTRUCTION}"


def user_message(question: str, moments: Sequence[EvidenceMoment]) -> str:
    """The whole user turn: every moment's header and lines, then the question and what is asked for."""
    blocks = ["\n".join([moment_header(m), *(line_text(line) for line in m.lines)]) for m in moments]
    evidence = "\n\n".join(blocks) if blocks else "(no moments)"
    return f"Moments from the video library:\n\n{evidence}\n\n{question_text(question)}"


def drop_repeated_lines(lines: Sequence[TimedLine]) -> tuple[TimedLine, ...]:
    """The lines in time order without the ones that repeat another channel's line at the same time (speech that a
    subtitle also gives, said words also shown): the subtitle is kept over speech, speech over on-screen text.

    >>> said = TimedLine("speech", 8.6, 12.1, "at NASA's Goddard Space Flight Center")
    >>> sub = TimedLine("subtitles", 8.35, 12.47, "at NASA’s Goddard Space Flight Center.")
    >>> [line.channel for line in drop_repeated_lines([said, sub])]
    ['subtitles']
    """
    preference = {"subtitles": 0, "speech": 1, "ocr": 2}
    kept: list[TimedLine] = []
    for line in sorted(lines, key=lambda x: (preference.get(x.channel, 3), x.start_s)):
        if not any(_same_words(line, other) for other in kept):
            kept.append(line)
    return tuple(sorted(kept, key=lambda x: (x.start_s, x.end_s)))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower().replace("’", "'")))


def _same_words(a: TimedLine, b: TimedLine, min_time_iou: float = 0.5, min_shared_words: float = 0.7) -> bool:
    """Two lines of different channels at about the same time, most of the shorter one's words in the other."""
    overlap_s = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    union_s = max(a.end_s, b.end_s) - min(a.start_s, b.start_s)
    if a.channel == b.channel or union_s <= 0 or overlap_s / union_s < min_time_iou:
        return False
    wa, wb = _words(a.text), _words(b.text)
    return bool(wa and wb) and len(wa & wb) / min(len(wa), len(wb)) >= min_shared_words


def number_in_time_order(moments: Sequence[EvidenceMoment]) -> tuple[EvidenceMoment, ...]:
    """The moments sorted by file and start time, numbered 1, 2, … in that order.

    >>> ms = [EvidenceMoment(0, 7, "b.mp4", 9.0, 12.0), EvidenceMoment(0, 7, "b.mp4", 2.0, 4.0),
    ...       EvidenceMoment(0, 3, "a.mp4", 50.0, 51.0)]
    >>> [(m.n, m.media_name, m.start_s) for m in number_in_time_order(ms)]
    [(1, 'a.mp4', 50.0), (2, 'b.mp4', 2.0), (3, 'b.mp4', 9.0)]
    """
    ordered = sorted(moments, key=lambda m: (m.media_name, m.media_id, m.start_s, m.end_s))
    return tuple(replace(m, n=i) for i, m in enumerate(ordered, 1))


def cited_numbers(answer: str, count: int) -> list[int]:
    """Moment numbers the answer cites as ``[n]`` (also ``[1, 3]``, ``[2 and 4]``), in order of first citation,
    keeping only 1..count.

    >>> cited_numbers("At Goddard [2]. See also [1, 3] and [2][9].", 3)
    [2, 1, 3]
    """
    seen: list[int] = []
    for group in CITATION.findall(answer):
        for number in re.findall(r"\d+", group):
            n = int(number)
            if 1 <= n <= count and n not in seen:
                seen.append(n)
    return seen
