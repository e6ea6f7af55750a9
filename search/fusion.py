"""Weighted reciprocal-rank fusion of ranked lists from different channels and retrievers.

Scores of different retrievers live on different scales (a CLIP cosine of 0.3 is a strong match, a sentence
cosine of 0.3 a weak one, a full-text rank has no scale at all), so lists are fused by rank: a moment ranked
r in a list gains ``weight / (k + r)``. A small ``k`` rewards being first in one list over being mediocre in
many; weights let a user trust one channel more than another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from search.request import SearchChannel


class Retriever:
    SEMANTIC = "semantic"  # sentence embeddings of text chunks
    LEXICAL = "lexical"  # Postgres full-text search on text segments
    VISUAL = "visual"  # image-text embeddings of frames
    EXAMPLE = "example"  # image embeddings of frames, from an example picture


ListKey = tuple[SearchChannel, str]  # (channel, retriever)


@dataclass(frozen=True)
class FusionWeights:
    visual: float = 1.0
    speech: float = 1.0
    subtitles: float = 1.0
    ocr: float = 1.0
    semantic: float = 1.0  # multiplies the channel weight for sentence-embedding lists
    lexical: float = 1.0  # ... and for full-text lists
    k: float = 10.0
    agreement: float = 0.1  # what the channels after the best one add (0: best channel only, 1: plain sum)

    def of(self, key: ListKey) -> float:
        channel, retriever = key
        base = float(getattr(self, channel.value))
        if retriever == Retriever.SEMANTIC:
            return base * self.semantic
        if retriever == Retriever.LEXICAL:
            return base * self.lexical
        return base

    def contribution(self, key: ListKey, rank: int) -> float:
        """What being ranked ``rank`` (1-based) in list ``key`` is worth.

        >>> FusionWeights(k=20).contribution((SearchChannel.SPEECH, Retriever.LEXICAL), 1)
        0.047619047619047616
        """
        assert rank >= 1, f"ranks start at 1, got {rank}"
        return self.of(key) / (self.k + rank)


def fuse(best_ranks: Mapping[ListKey, int], weights: FusionWeights) -> float:
    """Score of an item from its best rank in each list it appears in.

    Within a channel the lists (full text, embeddings) add up. Across channels the best channel counts fully
    and the others by ``weights.agreement``: a caption and a narration that both half-match a query must not
    beat the one line that says exactly what was asked, yet agreement still breaks near-ties.

    >>> w = FusionWeights()
    >>> exact_in_one = fuse({(SearchChannel.OCR, Retriever.SEMANTIC): 1, (SearchChannel.OCR, Retriever.LEXICAL): 1}, w)
    >>> fair_in_two = fuse({(SearchChannel.OCR, Retriever.SEMANTIC): 3, (SearchChannel.OCR, Retriever.LEXICAL): 3,
    ...                     (SearchChannel.SPEECH, Retriever.SEMANTIC): 3, (SearchChannel.SPEECH, Retriever.LEXICAL): 3}, w)
    >>> exact_in_one > fair_in_two
    True
    """
    per_channel: dict[SearchChannel, float] = {}
    for key, rank in best_ranks.items():
        per_channel[key[0]] = per_channel.get(key[0], 0.0) + weights.contribution(key, rank)
    if not per_channel:
        return 0.0
    best = max(per_channel.values())
    return best + weights.agreement * (sum(per_channel.values()) - best)
