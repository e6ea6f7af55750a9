"""Typed configuration of a LLaMA-VID model: the EVA vision tower, the InstructBLIP Q-Former, the Llama
decoder, the projector sizes that follow from them, and the mode (image, video, long video) that decides
how frames become tokens.

Defaults are the released sizes (EVA ViT-g/14 at 224 px, BERT-base Q-Former with 32 queries, Vicuna-7B);
tests and benchmarks build smaller ones from the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import InstructBlipQFormerConfig, InstructBlipVisionConfig, LlamaConfig

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class VisionTowerConfig:
    """EVA ViT-g/14 as BLIP-2 and LLaMA-VID use it: the first 39 of its 40 blocks, no final norm, CLS +
    patches out."""

    width: int = 1408
    layers_used: int = 39
    heads: int = 16
    mlp_width: int = 6144
    patch_px: int = 14
    image_px: int = 224
    layer_norm_eps: float = 1e-6
    image_mean: tuple[float, float, float] = CLIP_MEAN
    image_std: tuple[float, float, float] = CLIP_STD

    @property
    def patches_per_side(self) -> int:
        return self.image_px // self.patch_px

    @property
    def patches_per_frame(self) -> int:
        return self.patches_per_side ** 2

    def to_transformers(self) -> InstructBlipVisionConfig:
        from transformers import InstructBlipVisionConfig

        return InstructBlipVisionConfig(hidden_size=self.width, intermediate_size=self.mlp_width,
                                        num_hidden_layers=self.layers_used, num_attention_heads=self.heads,
                                        image_size=self.image_px, patch_size=self.patch_px, hidden_act="gelu",
                                        layer_norm_eps=self.layer_norm_eps, qkv_bias=True)


@dataclass(frozen=True)
class QFormerConfig:
    """InstructBLIP's Q-Former: BERT-base layout, cross-attention to the frame every 2nd layer, learned
    queries, and the question fed alongside them (BERT tokenizer with the added [DEC] token: 30,523
    entries)."""

    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    cross_attention_every: int = 2
    queries: int = 32
    vocab_size: int = 30523
    max_positions: int = 512
    instruction_max_tokens: int = 256  # longer questions are truncated from the left (their end is kept)
    layer_norm_eps: float = 1e-12

    def to_transformers(self, encoder_width: int) -> InstructBlipQFormerConfig:
        from transformers import InstructBlipQFormerConfig

        return InstructBlipQFormerConfig(vocab_size=self.vocab_size, hidden_size=self.hidden,
                                         num_hidden_layers=self.layers, num_attention_heads=self.heads,
                                         intermediate_size=self.intermediate,
                                         cross_attention_frequency=self.cross_attention_every,
                                         max_position_embeddings=self.max_positions,
                                         layer_norm_eps=self.layer_norm_eps,
                                         encoder_hidden_size=encoder_width)


@dataclass(frozen=True)
class LlmConfig:
    """The Llama decoder (Vicuna-7B for the released models). ``rope_linear_factor`` 16 stretches a 4K model
    to the 64K-token context of the long-video model."""

    hidden: int = 4096
    layers: int = 32
    heads: int = 32
    kv_heads: int = 32
    intermediate: int = 11008
    vocab_size: int = 32000
    max_positions: int = 4096
    rope_theta: float = 10000.0
    rope_linear_factor: float | None = None
    rms_norm_eps: float = 1e-5
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 0

    @property
    def context_tokens(self) -> int:
        """The most prompt + answer tokens the decoder takes."""
        return int(self.max_positions * (self.rope_linear_factor or 1))

    def to_transformers(self) -> LlamaConfig:
        import inspect

        from transformers import LlamaConfig

        rope: dict[str, object] = {"rope_theta": self.rope_theta}
        if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:  # transformers ≥ 5
            kind = ({"rope_type": "linear", "factor": float(self.rope_linear_factor)}
                    if self.rope_linear_factor else {})
            rope = {"rope_parameters": {"rope_type": "default", **kind, "rope_theta": self.rope_theta}}
        elif self.rope_linear_factor:
            rope["rope_scaling"] = {"type": "linear", "factor": float(self.rope_linear_factor)}
        return LlamaConfig(hidden_size=self.hidden, num_hidden_layers=self.layers,
                           num_attention_heads=self.heads, num_key_value_heads=self.kv_heads,
                           intermediate_size=self.intermediate, vocab_size=self.vocab_size,
                           max_position_embeddings=self.max_positions, rms_norm_eps=self.rms_norm_eps,
                           bos_token_id=self.bos_token_id, eos_token_id=self.eos_token_id,
                           pad_token_id=self.pad_token_id, tie_word_embeddings=False, **rope)


# How the content token(s) of a frame are pooled from its patch features.
@dataclass(frozen=True)
class AllPatches:
    """Every patch feature becomes a content token (256 at 224 px)."""


@dataclass(frozen=True)
class GridPooling:
    """Average-pool the patch grid to ``side`` × ``side`` content tokens."""

    side: int

    def __post_init__(self) -> None:
        assert self.side >= 1, f"grid side must be at least 1, got {self.side}"


@dataclass(frozen=True)
class MeanPooling:
    """One content token: the mean of all patch features."""


ContentPooling = AllPatches | GridPooling | MeanPooling


@dataclass(frozen=True)
class ImageMode:
    """A still image: one context token plus all patches or a pooled grid."""

    pooling: AllPatches | GridPooling = AllPatches()


@dataclass(frozen=True)
class VideoMode:
    """A short video: two tokens per frame (context, mean-pooled content); the Q-Former sees CLS and
    patches."""


@dataclass(frozen=True)
class LongVideoMode:
    """An hour-long video: two tokens per frame, each frame followed by the subtitle lines it precedes. As in
    the released long-video model, the Q-Former sees the patch features only (features are stored without
    CLS)."""


Mode = ImageMode | VideoMode | LongVideoMode


def content_pooling(mode: Mode) -> ContentPooling:
    match mode:
        case ImageMode(pooling=pooling):
            return pooling
        case VideoMode() | LongVideoMode():
            return MeanPooling()
    raise ValueError(f"unsupported LLaMA-VID mode {mode!r}")


def content_tokens_per_frame(pooling: ContentPooling, patches_per_frame: int) -> int:
    match pooling:
        case AllPatches():
            return patches_per_frame
        case GridPooling(side=side):
            return side * side
        case MeanPooling():
            return 1
    raise ValueError(f"unsupported content pooling {pooling!r}")


def qformer_sees_cls(mode: Mode) -> bool:
    return not isinstance(mode, LongVideoMode)


def interleaves_subtitles(mode: Mode) -> bool:
    return isinstance(mode, LongVideoMode)


@dataclass(frozen=True)
class ProjectorSizes:
    """(in, out) of each projector, as in the released checkpoints."""

    text_query: tuple[int, int]  # vlm_att_projector: Q-Former hidden → vision width
    key: tuple[int, int]  # vlm_att_key_projector: vision width → vision width
    context_value: tuple[int, int]  # vlm_att_val_projector: vision width → LLM hidden
    content_mlp: tuple[int, int, int]  # mm_projector: vision width → LLM hidden → GELU → LLM hidden


@dataclass(frozen=True)
class LlamaVidConfig:
    vision: VisionTowerConfig = field(default_factory=VisionTowerConfig)
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    mode: Mode = VideoMode()
    block_frames: int = 64  # frames through the Q-Former and context attention at a time (bounds memory)

    def __post_init__(self) -> None:
        assert self.block_frames >= 1, f"block_frames must be at least 1, got {self.block_frames}"
        pooling = content_pooling(self.mode)
        if isinstance(pooling, GridPooling):
            side = self.vision.patches_per_side
            assert side % pooling.side == 0, f"grid {pooling.side} does not divide the {side}×{side} patches"

    @property
    def projector_sizes(self) -> ProjectorSizes:
        width, hidden = self.vision.width, self.llm.hidden
        return ProjectorSizes(text_query=(self.qformer.hidden, width), key=(width, width),
                              context_value=(width, hidden), content_mlp=(width, hidden, hidden))

    @property
    def tokens_per_frame(self) -> int:
        """Context token + content token(s): 2 in video modes."""
        return 1 + content_tokens_per_frame(content_pooling(self.mode), self.vision.patches_per_frame)


def release_7b(mode: Mode = VideoMode()) -> LlamaVidConfig:
    """The sizes of ``llama-vid-7b-full-224-video-fps-1`` (or ``-long-video``: RoPE ×16, 64K context)."""
    llm = LlmConfig(rope_linear_factor=16.0) if isinstance(mode, LongVideoMode) else LlmConfig()
    return LlamaVidConfig(llm=llm, mode=mode)
