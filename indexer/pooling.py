"""Pooling of patch features into the inputs of LLaMA-VID content tokens.

Video mode keeps one token per frame: the mean over the patch grid. Image mode may keep a k x k grid of
average-pooled patches instead (``grid:k`` in the reference code; a typed ``k`` here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mean_pool(patches: torch.Tensor) -> torch.Tensor:
    """(N, P, D) patch features -> (N, D), the mean over all P patches."""
    assert patches.ndim == 3, f"expected (N, P, D), got {tuple(patches.shape)}"
    return patches.mean(dim=1)


def grid_pool(patches: torch.Tensor, k: int) -> torch.Tensor:
    """(N, P, D) patch features on a square grid (P = g * g) -> (N, k * k, D) by adaptive average pooling.

    Row-major order: token ``r * k + c`` covers grid row block ``r`` and column block ``c``.
    """
    n, p, d = patches.shape
    g = int(round(p**0.5))
    assert g * g == p, f"patches must form a square grid, got P={p}"
    assert 1 <= k <= g, f"k must be in [1, {g}], got {k}"
    grid = patches.transpose(1, 2).reshape(n, d, g, g)  # (N, D, g, g)
    pooled = F.adaptive_avg_pool2d(grid, k)  # (N, D, k, k)
    return pooled.reshape(n, d, k * k).transpose(1, 2)  # (N, k*k, D)
