"""The EVA ViT-g/14 vision tower (transformers' InstructBLIP vision model) and the frame preprocessing it
expects.

Its output is the last used block's hidden states, CLS first: (N, 1 + P, D). There is no final norm
(BLIP-2's ``ln_vision`` is LLaMA-VID's ``vlm_att_ln`` and applies to the Q-Former's input only), so
transformers' ``post_layernorm`` is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from qa.clip_image import clip_pixels
from qa.llamavid.config import VisionTowerConfig


def preprocess_frames(frames: Sequence[np.ndarray], config: VisionTowerConfig) -> torch.Tensor:
    """RGB uint8 frames, each (H, W, 3), of any size → (N, 3, S, S) float32 as LLaMA-VID's reference feeds EVA
    through CLIP's image processor: PIL bicubic resize of the shortest side to S px, centre crop, scale to [0, 1],
    CLIP mean/std (``qa.clip_image``; equal to the processor's ``pixel_values``)."""
    out = torch.empty((len(frames), 3, config.image_px, config.image_px), dtype=torch.float32)
    for i, frame in enumerate(frames):
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8, (
            f"frame {i}: want (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        out[i] = torch.from_numpy(clip_pixels(frame, config.image_px, config.image_mean, config.image_std))
    return out


class VisionTower(nn.Module):
    def __init__(self, config: VisionTowerConfig) -> None:
        super().__init__()
        from transformers import InstructBlipVisionModel

        self.config = config
        model = InstructBlipVisionModel(config.to_transformers())
        self.embeddings = model.embeddings
        self.encoder = model.encoder

    @property
    def dtype(self) -> torch.dtype:
        return self.embeddings.patch_embedding.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embeddings.patch_embedding.weight.device

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) normalised pixels → (N, 1 + P, D) features, CLS first."""
        hidden = self.embeddings(pixel_values.to(device=self.device, dtype=self.dtype))  # (N, 1 + P, D)
        return self.encoder(inputs_embeds=hidden).last_hidden_state

    @torch.inference_mode()
    def features(self, frames: Sequence[np.ndarray], block_frames: int = 64) -> torch.Tensor:
        """RGB uint8 frames → (N, 1 + P, D) features, encoded ``block_frames`` at a time."""
        blocks = [self(preprocess_frames(frames[i:i + block_frames], self.config))
                  for i in range(0, len(frames), block_frames)]
        if not blocks:
            return torch.zeros((0, 1 + self.config.patches_per_frame, self.config.width), dtype=self.dtype)
        return torch.cat(blocks, dim=0)

    def pooled_features(self, frames: Sequence[np.ndarray], block_frames: int = 64) -> np.ndarray:
        """Each frame's mean-pooled patch feature (CLS dropped), the input of its video content token: (N, D)
        float32. Ingest can keep it; the context token needs the question, so it is computed at question
        time."""
        pooled = [self.features(frames[i:i + block_frames], block_frames)[:, 1:].float().mean(dim=1)
                  for i in range(0, len(frames), block_frames)]
        if not pooled:
            return np.zeros((0, self.config.width), dtype=np.float32)
        return torch.cat(pooled).cpu().numpy()
