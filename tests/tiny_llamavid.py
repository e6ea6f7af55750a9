"""Tiny randomly initialised LLaMA-VID models of the real architectures (InstructBLIP vision tower and
Q-Former, Llama decoder), and checkpoint directories written in the released layout so scenedex loads them
through its own loader: sharded weights + index json, eva_vit_g.pth (with an extra, unused last block as
EVA-g has), instruct_blip_vicuna7b_trimmed.pth, word-level tokenizers for the LLM and the Q-Former."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from qa.llamavid.checkpoint import EVA_FILE, QFORMER_TOKENIZER_DIR, build_model, save_llamavid
from qa.llamavid.config import LlamaVidConfig, LlmConfig, Mode, QFormerConfig, VideoMode, VisionTowerConfig
from qa.llamavid.model import LlamaVidModel
from tests.tiny_models import SPECIALS, WORDS, save_word_tokenizer

VOCAB = len(SPECIALS) + len(WORDS)
BOS, EOS = 2, 3

TINY_VISION = VisionTowerConfig(width=32, layers_used=2, heads=2, mlp_width=64, patch_px=8,
                                image_px=32)  # 4×4 patches
TINY_QFORMER = QFormerConfig(hidden=32, layers=2, heads=2, intermediate=64, queries=4, vocab_size=VOCAB,
                             max_positions=64, instruction_max_tokens=12)
TINY_LLM = LlmConfig(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab_size=VOCAB,
                     max_positions=512, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=0)


def tiny_config(mode: Mode = VideoMode(), block_frames: int = 64) -> LlamaVidConfig:
    return LlamaVidConfig(vision=TINY_VISION, qformer=TINY_QFORMER, llm=TINY_LLM, mode=mode,
                          block_frames=block_frames)


def tiny_model(mode: Mode = VideoMode(), seed: int = 0, block_frames: int = 64) -> LlamaVidModel:
    torch.manual_seed(seed)
    model = build_model(tiny_config(mode, block_frames))
    with torch.no_grad():  # a random decoder often stops at once; EOS at logit 0 lets answers have words
        model.llm.lm_head.weight[EOS].zero_()
    return model


def random_frames(n: int, seed: int = 0, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(*size, 3), dtype=np.uint8) for _ in range(n)]


def save_tiny_llamavid(path: Path, mode: Mode = VideoMode(), seed: int = 0, safetensors: bool = False,
                       model: LlamaVidModel | None = None) -> Path:
    """A tiny checkpoint directory in the released layout (of ``model``, or a new one); returns ``path``."""
    model = model if model is not None else tiny_model(mode, seed)
    save_llamavid(model, path, shards=2, safetensors=safetensors)
    eva = torch.load(path / EVA_FILE, weights_only=True)
    last = model.config.vision.layers_used - 1
    unused_block = {key.replace(f"blocks.{last}.", f"blocks.{last + 1}.", 1): tensor.clone()
                    for key, tensor in eva.items() if key.startswith(f"blocks.{last}.")}
    torch.save({**eva, **unused_block}, path / EVA_FILE)
    save_word_tokenizer(path)
    save_word_tokenizer(path / QFORMER_TOKENIZER_DIR)
    return path
