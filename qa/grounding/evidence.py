"""Evidence windows: a moment's lines of one channel taken one, two or three in a row (a spoken sentence often
spans cues: "...in one of the largest cleanrooms in the world" / "at NASA's Goddard Space Flight Center"; on-screen
lines only while they are shown together: a credits heading and its name, not two captions in turn), each
with its text and span. A claim is checked against one window, never against the moment's words pooled, so that
words from two different lines cannot be recombined into a claim neither line makes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.answering import EvidenceMoment, TimedLine
from qa.grounding.claims import Citation

MAX_WINDOW_LINES = 3
MAX_GAP_S = 1.5  # lines further apart than this do not continue one another


@dataclass(frozen=True)
class Window:
    n: int  # the moment's number
    media_name: str
    channel: str
    start_s: float
    end_s: float
    text: str
    lines: tuple[TimedLine, ...] = ()
    moment_span_s: tuple[float, float] = (0.0, 0.0)  # the moment's own span (its lines reach a little around it)

    @property
    def inside(self) -> bool:
        """Whether the window overlaps its moment's own span (not only the context lines around it): between two
        moments that both hold a line, the one the line is in is cited."""
        return min(self.end_s, self.moment_span_s[1]) - max(self.start_s, self.moment_span_s[0]) > 0

    def citation(self) -> Citation:
        return Citation(self.n, self.media_name, self.start_s, self.end_s)

    def narrowed(self, holds: Callable[[str], bool]) -> Citation:
        """The citation of the shortest run of this window's lines whose text ``holds`` (the line that gives the
        answer, not the lines before it that only repeat the question's words); the whole window if none does."""
        best: tuple[float, float] | None = None
        for i in range(len(self.lines)):
            for j in range(i, len(self.lines)):
                run = self.lines[i:j + 1]
                if holds(" ".join(x.text for x in run)):
                    span = (run[0].start_s, run[-1].end_s)
                    if best is None or span[1] - span[0] < best[1] - best[0]:
                        best = span
                    break
        if best is None:
            return self.citation()
        return Citation(self.n, self.media_name, best[0], best[1])


def windows(moment: EvidenceMoment, max_lines: int = MAX_WINDOW_LINES) -> list[Window]:
    """Every run of 1..max_lines consecutive lines of one channel in ``moment``.

    >>> m = EvidenceMoment(2, 1, "a.mp4", 0.0, 9.0, (TimedLine("speech", 0.0, 2.0, "in the world"),
    ...     TimedLine("speech", 2.1, 4.0, "at Goddard."), TimedLine("ocr", 1.0, 3.0, "BUILDING 29")))
    >>> [(w.channel, w.start_s, w.end_s, w.text) for w in windows(m)]  # doctest: +NORMALIZE_WHITESPACE
    [('ocr', 1.0, 3.0, 'BUILDING 29'), ('speech', 0.0, 2.0, 'in the world'),
     ('speech', 0.0, 4.0, 'in the world at Goddard.'), ('speech', 2.1, 4.0, 'at Goddard.')]
    """
    out: list[Window] = []
    by_channel: dict[str, list[TimedLine]] = {}
    for line in moment.lines:
        by_channel.setdefault(line.channel, []).append(line)
    for channel in sorted(by_channel):
        lines = sorted(by_channel[channel], key=lambda x: (x.start_s, x.end_s))
        for i in range(len(lines)):
            run: list[TimedLine] = []
            for line in lines[i:i + max_lines]:
                if run and line.start_s - run[-1].end_s > MAX_GAP_S:
                    break
                if run and channel == "ocr" and line.start_s >= run[-1].end_s:
                    break  # captions shown one after another are separate statements; lines shown together
                    # (a credits heading and its name) are read together
                run.append(line)
                text = " ".join(" ".join(x.text.split()) for x in run)
                out.append(Window(moment.n, moment.media_name, channel, run[0].start_s, run[-1].end_s, text,
                                  tuple(run), (moment.start_s, moment.end_s)))
    return out


def all_windows(moments: Sequence[EvidenceMoment]) -> list[Window]:
    return [w for m in moments for w in windows(m)]


def at_home(window: Window, candidates: Sequence[Window]) -> Window:
    """The same lines as seen from the moment whose own span they fall in, when another moment only has them as
    context: the citation then names the moment the user will see them in."""
    if window.inside:
        return window
    same = [w for w in candidates if w.inside and (w.channel, w.start_s, w.end_s) == (window.channel,
                                                                                      window.start_s, window.end_s)]
    return same[0] if same else window
