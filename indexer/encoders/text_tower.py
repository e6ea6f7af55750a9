"""The text tower of a CLIP or SigLIP checkpoint: a text query in, a vector comparable with frame embeddings out.

Loaded from the same model id or directory as the vision tower, so its vectors live in the same space as the
frame index that tower built (``EncoderInfo.key`` names both).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from indexer.encoders.base import EncoderInfo, EncoderSpec
from indexer.encoders.loading import describe_vision_encoder, resolve_device, tower_config_of_full_clip
from indexer.errors import EncoderError

log = logging.getLogger(__name__)
SIGLIP_TEXT_LENGTH = 64  # SigLIP was trained on text padded to 64 tokens; shorter padding changes its vectors


class QueryTextEncoder:
    def __init__(self, info: EncoderInfo, model: torch.nn.Module, tokenizer: Any, device: torch.device,
                 max_length: int) -> None:
        self.info = info
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.device = device
        self.max_length = max_length

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> np.ndarray:
        """texts -> (N, embed_dim) float32, L2-normalised."""
        if not texts:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        padding: Any = "max_length" if self.info.family == "siglip" else True
        batch = self.tokenizer(texts, padding=padding, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        out = self.model(input_ids=batch["input_ids"],
                         **({"attention_mask": batch["attention_mask"]} if self.info.family == "clip" else {}))
        embeds = out.text_embeds if self.info.family == "clip" else out.pooler_output  # (N, d)
        return torch.nn.functional.normalize(embeds.float(), dim=-1).cpu().numpy()


def load_query_text_encoder(spec: EncoderSpec) -> QueryTextEncoder:
    """Load the text tower matching ``spec``'s vision tower. Raises EncoderError naming what is missing."""
    info = describe_vision_encoder(spec)
    device, _ = resolve_device(spec.device)
    try:
        from transformers import AutoConfig, AutoTokenizer

        config = AutoConfig.from_pretrained(spec.model)
        if not hasattr(config, "text_config"):
            raise EncoderError(spec.model, "this checkpoint holds a vision tower only, so frames cannot be searched "
                               "by text: configure a full CLIP or SigLIP checkpoint (vision and text), or search "
                               "the speech, subtitle and on-screen text channels")
        if info.family == "clip":
            from transformers import CLIPTextModelWithProjection as model_cls
        else:
            from transformers import SiglipTextModel as model_cls  # type: ignore[assignment]
        model = model_cls.from_pretrained(spec.model, **tower_config_of_full_clip(spec.model, "text"))
        tokenizer = AutoTokenizer.from_pretrained(spec.model)
    except EncoderError:
        raise
    except Exception as exc:
        raise EncoderError(spec.model, f"cannot load the text tower or tokenizer: {exc}") from exc
    limit = int(getattr(config.text_config, "max_position_embeddings", 77))
    max_length = min(limit, SIGLIP_TEXT_LENGTH) if info.family == "siglip" else limit
    log.info("loaded text tower of %s on %s", info.key, device)
    return QueryTextEncoder(info, model, tokenizer, device, max_length)
