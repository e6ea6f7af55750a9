"""Which span answers when a caption and a line said inside its scene both match: the line, when it matches
nearly as well.

A caption stays on screen for its whole scene (10-15 s); a narrated line inside it lasts a few seconds. When both
match a query they are two moments (``search.moments`` keeps a short line inside a long caption apart), and the
one with the higher fused score leads. A caption is a scene's summary ("The sofa problem") and often outscores the
line that says the thing asked for ("It would not fit through the door"); the line is the finer answer, and
playing it lands inside the caption's scene anyway, while playing the scene makes the viewer wait for the line.
So a said line (speech or subtitles) lying inside a caption-only moment's span goes just before it when its
best sentence similarity is at least ``ratio`` of the caption's. A caption that clearly matches better keeps the
lead. Ranks elsewhere do not change.

(Issue 15: chosen on the frozen library's "right place, other size" misses, measured on the holdout library.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from search.moments import SAID, Hit, Moment
from search.request import SearchChannel

INSIDE_SLACK_S = 1.0  # a line's padded span may stick out of its caption's by this much


def _caption_only(m: Moment) -> bool:
    return m.channels == frozenset({SearchChannel.OCR}) and m.signals.semantic > 0


def inside_scene(line: Moment | Hit, caption: Moment | Hit) -> bool:
    """Whether ``line`` lies in ``caption``'s span (same file, INSIDE_SLACK_S of slack) and is shorter than it."""
    return (line.media_id == caption.media_id and line.start_s >= caption.start_s - INSIDE_SLACK_S
            and line.end_s <= caption.end_s + INSIDE_SLACK_S
            and line.end_s - line.start_s < caption.end_s - caption.start_s)


def lines_before_their_caption(moments: Sequence[Moment], ratio: float, window: int = 10) -> list[Moment]:
    """``moments`` best first -> best first, each caption-only moment of the first ``window`` preceded by the best
    said line inside its span whose sentence similarity is at least ``ratio`` of the caption's (0: unchanged).

    The line takes the caption's score and the caption keeps a hair less, so the two stay together in the order
    (and stay so when the list is sorted by score again); moments that tied with the caption come down to its new
    score, so the list stays sorted.
    """
    ordered = list(moments)
    if ratio <= 0:
        return ordered
    for i in range(min(window, len(ordered))):
        caption = ordered[i]
        if not _caption_only(caption):
            continue
        line_at = next((j for j in range(i + 1, min(window, len(ordered)))
                        if ordered[j].channels & SAID and not ordered[j].channels & {SearchChannel.OCR}
                        and inside_scene(ordered[j], caption)
                        and ordered[j].signals.semantic >= ratio * caption.signals.semantic), None)
        if line_at is None:
            continue
        line = ordered.pop(line_at)
        lead = replace(line, score=caption.score)
        ordered[i] = replace(caption, score=caption.score * (1 - 1e-9))
        ordered.insert(i, lead)
        for j in range(i + 2, len(ordered)):  # ties with the caption's old score, now a hair above it
            if ordered[j].score <= ordered[j - 1].score:
                break
            ordered[j] = replace(ordered[j], score=ordered[j - 1].score)
    return ordered
