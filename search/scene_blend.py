"""Sentence hits of a said line ranked with its scene: a paraphrase often describes the scene, not the exact line.

A caption stays on screen for its whole scene; a line said inside it is found on its own words only. Before fusion,
each said line's sentence similarity is blended with that of the caption over it, ``max(line, (1 - w) * line +
w * caption)``, and the sentence list is ranked again on that: a line of a scene that matches the query moves up,
a line that matches well on its own keeps its place. Similarities themselves (what confidence reads) do not change.

(Issue 15: measured on four libraries, see README "Search quality".)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from search.line_lead import inside_scene
from search.moments import SAID, Hit
from search.request import SearchChannel


def scene_blended(hits: Sequence[Hit], w: float) -> list[Hit]:
    """``hits`` of the sentence retriever, best first -> re-ranked on each said line's similarity blended with the
    best caption hit whose span holds it (weight ``w``; 0: unchanged)."""
    if w <= 0 or not hits:
        return list(hits)
    captions = [h for h in hits if h.channel == SearchChannel.OCR]

    def blended(h: Hit) -> float:
        if h.channel not in SAID:
            return h.similarity
        scene = max((c.similarity for c in captions if inside_scene(h, c)), default=None)
        return h.similarity if scene is None else max(h.similarity, (1 - w) * h.similarity + w * scene)

    ordered = sorted(hits, key=lambda h: (-blended(h), h.rank))
    return [replace(h, rank=i + 1) for i, h in enumerate(ordered)]
