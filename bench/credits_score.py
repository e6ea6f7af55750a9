"""How many credit lines of the credits excerpt on-screen text reading read, and whether each became one span,
against the hand-made ground truth ``bench/credits_truth.toml`` (issue 13: at least 90 % of the credit lines
read, each credit line one span).

Scored lines are the certain ones (not ``uncertain``) that are not logo lettering. A line's window is when it is
fully on screen, widened by ``SLACK_S`` on both sides; a span is near the line when it overlaps that window.

* read, strict: a near span reads like the whole line: ``text_similarity(span, line) >= MIN_SIMILARITY``;
* read, contained: strict, or a near span reads like the line joined with one other line on screen with it
  (either order, ``joined``). On-screen text reading may join a heading with the name under it, or the two
  columns of a row, into one span; that still reads the line. (A line that is only a word of another line,
  such as "Blender" in "BLENDER INSTITUTE STAFF", is not read by it.)
* spans of a line: the near spans that read it (contained). A repeated name, such as "Enrico Valenza" under
  several headings, often twice on screen at once: each of its lines is first credited the one span closest to
  it in time, and each span one line (``assign``); the other spans go to the closest line they read;
* split: two of a line's spans do not overlap in time: the line became several spans instead of one.
* coverage (for the misses only, to tell "not read at all" from "read in pieces"): the fraction of the line's
  normalised characters found, in runs of at least ``COVER_RUN`` characters, in the near spans.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from indexer.text_spans import normalise_text, text_similarity

TRUTH = Path(__file__).with_name("credits_truth.toml")
SLACK_S = 2.0
MIN_SIMILARITY = 0.8
COVER_RUN = 4  # characters: shorter runs in common are chance


class Span(Protocol):
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class TruthLine:
    text: str
    start_s: float
    end_s: float
    kind: str  # "heading", "credit", "supporter", "logo"
    uncertain: bool = False
    note: str = ""

    @property
    def scored(self) -> bool:
        return not self.uncertain and self.kind != "logo"

    def near(self, span: Span) -> bool:
        return span.start_s < self.end_s + SLACK_S and span.end_s > self.start_s - SLACK_S


@dataclass(frozen=True)
class LineScore:
    line: TruthLine
    strict: bool
    contained: bool
    spans: tuple[Span, ...]  # the spans that read it (contained), in time order
    coverage: float  # 0..1

    @property
    def split(self) -> bool:
        return any(b.start_s >= min(a.end_s for a in self.spans[:i]) for i, b in enumerate(self.spans) if i)


@dataclass(frozen=True)
class CreditsScore:
    lines: tuple[LineScore, ...]  # every scored line, in time order
    total: int  # lines in the ground truth, scored or not

    @property
    def certain(self) -> int:
        return len(self.lines)

    @property
    def strict(self) -> int:
        return sum(s.strict for s in self.lines)

    @property
    def contained(self) -> int:
        return sum(s.contained for s in self.lines)

    @property
    def split(self) -> int:
        return sum(s.split for s in self.lines)

    @property
    def misses(self) -> list[LineScore]:
        return [s for s in self.lines if not s.contained]

    def of_kind(self, kind: str) -> CreditsScore:
        return CreditsScore(tuple(s for s in self.lines if s.line.kind == kind), self.total)

    def summary(self) -> dict[str, object]:
        certain = max(1, self.certain)
        return {"lines": self.total, "certain": self.certain, "read_strict": self.strict,
                "read_contained": self.contained, "split": self.split,
                "recall_strict": self.strict / certain, "recall_contained": self.contained / certain,
                "one_span": (self.contained - self.split) / max(1, self.contained)}


def load_truth(path: Path = TRUTH) -> list[TruthLine]:
    with path.open("rb") as f:
        return [TruthLine(**row) for row in tomllib.load(f)["line"]]


def _blocks(line: str, text: str) -> list[difflib.Match]:
    """Runs of characters in common, in order, of the normalised line and text (the last, empty, one dropped)."""
    return difflib.SequenceMatcher(None, normalise_text(line), normalise_text(text),
                                   autojunk=False).get_matching_blocks()[:-1]


def contained_similarity(line: str, text: str) -> float:
    """How alike ``line`` is to the stretch of ``text`` it lines up with: difflib ratio of the normalised line
    and the normalised text from the first to the last character matched, taken as long as the line at least
    (the whole text when shorter). A cheap first test of ``joined``.

    >>> contained_similarity("Sacha Goedegebure", "ORIGINAL STORY AND SCRIPT Sacha Goedegebure")
    1.0
    >>> round(contained_similarity("Arno Kroner", "COLORGUIDE ARTWORK Arno Kr0ner"), 2)
    0.9
    """
    blocks = _blocks(line, text)
    if not blocks:
        return 0.0
    matched = sum(b.size for b in blocks)
    stretch = blocks[-1].b + blocks[-1].size - blocks[0].b
    size = len(normalise_text(line))
    return max(text_similarity(line, text), 2 * matched / (size + max(size, stretch)))


def joined(line: str, text: str, others: Sequence[str]) -> bool:
    """Whether ``text`` reads like ``line`` joined with one of ``others``, before or after it, and more so than
    like that other line alone."""
    if contained_similarity(line, text) < MIN_SIMILARITY:
        return False
    for other in others:
        both = max(text_similarity(text, f"{line} {other}"), text_similarity(text, f"{other} {line}"))
        if both >= MIN_SIMILARITY and both > text_similarity(text, other):
            return True
    return False


def reads(line: str, text: str, others: Sequence[str] = ()) -> tuple[bool, bool]:
    """(strict, contained) of one span's text for one line; ``others``: the other lines on screen with it."""
    strict = text_similarity(line, text) >= MIN_SIMILARITY
    return strict, strict or joined(line, text, others)


