"""Whether two timed lines of text say the same sentence: a subtitle cue and the recognised speech it transcribes.

Recognition gets words wrong ("the bee colony" heard as "the me -colonist"), so lines are compared word by word
and need not be equal; they must also be at the same time, the shorter lying mostly inside the longer (a cue is
often held on screen after the words end).
"""

from __future__ import annotations

import difflib
import re

WORD = re.compile(r"\w+", re.UNICODE)
MIN_WORD_RATIO = 0.6  # difflib ratio over the two word sequences
MIN_INSIDE = 0.8  # share of the shorter line's span inside the longer one's


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def alike(a: str, b: str, min_ratio: float = MIN_WORD_RATIO) -> bool:
    """Whether two texts are mostly the same words in the same order.

    >>> alike("Our field report comes from the bee colony.", "Our field report comes from the me -colonist.")
    True
    >>> alike("The harvest season has started early this year.", "Our field report comes from the bee colony.")
    False
    """
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return False
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio() >= min_ratio


def share_inside(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Share of the shorter of spans ``a`` and ``b`` (start_s, end_s) that lies inside the other.

    >>> share_inside((0.5, 3.9), (0.5, 7.0))
    1.0
    """
    overlap_s = min(a[1], b[1]) - max(a[0], b[0])
    shorter_s = min(a[1] - a[0], b[1] - b[0])
    if shorter_s <= 0:
        return 1.0 if overlap_s >= 0 else 0.0
    return max(0.0, overlap_s) / shorter_s


def same_sentence(a_text: str, a_span: tuple[float, float], b_text: str, b_span: tuple[float, float]) -> bool:
    """Whether two lines are one sentence said and subtitled: alike words, the shorter mostly inside the longer."""
    return share_inside(a_span, b_span) >= MIN_INSIDE and alike(a_text, b_text)
