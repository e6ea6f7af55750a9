"""Questions narrow a moment to the line that answers them.

"Where is the Webb telescope being assembled?" matches best the lines that talk about the telescope, but the
place is named in the line after them, which continues the same sentence and shares no word with the
question. For a question whose first word asks for a place, a time, a person or a number, a moment whose text
holds no such thing is followed into the lines that continue its sentence; the first of those that does hold
one becomes a moment of its own, ranked just above the moment it came from.

English only, by rules: a place is a capitalised name after at/in/near/from or a "Name, Name" pair, a time a
year, date, weekday, month or clock time, a person a capitalised name of two words, a number a figure or a
number word. A question the rules do not recognise is left alone.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from search.moments import Evidence, Moment
from search.request import SearchChannel


class AnswerType(enum.StrEnum):
    PLACE = "place"
    TIME = "time"
    PERSON = "person"
    NUMBER = "number"


QUESTION_TYPES = [
    (re.compile(r"^\s*where\b", re.I), AnswerType.PLACE),
    (re.compile(r"^\s*(when\b|what (year|day|date|time|month)\b|which (year|day|date|month)\b)", re.I),
     AnswerType.TIME),
    (re.compile(r"^\s*(who|whom|whose)\b", re.I), AnswerType.PERSON),
    (re.compile(r"^\s*how (many|much|long|old|far|big|tall|fast)\b", re.I), AnswerType.NUMBER),
]
NAME = r"[A-Z][\w'’.-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’.-]*)*"
MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
                "thousand|million|billion|dozen")
ANSWER_PATTERNS = {
    AnswerType.PLACE: re.compile(rf"\b(?:at|in|near|from|to|inside|outside)\s+(?:the\s+)?{NAME}|{NAME},\s+{NAME}"),
    AnswerType.TIME: re.compile(rf"\b(1[5-9]\d\d|20\d\d)\b|\b(?:{MONTHS})\b|\b(?:Monday|Tuesday|Wednesday|Thursday|"
                                r"Friday|Saturday|Sunday|yesterday|tomorrow|tonight)\b|\b\d{1,2}[:.]\d\d\b|"
                                r"\b(?:o'clock|noon|midnight|morning|evening)\b", re.I),
    AnswerType.PERSON: re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+\s+[A-Z][a-z]+\b"),
    AnswerType.NUMBER: re.compile(rf"\b\d[\d,.]*\b|\b(?:{NUMBER_WORDS})\b", re.I),
}
SENTENCE_END = re.compile(r"[.!?…][\"'’”)]*\s*$")


@dataclass(frozen=True)
class Line:
    """A line of timed text of one file, in time order."""

    channel: SearchChannel
    start_s: float
    end_s: float
    text: str


def answer_type(question: str) -> AnswerType | None:
    """What a question asks for, from its first words; None for a query that is not such a question.

    >>> answer_type("Where is the Webb telescope being assembled?"), answer_type("rocket launch at night")
    (<AnswerType.PLACE: 'place'>, None)
    """
    for pattern, kind in QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


def holds_answer(text: str, kind: AnswerType) -> bool:
    """Whether ``text`` names something of the kind asked for.

    >>> holds_answer("at NASA's Goddard Space Flight Center in Greenbelt, Maryland.", AnswerType.PLACE)
    True
    >>> holds_answer("space telescope in one of the largest cleanrooms in the world", AnswerType.PLACE)
    False
    """
    return ANSWER_PATTERNS[kind].search(text) is not None


def continuation(lines: Sequence[Line], last: Line, max_gap_s: float = 1.5, max_lines: int = 3) -> list[Line]:
    """The lines of ``last``'s channel that continue its sentence: each starts within ``max_gap_s`` of the
    previous one, up to the line that ends the sentence. Empty when ``last`` ends its own sentence."""
    out: list[Line] = []
    previous = last
    for line in sorted((ln for ln in lines if ln.channel == last.channel), key=lambda ln: ln.start_s):
        if SENTENCE_END.search(previous.text) or len(out) >= max_lines:
            break
        if line.start_s < previous.end_s - 0.05:
            continue
        if line.start_s - previous.end_s > max_gap_s:
            break
        out.append(line)
        previous = line
    return out


def focus(moment: Moment, kind: AnswerType, lines: Sequence[Line], pad_before_s: float = 0.5) -> Moment | None:
    """A moment on the line that answers, when ``moment``'s own text does not; None when there is nothing to do.

    ``lines``: the file's timed text around the moment (at least up to a few lines after it). Only evidence
    lying at least half inside the moment's span counts as its text: a moment keeps its span when a weaker one's
    evidence joins it (``search.moments.one_per_span``), so a line that names the answer may be listed with a
    moment that does not play it.
    """
    texts = [e for e in moment.evidence if e.text]
    texts = [e for e in texts if _inside_s(e, moment) >= 0.5 * (e.end_s - e.start_s)] or texts
    if not texts or any(holds_answer(e.text or "", kind) for e in texts):
        return None
    last_by_channel: dict[SearchChannel, Evidence] = {}
    for e in texts:
        if e.channel not in last_by_channel or e.end_s > last_by_channel[e.channel].end_s:
            last_by_channel[e.channel] = e
    for channel, e in sorted(last_by_channel.items(), key=lambda kv: kv[0].value):
        for line in continuation(lines, Line(channel, e.start_s, e.end_s, e.text or "")):
            if holds_answer(line.text, kind):
                parallel = [ln for ln in lines if ln.channel != channel
                            and _overlap(ln, line) > 0.5 * (line.end_s - line.start_s)]
                return _answer_moment(moment, line, parallel, pad_before_s)
    return None


def mostly_same(a: Moment, b: Moment) -> bool:
    """Whether two moments of one file overlap by half the shorter one's length (an answer and the moment
    it replaces)."""
    overlap_s = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    return a.media_id == b.media_id and overlap_s >= 0.5 * min(a.duration_s, b.duration_s)


def _overlap(a: Line, b: Line) -> float:
    return max(0.0, min(a.end_s, b.end_s) - max(a.start_s, b.start_s))


def _inside_s(e: Evidence, moment: Moment) -> float:
    return max(0.0, min(e.end_s, moment.end_s) - max(e.start_s, moment.start_s))


def _answer_moment(source: Moment, line: Line, parallel: Sequence[Line], pad_before_s: float) -> Moment:
    """The answering line (and what other channels say at the same time) as a moment ranked just above."""
    start_s, end_s = max(0.0, line.start_s - pad_before_s), line.end_s
    evidence = [Evidence(channel=ln.channel, start_s=ln.start_s, end_s=ln.end_s, similarity=0.0, rank=0,
                         retrievers=("answer",), text=ln.text) for ln in (line, *parallel)]
    return replace(source, start_s=round(start_s, 3), end_s=round(end_s, 3), score=source.score * 1.0001,
                   thumbnail_t_s=round((line.start_s + line.end_s) / 2, 3),
                   channels=frozenset(e.channel for e in evidence),
                   evidence=tuple(evidence) + tuple(e for e in source.evidence if e.text)[:2])
