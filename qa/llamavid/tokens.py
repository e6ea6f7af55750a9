"""The two tokens per frame, as pure functions on tensors (the paper's section 3.2, "Token Generation").

Context token: the text queries Q_t (Q-Former query outputs projected to the vision width) attend over the
frame's patch features X_t, whose keys are projected but whose values are the raw features:

E_t = mean over queries of softmax(Q_t · key_proj(X_t)ᵀ / √D) · X_t        # (D,)

then ``vlm_att_val_projector`` maps E_t into the LLM. Content token(s): the patch features pooled (mean for
video, a k×k grid or all patches for images), then ``mm_projector``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from qa.llamavid.config import AllPatches, ContentPooling, GridPooling, MeanPooling


def context_attention(text_queries: torch.Tensor, visual_keys: torch.Tensor,
                      visual: torch.Tensor) -> torch.Tensor:
    """E_t for a batch of frames: (N, Q, D) queries, (N, P, D) keys, (N, P, D) raw features → (N, D)."""
    assert text_queries.ndim == visual_keys.ndim == visual.ndim == 3, (
        f"want (N, Q, D), (N, P, D), (N, P, D); got {tuple(text_queries.shape)}, {tuple(visual_keys.shape)}, "
        f"{tuple(visual.shape)}")
    assert visual_keys.shape == visual.shape, (
        f"keys {tuple(visual_keys.shape)} vs features {tuple(visual.shape)}")
    scores = text_queries @ visual_keys.transpose(-1, -2) / math.sqrt(visual.shape[-1])  # (N, Q, P)
    return (scores.softmax(dim=-1) @ visual).mean(dim=1)  # (N, Q, D) → (N, D)


def pool_content(patches: torch.Tensor, pooling: ContentPooling) -> torch.Tensor:
    """(N, P, D) patch features → (N, K, D) content features before ``mm_projector``."""
    match pooling:
        case AllPatches():
            return patches
        case MeanPooling():
            return patches.mean(dim=1, keepdim=True)  # (N, 1, D)
        case GridPooling(side=side):
            n, p, d = patches.shape
            grid = math.isqrt(p)
            assert grid * grid == p, f"{p} patches do not form a square grid"
            assert grid % side == 0, f"grid {side} does not divide the {grid}×{grid} patch grid"
            stride = grid // side
            image = patches.reshape(n, grid, grid, d).permute(0, 3, 1, 2)  # (N, D, g, g)
            pooled = F.avg_pool2d(image, kernel_size=stride, stride=stride)  # (N, D, side, side)
            return pooled.permute(0, 2, 3, 1).reshape(n, side * side, d)  # (N, side², D)
    raise ValueError(f"unsupported content pooling {pooling!r}")


def frame_token_pairs(context: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """(N, H) context tokens and (N, K, H) content tokens → (N, 1 + K, H), context first, per frame."""
    assert context.shape[0] == content.shape[0] and context.shape[-1] == content.shape[-1], (
        f"context {tuple(context.shape)} vs content {tuple(content.shape)}")
    return torch.cat([context[:, None, :], content], dim=1)

