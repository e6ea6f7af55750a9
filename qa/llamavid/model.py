"""The whole LLaMA-VID model: vision tower → head (2 tokens per frame) → Llama decoder, and greedy streaming
generation from ``inputs_embeds`` with a KV cache.

``LlamaVidModel`` holds only modules (so it can be built at any size from a config without tokenizers);
``LlamaVidTokenizers`` holds the LLM's tokenizer and the Q-Former's BERT tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from qa.llamavid.config import LlamaVidConfig
from qa.llamavid.head import InstructionTokens, LlamaVidHead, tokenize_instruction
from qa.llamavid.prompt import Frame, Piece, Text, frame_count
from qa.llamavid.vision import VisionTower


@dataclass(frozen=True)
class LlamaVidTokenizers:
    llm: object  # a transformers tokenizer for the Llama vocabulary
    qformer: object  # a BERT-style tokenizer for the Q-Former's vocabulary


@dataclass(frozen=True)
class PromptEmbeds:
    embeds: torch.Tensor  # (1, L, H)
    text_tokens: int
    visual_tokens: int

    @property
    def length(self) -> int:
        return self.embeds.shape[1]


class LlamaVidModel(nn.Module):
    def __init__(self, config: LlamaVidConfig) -> None:
        super().__init__()
        from transformers import LlamaForCausalLM

        self.config = config
        self.vision_tower = VisionTower(config.vision)
        self.head = LlamaVidHead(config)
        self.llm = LlamaForCausalLM(config.llm.to_transformers())

    @property
    def device(self) -> torch.device:
        return self.head.vlm_att_key_projector.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.head.vlm_att_key_projector.weight.dtype

    @torch.inference_mode()
    def frame_tokens(self, features: torch.Tensor, instruction: InstructionTokens) -> torch.Tensor:
        """(N, 1 + P, D) tower features → (N, T, H) tokens, block-wise."""
        return self.head.frame_tokens(features.to(self.device), instruction)

    @torch.inference_mode()
    def video_tokens(self, frames: Sequence[np.ndarray], instruction: InstructionTokens) -> torch.Tensor:
        """RGB uint8 frames → (N, T, H) tokens, tower and head block by block so an hour of frames fits."""
        block = self.config.block_frames
        out = [self.frame_tokens(self.vision_tower.features(frames[i:i + block], block), instruction)
               for i in range(0, len(frames), block)]
        if not out:
            return torch.zeros((0, self.config.tokens_per_frame, self.config.llm.hidden), dtype=self.dtype)
        return torch.cat(out, dim=0)

    @torch.inference_mode()
    def embed_prompt(self, pieces: Sequence[Piece], frame_tokens: torch.Tensor,
                     text_ids: Sequence[Sequence[int]], bos_token_id: int | None) -> PromptEmbeds:
        """Assemble ``inputs_embeds``: the ``Text`` pieces' token ids (``text_ids``, one list per text piece,
        in order) embedded by the LLM, each ``Frame`` replaced by its (T, H) tokens."""
        texts = [piece for piece in pieces if isinstance(piece, Text)]
        assert len(texts) == len(text_ids), f"{len(texts)} text pieces but {len(text_ids)} token lists"
        assert frame_tokens.shape[0] >= frame_count(pieces), (
            f"prompt has {frame_count(pieces)} frames but only {frame_tokens.shape[0]} frames of tokens")
        embed = self.llm.get_input_embeddings()
        device = embed.weight.device

        def embed_ids(ids: Sequence[int]) -> torch.Tensor:
            return embed(torch.tensor(list(ids), dtype=torch.long, device=device))  # (L, H)

        parts: list[torch.Tensor] = [embed_ids([bos_token_id])] if bos_token_id is not None else []
        text_iter = iter(text_ids)
        n_text = len(parts)
        n_visual = 0
        for piece in pieces:
            if isinstance(piece, Frame):
                tokens = frame_tokens[piece.index].to(device=device, dtype=embed.weight.dtype)  # (T, H)
                parts.append(tokens)
                n_visual += tokens.shape[0]
            else:
                ids = next(text_iter)
                parts.append(embed_ids(ids))
                n_text += len(ids)
        return PromptEmbeds(embeds=torch.cat(parts, dim=0)[None], text_tokens=n_text, visual_tokens=n_visual)

    @torch.inference_mode()
    def generate_ids(self, prompt: PromptEmbeds, max_new_tokens: int,
                     eos_token_id: int | None) -> Iterator[int]:
        """Greedy decoding with a KV cache: yields each new token id until EOS or ``max_new_tokens``."""
        out = self.llm(inputs_embeds=prompt.embeds, use_cache=True)
        for _ in range(max_new_tokens):
            next_id = int(out.logits[0, -1].argmax())
            if next_id == eos_token_id:
                return
            yield next_id
            step = torch.tensor([[next_id]], dtype=torch.long, device=prompt.embeds.device)
            out = self.llm(input_ids=step, past_key_values=out.past_key_values, use_cache=True)


def tokenize_pieces(tokenizer, pieces: Sequence[Piece]) -> list[list[int]]:
    """Token ids of each ``Text`` piece, without special tokens (the BOS is added once, at the start)."""
    return [tokenizer(piece.text, add_special_tokens=False)["input_ids"]
            for piece in pieces if isinstance(piece, Text)]


def question_instruction(tokenizers: LlamaVidTokenizers, config: LlamaVidConfig,
                         question: str) -> InstructionTokens:
    return tokenize_instruction(tokenizers.qformer, question, config.qformer.instruction_max_tokens)


def stream_text(tokenizer, ids: Iterator[int]) -> Iterator[str]:
    """Decode token ids as they come into text pieces; a piece ending in half a character waits for the
    rest."""
    seen: list[int] = []
    emitted = ""
    text = ""
    for token_id in ids:
        seen.append(token_id)
        text = tokenizer.decode(seen, skip_special_tokens=True)
        if text.endswith("\ufffd") or len(text) <= len(emitted) or not text.startswith(emitted):
            continue
        yield text[len(emitted):]
        emitted = text
    if len(text) > len(emitted) and text.startswith(emitted):
        yield text[len(emitted):]