def coverage(line: str, texts: Sequence[str]) -> float:
    """Fraction of the line's normalised characters found in runs of at least COVER_RUN in any of ``texts``."""
    norm = normalise_text(line)
    found = [False] * len(norm)
    for text in texts:
        for b in _blocks(line, text):
            if b.size >= COVER_RUN:
                found[b.a:b.a + b.size] = [True] * b.size
    return sum(found) / max(1, len(norm))


def on_screen_with(line: TruthLine, truth: Sequence[TruthLine]) -> list[str]:
    """Texts of the other lines whose windows overlap ``line``'s."""
    return [t.text for t in truth if t is not line and t.start_s < line.end_s and t.end_s > line.start_s]


def misfit_s(line: TruthLine, span: Span) -> float:
    """How far a span's start and end are from a line's window."""
    return abs(span.start_s - line.start_s) + abs(span.end_s - line.end_s)


def assign(lines: Sequence[TruthLine], readers: dict[int, list[int]], spans: Sequence[Span]) -> dict[int, list[int]]:
    """Line index -> indices of the spans credited to it, among ``lines`` of one text (a repeated name):
    ``readers`` maps each line to the spans near it that read it. First each line gets at most one span, the
    closest pairs first (two lines of the same name on screen together are two spans, not one line split);
    every other span then goes to the closest line it reads (it is a fragment of that line)."""
    pairs = sorted((misfit_s(lines[li], spans[si]), li, si) for li, sis in readers.items() for si in sis)
    credited: dict[int, list[int]] = {li: [] for li in readers}
    taken: set[int] = set()
    for _, li, si in pairs:
        if not credited[li] and si not in taken:
            credited[li].append(si)
            taken.add(si)
    for _, li, si in pairs:
        if si not in taken:
            credited[li].append(si)
            taken.add(si)
    return credited


def score(spans: Sequence[Span], truth: Sequence[TruthLine]) -> CreditsScore:
    """Every scored line of ``truth`` against the spans of the whole excerpt (the module's rules)."""
    scored = sorted((t for t in truth if t.scored), key=lambda t: (t.start_s, t.end_s))
    verdicts: list[dict[int, tuple[bool, bool]]] = []  # per line: near span index -> (strict, contained)
    for line in scored:
        others = on_screen_with(line, truth)
        verdicts.append({si: reads(line.text, s.text, others) for si, s in enumerate(spans) if line.near(s)})
    twins: dict[str, list[int]] = {}
    for li, line in enumerate(scored):
        twins.setdefault(normalise_text(line.text), []).append(li)
    credited: dict[int, list[int]] = {}
    for group in twins.values():
        readers = {li: [si for si, (_, contained) in verdicts[li].items() if contained] for li in group}
        credited.update(assign(scored, readers, spans))
    results = []
    for li, line in enumerate(scored):
        own = sorted(credited[li], key=lambda si: spans[si].start_s)
        cover = 1.0 if own else coverage(line.text, [spans[si].text for si in verdicts[li]])
        results.append(LineScore(line, any(verdicts[li][si][0] for si in own), bool(own),
                                 tuple(spans[si] for si in own), cover))
    return CreditsScore(tuple(results), len(truth))
