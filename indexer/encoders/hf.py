"""CLIP and SigLIP vision towers through transformers."""

from __future__ import annotations

import torch

from indexer.encoders.base import TorchVisionEncoder


class ClipVisionEncoder(TorchVisionEncoder):
    """CLIP: the retrieval embedding is the projected CLS token; patch features drop the CLS token."""

    def _forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(pixel_values=pixels, output_hidden_states=True)
        hidden = out.hidden_states[self.info.feature_layer]  # (B, 1 + P, D)
        return out.image_embeds, hidden[:, 1:]  # (B, d), (B, P, D)


class SiglipVisionEncoder(TorchVisionEncoder):
    """SigLIP: the retrieval embedding is the attention-pooled output; there is no CLS token."""

    def _forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(pixel_values=pixels, output_hidden_states=True)
        hidden = out.hidden_states[self.info.feature_layer]  # (B, P, D)
        return out.pooler_output, hidden  # (B, d), (B, P, D)
