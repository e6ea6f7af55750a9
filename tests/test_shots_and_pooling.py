"""Shot spans, frame-to-shot assignment, representatives, and the pooling maths of content-token inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from indexer.pooling import grid_pool, mean_pool
from indexer.shots import assign_frames, build_shots, shot_spans


def test_cuts_split_the_media_into_shots() -> None:
    assert shot_spans([3.0, 5.5], 7.5) == [(0.0, 3.0), (3.0, 5.5), (5.5, 7.5)]
    assert shot_spans([], 4.0) == [(0.0, 4.0)]


def test_cuts_too_close_together_or_to_the_end_are_not_shots() -> None:
    assert shot_spans([3.0, 3.2, 7.4], 7.5, min_shot_s=0.5) == [(0.0, 3.0), (3.0, 7.5)]


def test_each_frame_belongs_to_the_shot_containing_its_time() -> None:
    spans = [(0.0, 3.0), (3.0, 5.5), (5.5, 7.5)]
    t_s = np.array([0.0, 2.99, 3.0, 5.49, 5.5, 7.0, 9.0])
    assert assign_frames(t_s, spans).tolist() == [0, 0, 1, 1, 2, 2, 2]


def test_representative_is_the_frame_nearest_the_middle_and_none_for_a_shot_without_frames() -> None:
    t_s = np.arange(8, dtype=float)  # frames at 0..7 s
    shots, frame_shot = build_shots(t_s, [3.2, 3.8, 6.2], 8.0, min_shot_s=0.5)
    assert [(s.start_s, s.end_s) for s in shots] == [(0.0, 3.2), (3.2, 3.8), (3.8, 6.2), (6.2, 8.0)]
    assert [s.representative for s in shots] == [2, None, 5, 7]
    assert frame_shot.tolist() == [0, 0, 0, 0, 2, 2, 2, 3]


def test_mean_pool_is_the_mean_over_patches() -> None:
    patches = torch.randn(3, 16, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mean_pool(patches), patches.mean(dim=1))


def test_grid_pool_averages_square_blocks_in_row_major_order() -> None:
    g, d = 4, 2
    grid = torch.arange(g * g * d, dtype=torch.float32).reshape(1, g, g, d)  # (1, row, col, D)
    patches = grid.reshape(1, g * g, d)  # row-major patch order, as ViTs emit them
    pooled = grid_pool(patches, 2)  # (1, 4, D)
    expected = torch.stack([grid[0, r * 2:(r + 1) * 2, c * 2:(c + 1) * 2].mean(dim=(0, 1))
                            for r in range(2) for c in range(2)])
    assert pooled.shape == (1, 4, d)
    assert torch.allclose(pooled[0], expected)


def test_grid_pool_with_k_equal_to_the_grid_keeps_every_patch() -> None:
    patches = torch.randn(2, 9, 5, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(grid_pool(patches, 3), patches, atol=1e-6)


def test_grid_pool_rejects_a_non_square_patch_count() -> None:
    with pytest.raises(AssertionError, match="square grid"):
        grid_pool(torch.zeros(1, 10, 4), 2)
