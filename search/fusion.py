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
    k: float = 20.0

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

    >>> w = FusionWeights(k=20)
    >>> one_list_first = fuse({(SearchChannel.OCR, Retriever.SEMANTIC): 1}, w)
    >>> two_lists_tenth = fuse({(SearchChannel.OCR, Retriever.SEMANTIC): 10, (SearchChannel.SPEECH, Retriever.LEXICAL): 10}, w)
    >>> two_lists_tenth > one_list_first
    True
    """
    return sum(weights.contribution(key, rank) for key, rank in best_ranks.items())
