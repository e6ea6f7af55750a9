"""A said line's sentence rank blends in the caption of its scene (search/scene_blend.py, issue 15; off by default)."""

from __future__ import annotations

from search.fusion import Retriever
from search.scene_blend import scene_blended
from tests.test_moments import OCR, SPEECH, hit


def lines() -> list:
    """Best first: a line elsewhere, a caption, a line inside that caption's scene, a line outside any scene."""
    return [hit(2, 3.0, 6.0, SPEECH, Retriever.SEMANTIC, rank=1, sim=0.40, text="a line elsewhere"),
            hit(1, 22.5, 37.5, OCR, Retriever.SEMANTIC, rank=2, sim=0.60, text="The sofa problem"),
            hit(1, 24.9, 28.4, SPEECH, Retriever.SEMANTIC, rank=3, sim=0.30, text="we took the legs off"),
            hit(1, 50.0, 53.0, SPEECH, Retriever.SEMANTIC, rank=4, sim=0.35, text="no caption over me")]


def texts(hits: list) -> list[str]:
    return [h.text for h in hits]


def test_off_changes_nothing() -> None:
    assert scene_blended(lines(), 0.0) == lines()


def test_a_line_of_a_matching_scene_moves_up_and_ranks_stay_dense() -> None:
    """0.5 * 0.30 + 0.5 * 0.60 = 0.45 beats the line elsewhere (0.40); the caption keeps its own 0.60."""
    out = scene_blended(lines(), 0.5)
    assert texts(out) == ["The sofa problem", "we took the legs off", "a line elsewhere", "no caption over me"]
    assert [h.rank for h in out] == [1, 2, 3, 4]
    assert [h.similarity for h in out] == [0.60, 0.30, 0.40, 0.35]  # what confidence reads is unchanged


def test_a_weak_blend_leaves_the_order() -> None:
    """0.8 * 0.30 + 0.2 * 0.60 = 0.36: above the uncaptioned line (0.35), below the line elsewhere (0.40)."""
    assert texts(scene_blended(lines(), 0.2)) == ["The sofa problem", "a line elsewhere", "we took the legs off",
                                                  "no caption over me"]


def test_a_line_better_than_its_caption_keeps_its_own_similarity() -> None:
    hits = [hit(1, 22.5, 37.5, OCR, Retriever.SEMANTIC, rank=1, sim=0.30, text="caption"),
            hit(1, 24.9, 28.4, SPEECH, Retriever.SEMANTIC, rank=2, sim=0.50, text="line"),
            hit(2, 3.0, 6.0, SPEECH, Retriever.SEMANTIC, rank=3, sim=0.45, text="other")]
    assert texts(scene_blended(hits, 0.9)) == ["line", "other", "caption"]
