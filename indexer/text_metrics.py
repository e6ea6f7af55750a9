"""Transcript quality: word error rate after a plain normalisation (case, punctuation, speaker labels)."""

from __future__ import annotations

import re
from collections.abc import Sequence

SPEAKER_LABEL = re.compile(r"^\s*[A-Z][A-Z0-9 .'-]{0,30}:\s+", re.MULTILINE)  # "NAR: ", "JOHN SMITH: "
APOSTROPHE = re.compile(r"['\u2019]")
NOT_WORD = re.compile(r"[^\w]+")


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation or speaker labels; an apostrophe joins (``NASA's`` → ``nasas``).

    >>> normalize_words("NAR: At NASA's Goddard Space-Flight Center, Maryland.")
    ['at', 'nasas', 'goddard', 'space', 'flight', 'center', 'maryland']
    """
    text = SPEAKER_LABEL.sub("", text)
    text = APOSTROPHE.sub("", text.lower())
    return [w for w in NOT_WORD.sub(" ", text).replace("_", " ").split() if w]


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitutions, deletions, insertions all cost 1).

    >>> edit_distance(["a", "b", "c"], ["a", "x", "c", "d"])
    2
    """
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word errors per reference word, after ``normalize_words`` on both sides (0.0 is perfect; can exceed 1).

    >>> word_error_rate("NAR: the Webb space telescope", "the web space telescope")
    0.25
    """
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    assert ref, "the reference text has no words"
    return edit_distance(ref, hyp) / len(ref)
