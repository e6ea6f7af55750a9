"""The LLaMA-VID head: question-aware context token and content token(s) per frame, from vision-tower
features.

Module names follow the released checkpoints (``model.vlm_att_*``, ``model.mm_projector``). The Q-Former is
transformers' InstructBLIP Q-Former: the learned queries and the tokenised question go in together (queries
first, attention mask ones for the queries then the question's mask), and it cross-attends to the frame
features after ``vlm_att_ln``. Its first ``queries`` outputs, projected by ``vlm_att_projector``, are the
text queries Q_t.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from qa.llamavid.config import LlamaVidConfig, content_pooling, qformer_sees_cls
from qa.llamavid.tokens import context_attention, frame_token_pairs, pool_content


@dataclass(frozen=True)
class InstructionTokens:
    """The question as the Q-Former reads it: ids and attention mask, each (1, L)."""

    ids: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        assert self.ids.ndim == 2 and self.ids.shape[0] == 1 and self.ids.shape == self.mask.shape, (
            f"want ids and mask of shape (1, L), got {tuple(self.ids.shape)} and {tuple(self.mask.shape)}")


def tokenize_instruction(tokenizer, question: str, max_tokens: int) -> InstructionTokens:
    """Tokenise ``question`` for the Q-Former, keeping its last ``max_tokens`` tokens (truncation from the
    left)."""
    tokenizer.truncation_side = "left"
    encoded = tokenizer([question], truncation=True, max_length=max_tokens, return_tensors="pt")
    return InstructionTokens(ids=encoded["input_ids"], mask=encoded["attention_mask"])


class LlamaVidHead(nn.Module):
    def __init__(self, config: LlamaVidConfig) -> None:
        super().__init__()
        from transformers import InstructBlipQFormerModel

        self.config = config
        sizes = config.projector_sizes
        q = config.qformer
        self.vlm_att_encoder = InstructBlipQFormerModel(q.to_transformers(encoder_width=config.vision.width))
        self.vlm_att_query = nn.Parameter(torch.randn(1, q.queries, q.hidden) * 0.02)  # (1, Q, 768)
        self.vlm_att_ln = nn.LayerNorm(config.vision.width)
        self.vlm_att_projector = nn.Linear(*sizes.text_query)
        self.vlm_att_key_projector = nn.Linear(*sizes.key)
        self.vlm_att_val_projector = nn.Linear(*sizes.context_value)
        width, hidden, out = sizes.content_mlp
        self.mm_projector = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, out))

    def text_queries(self, frame_features: torch.Tensor, instruction: InstructionTokens) -> torch.Tensor:
        """Q_t for each frame: (N, S, D) features the Q-Former attends to → (N, Q, D)."""
        n = frame_features.shape[0]
        device = frame_features.device
        queries = self.vlm_att_query.expand(n, -1, -1)  # (N, Q, Dq)
        ids = instruction.ids.to(device).expand(n, -1)  # (N, L)
        text_mask = instruction.mask.to(device).expand(n, -1)
        query_mask = torch.ones(queries.shape[:2], dtype=text_mask.dtype, device=device)
        image_mask = torch.ones(frame_features.shape[:2], dtype=text_mask.dtype, device=device)
        out = self.vlm_att_encoder(input_ids=ids, attention_mask=torch.cat([query_mask, text_mask], dim=1),
                                   query_embeds=queries,
                                   encoder_hidden_states=self.vlm_att_ln(frame_features),
                                   encoder_attention_mask=image_mask)
        return self.vlm_att_projector(out.last_hidden_state[:, : queries.shape[1]])  # (N, Q, D)

    def context_tokens(self, text_queries: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """(N, Q, D) text queries, (N, P, D) patch features → (N, H) context tokens."""
        embedding = context_attention(text_queries, self.vlm_att_key_projector(patches), patches)  # (N, D)
        return self.vlm_att_val_projector(embedding)

    def content_tokens(self, patches: torch.Tensor) -> torch.Tensor:
        """(N, P, D) patch features → (N, K, H) content tokens (K = 1 in video modes)."""
        return self.mm_projector(pool_content(patches, content_pooling(self.config.mode)))

    def frame_tokens(self, features: torch.Tensor, instruction: InstructionTokens,
                     block_frames: int | None = None) -> torch.Tensor:
        """Vision-tower features with CLS first, (N, 1 + P, D) → (N, 1 + K, H) tokens per frame.

        Frames go through in blocks of ``block_frames`` (the config's by default), so memory stays bounded
        for an hour of video; blocks do not interact, so the result equals one pass over all frames.
        """
        assert features.ndim == 3, f"want (N, 1 + P, D) features, got {tuple(features.shape)}"
        dtype = self.vlm_att_key_projector.weight.dtype
        block = block_frames or self.config.block_frames
        sees_cls = qformer_sees_cls(self.config.mode)
        out = []
        for start in range(0, features.shape[0], block):
            chunk = features[start:start + block].to(dtype)  # (n, 1 + P, D)
            patches = chunk[:, 1:]  # (n, P, D): CLS dropped
            text_queries = self.text_queries(chunk if sees_cls else patches, instruction)  # (n, Q, D)
            context = self.context_tokens(text_queries, patches)  # (n, H)
            out.append(frame_token_pairs(context, self.content_tokens(patches)))  # (n, 1 + K, H)
        if not out:
            hidden = self.config.llm.hidden
            return features.new_zeros((0, self.config.tokens_per_frame, hidden), dtype=dtype)
        return torch.cat(out, dim=0)  # (N, 1 + K, H)
