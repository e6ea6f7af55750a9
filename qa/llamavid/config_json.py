"""The configuration on disk: the released ``config.json`` (a Llama config with LLaMA-VID's fields added) and
scenedex's own ``llamavid.json``, which spells out every size (used for models that are not the released
sizes).

The released config names the content pooling in a string (``compress_type``: ``"mean"``, ``"grid:4"`` or
none); this is the one place that reads it, and it becomes a typed mode right here.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from qa.errors import CheckpointError
from qa.llamavid.config import (AllPatches, GridPooling, ImageMode, LlamaVidConfig, LlmConfig, LongVideoMode,
                                Mode, QFormerConfig, VideoMode, VisionTowerConfig)

OWN_CONFIG = "llamavid.json"


def mode_to_dict(mode: Mode) -> dict[str, Any]:
    match mode:
        case ImageMode(pooling=GridPooling(side=side)):
            return {"kind": "image", "grid_side": side}
        case ImageMode():
            return {"kind": "image", "grid_side": None}
        case VideoMode():
            return {"kind": "video"}
        case LongVideoMode():
            return {"kind": "long_video"}
    raise ValueError(f"unsupported LLaMA-VID mode {mode!r}")


def mode_from_dict(data: dict[str, Any]) -> Mode:
    match data.get("kind"):
        case "image":
            side = data.get("grid_side")
            return ImageMode(GridPooling(int(side)) if side else AllPatches())
        case "video":
            return VideoMode()
        case "long_video":
            return LongVideoMode()
    raise CheckpointError(f"unknown LLaMA-VID mode {data!r} in {OWN_CONFIG}",
                          hint='use kind "image" (with grid_side or null), "video" or "long_video"')


def config_to_dict(config: LlamaVidConfig) -> dict[str, Any]:
    return {"vision": dataclasses.asdict(config.vision), "qformer": dataclasses.asdict(config.qformer),
            "llm": dataclasses.asdict(config.llm), "mode": mode_to_dict(config.mode),
            "block_frames": config.block_frames}


def _fields(cls, data: dict[str, Any], where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CheckpointError(f"unknown field(s) {', '.join(unknown)} in {where} of {OWN_CONFIG}",
                              hint=f"known fields: {', '.join(sorted(names))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def config_from_dict(data: dict[str, Any]) -> LlamaVidConfig:
    return LlamaVidConfig(vision=_fields(VisionTowerConfig, data.get("vision", {}), "vision"),
                          qformer=_fields(QFormerConfig, data.get("qformer", {}), "qformer"),
                          llm=_fields(LlmConfig, data.get("llm", {}), "llm"),
                          mode=mode_from_dict(data.get("mode", {"kind": "video"})),
                          block_frames=int(data.get("block_frames", 64)))


def released_mode(compress_type: str | None, long_video: bool) -> Mode:
    """The released ``compress_type`` → a typed mode (``long_video``: the checkpoint stretches RoPE)."""
    if compress_type is None:
        return ImageMode(AllPatches())
    if compress_type == "mean":
        return LongVideoMode() if long_video else VideoMode()
    if grid := re.fullmatch(r"grid:(\d+)", compress_type):
        return ImageMode(GridPooling(int(grid[1])))
    raise CheckpointError(f"unknown compress_type {compress_type!r} in config.json",
                          hint='LLaMA-VID checkpoints use "mean", "grid:<k>" or no compress_type')


def _linear_rope_factor(rope_scaling: dict[str, Any] | None) -> float | None:
    if not rope_scaling:
        return None
    kind = rope_scaling.get("type", rope_scaling.get("rope_type"))
    if kind != "linear":
        raise CheckpointError(f"rope_scaling {rope_scaling!r} in config.json is not linear",
                              hint="LLaMA-VID's long-video model uses linear RoPE scaling (factor 16)")
    return float(rope_scaling["factor"])


def released_image_px(data: dict[str, Any]) -> int:
    """The image size the checkpoint runs its tower at, from the image processor it names (``image_processor``:
    ``./llamavid/processor/clip-patch14-336`` for the 336-px image models, ``…-224`` or the CLIP ViT-L/14
    processor, 224 px, for the others; the reference sizes the tower by the processor's shortest edge).

    >>> released_image_px({"image_processor": "./llamavid/processor/clip-patch14-336"})
    336
    >>> released_image_px({"image_processor": "./model_zoo/OpenAI/clip-vit-large-patch14"})
    224
    >>> released_image_px({})
    224
    """
    processor = str(data.get("image_processor") or "")
    size = re.search(r"patch14-(\d+)/?$", processor)
    if size is None:
        return 224
    px = int(size[1])
    if not 1 <= px <= 4096:
        raise CheckpointError(f"image_processor {processor!r} in config.json names a {px}-px image size",
                              hint="LLaMA-VID runs EVA ViT-g/14 at 224 or 336 px")
    return px


def config_from_released(data: dict[str, Any]) -> LlamaVidConfig:
    """A released ``config.json`` → config with the released EVA-g and BERT-base sizes and the LLM it
    describes."""
    try:
        heads = int(data["num_attention_heads"])
        llm = LlmConfig(hidden=int(data["hidden_size"]), layers=int(data["num_hidden_layers"]), heads=heads,
                        kv_heads=int(data.get("num_key_value_heads") or heads),
                        intermediate=int(data["intermediate_size"]), vocab_size=int(data["vocab_size"]),
                        max_positions=int(data.get("max_position_embeddings", 4096)),
                        rope_theta=float(data.get("rope_theta", 10000.0)),
                        rope_linear_factor=_linear_rope_factor(data.get("rope_scaling")),
                        rms_norm_eps=float(data.get("rms_norm_eps", 1e-5)),
                        bos_token_id=int(data.get("bos_token_id", 1)),
                        eos_token_id=int(data.get("eos_token_id", 2)),
                        pad_token_id=int(data.get("pad_token_id") or 0))
    except KeyError as exc:
        raise CheckpointError(f"config.json lacks {exc.args[0]}",
                              hint="the directory must hold the LLaMA-VID model's own config.json") from exc
    vision = VisionTowerConfig(width=int(data.get("mm_hidden_size", 1408)), image_px=released_image_px(data))
    qformer = QFormerConfig(queries=int(data.get("num_query", 32)))
    mode = released_mode(data.get("compress_type"), long_video=llm.rope_linear_factor is not None)
    return LlamaVidConfig(vision=vision, qformer=qformer, llm=llm, mode=mode)


def released_config_json(config: LlamaVidConfig) -> dict[str, Any]:
    """``config.json`` as the released checkpoints write it (the Llama fields plus LLaMA-VID's)."""
    llm = config.llm
    match config.mode:
        case ImageMode(pooling=GridPooling(side=side)):
            compress_type: str | None = f"grid:{side}"
        case ImageMode():
            compress_type = None
        case _:
            compress_type = "mean"
    return {"architectures": ["LlavaLlamaAttForCausalLM"], "model_type": "llava",
            "hidden_size": llm.hidden, "num_hidden_layers": llm.layers, "num_attention_heads": llm.heads,
            "num_key_value_heads": llm.kv_heads, "intermediate_size": llm.intermediate,
            "vocab_size": llm.vocab_size,
            "max_position_embeddings": llm.max_positions, "rope_theta": llm.rope_theta,
            "rms_norm_eps": llm.rms_norm_eps, "bos_token_id": llm.bos_token_id,
            "eos_token_id": llm.eos_token_id,
            "pad_token_id": llm.pad_token_id, "hidden_act": "silu", "tie_word_embeddings": False,
            "mm_hidden_size": config.vision.width, "num_query": config.qformer.queries,
            "compress_type": compress_type, "bert_type": "qformer_pretrain",
            "mm_projector_type": "mlp2x_gelu",
            "mm_vision_tower": "eva_vit_g.pth", "mm_vision_select_feature": "patch",
            "image_processor": f"./llamavid/processor/clip-patch14-{config.vision.image_px}",
            "mm_use_im_start_end": False, "mm_use_im_patch_token": False,
            **({"rope_scaling": {"type": "linear", "factor": llm.rope_linear_factor}}
               if llm.rope_linear_factor else {})}
