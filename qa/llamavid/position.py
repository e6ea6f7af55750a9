"""The EVA tower's position embeddings fitted to the image size a checkpoint runs at.

``eva_vit_g.pth`` is trained at 224 px: 1 class position + 16×16 patch positions. LLaMA-VID's 336-px image
checkpoints run the same tower on 24×24 patches, and the reference vision tower resizes the patch positions when it
loads the file: the grid is interpolated bicubically (no corner alignment, in float32) to the new side, the class
position is kept as it is. Done here the same way, once, on the state dict before it is copied into the tower.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from qa.errors import CheckpointError

POSITION_KEY = "embeddings.position_embedding"  # the tower's name for EVA's ``pos_embed``: (1, 1 + P, D)
EXTRA_TOKENS = 1  # the class token's position


def resize_position_embedding(positions: torch.Tensor, patches_per_side: int,
                              extra_tokens: int = EXTRA_TOKENS) -> torch.Tensor:
    """(1, E + G*G, D) position embeddings of a G×G patch grid → (1, E + S*S, D) for ``patches_per_side`` S,
    float32. The E extra positions (the class token's) are kept; the grid is resized bicubically (the same
    tensor back, as float32, when G == S)."""
    if positions.ndim != 3 or positions.shape[0] != 1:
        raise CheckpointError(f"the EVA position embedding has shape {tuple(positions.shape)}, not (1, tokens, width)",
                              hint="use the EVA ViT-g file of LAVIS (eva_vit_g.pth)")
    grid_tokens = positions.shape[1] - extra_tokens
    old_side = math.isqrt(max(0, grid_tokens))
    if old_side * old_side != grid_tokens or old_side == 0:
        raise CheckpointError(f"the EVA position embedding holds {positions.shape[1]} positions: not "
                              f"{extra_tokens} + a square grid", hint="use the EVA ViT-g file of LAVIS (eva_vit_g.pth)")
    positions = positions.float()
    if old_side == patches_per_side:
        return positions
    width = positions.shape[-1]
    extra = positions[:, :extra_tokens]  # (1, E, D)
    grid = positions[:, extra_tokens:].reshape(1, old_side, old_side, width).permute(0, 3, 1, 2)  # (1, D, G, G)
    grid = F.interpolate(grid, size=(patches_per_side, patches_per_side), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).flatten(1, 2)  # (1, S*S, D)
    return torch.cat((extra, grid), dim=1)


def fit_positions(tower_state: dict[str, torch.Tensor], patches_per_side: int) -> dict[str, torch.Tensor]:
    """``tower_state`` (tower names) with its position embedding resized to ``patches_per_side`` when it was made
    for another image size; everything else untouched."""
    positions = tower_state.get(POSITION_KEY)
    if positions is None or positions.shape[1] == EXTRA_TOKENS + patches_per_side ** 2:
        return tower_state
    return {**tower_state, POSITION_KEY: resize_position_embedding(positions, patches_per_side)}
