"""Key names of the released files and where they go in ``LlamaVidModel``.

Three files, three naming schemes:
- the LLaMA-VID checkpoint (sharded, with an index json): ``model.vlm_att_*``, ``model.mm_projector.*``,
  the Llama keys ``model.embed_tokens``/``model.layers.*``/``model.norm``/``lm_head``, the Q-Former under
  ``model.vlm_att_encoder.bert.*`` in LAVIS/BERT names, and possibly the tower under
  ``model.vision_tower.vision_tower.*``;
- ``eva_vit_g.pth`` (LAVIS EVA names): ``cls_token``, ``pos_embed``, ``patch_embed.proj``,
  ``blocks.N.norm1``, ``blocks.N.attn.qkv`` with separate ``q_bias``/``v_bias``, ``blocks.N.attn.proj``,
  ``blocks.N.norm2``, ``blocks.N.mlp.fc1``/``fc2``; EVA-g has 40 blocks of which the first 39 are used;
- ``instruct_blip_vicuna7b_trimmed.pth`` (under ``"model"``): ``Qformer.bert.*``, ``ln_vision.*``,
  ``query_tokens``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

# --- EVA (LAVIS) ↔ transformers' InstructBLIP vision model ----------------------------------------------
_EVA_TOP = {"cls_token": "embeddings.class_embedding", "pos_embed": "embeddings.position_embedding",
            "patch_embed.proj.weight": "embeddings.patch_embedding.weight",
            "patch_embed.proj.bias": "embeddings.patch_embedding.bias"}
_EVA_BLOCK = {"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.qkv.weight": "self_attn.qkv.weight",
              "attn.proj": "self_attn.projection", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
_EVA_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(.+)")


@dataclass
class MappedState:
    """A state dict renamed to module names, plus the source names it could not place."""

    tensors: dict[str, torch.Tensor]
    unused: list[str]  # known but deliberately not loaded (e.g. EVA's 40th block)
    unexpected: list[str]  # unknown: an error unless the caller decides otherwise


def _block_prefix(rest: str, names: dict[str, str]) -> str | None:
    return next((p for p in names if rest == p or rest.startswith(p + ".")), None)


def eva_to_tower(eva: dict[str, torch.Tensor], layers_used: int) -> MappedState:
    """Rename an EVA state dict to ``VisionTower`` names (``embeddings.*``, ``encoder.layers.N.*``)."""
    out = MappedState({}, [], [])
    biases: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in eva.items():
        if name in _EVA_TOP:
            out.tensors[_EVA_TOP[name]] = tensor
            continue
        match = _EVA_BLOCK_KEY.fullmatch(name)
        if not match:
            out.unexpected.append(name)
            continue
        layer, rest = int(match[1]), match[2]
        if layer >= layers_used:
            out.unused.append(name)
        elif rest in ("attn.q_bias", "attn.v_bias"):
            biases.setdefault(layer, {})[rest] = tensor
        elif (prefix := _block_prefix(rest, _EVA_BLOCK)) is not None:
            out.tensors[f"encoder.layers.{layer}.{_EVA_BLOCK[prefix]}{rest[len(prefix):]}"] = tensor
        else:
            out.unexpected.append(name)
    for layer, pair in sorted(biases.items()):
        if len(pair) < 2:  # half a bias fills nothing: the layer's qkv bias is then reported missing
            continue
        q_bias, v_bias = pair["attn.q_bias"], pair["attn.v_bias"]
        qkv_bias = torch.cat([q_bias, torch.zeros_like(q_bias), v_bias])  # (3D,): keys have no bias
        out.tensors[f"encoder.layers.{layer}.self_attn.qkv.bias"] = qkv_bias
    return out


def tower_to_eva(tower: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``VisionTower`` state dict → EVA names (the inverse of ``eva_to_tower``; the key part of the bias is
    0)."""
    top = {v: k for k, v in _EVA_TOP.items()}
    block = {v: k for k, v in _EVA_BLOCK.items()}
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tower.items():
        if name in top:
            out[top[name]] = tensor
            continue
        match = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", name)
        assert match, f"not a vision tower key: {name}"
        layer, rest = match[1], match[2]
        if rest == "self_attn.qkv.bias":
            q_bias, _, v_bias = tensor.chunk(3)
            out[f"blocks.{layer}.attn.q_bias"], out[f"blocks.{layer}.attn.v_bias"] = q_bias, v_bias
            continue
        prefix = _block_prefix(rest, block)
        assert prefix is not None, f"not a vision tower key: {name}"
        out[f"blocks.{layer}.{block[prefix]}{rest[len(prefix):]}"] = tensor
    return out


# --- LAVIS BERT Q-Former ↔ transformers' InstructBLIP Q-Former ------------------------------------------
_ATTENTION = r"^(encoder\.layer\.\d+\.(?:attention|crossattention))"
_LAVIS_TO_HF = [(re.compile(r"^embeddings\.LayerNorm\."), "embeddings.layernorm."),
                (re.compile(_ATTENTION + r"\.self\."), r"\1.attention.")]
_HF_TO_LAVIS = [(re.compile(r"^embeddings\.layernorm\."), "embeddings.LayerNorm."),
                (re.compile(_ATTENTION + r"\.attention\."), r"\1.self.")]


def lavis_to_qformer(name: str) -> str | None:
    """A key of LAVIS's ``Qformer.bert`` (without that prefix) → ``InstructBlipQFormerModel`` name; None for
    the ``position_ids`` buffer, which transformers rebuilds."""
    if name == "embeddings.position_ids":
        return None
    for pattern, replacement in _LAVIS_TO_HF:
        name = pattern.sub(replacement, name)
    return name


def qformer_to_lavis(name: str) -> str:
    for pattern, replacement in _HF_TO_LAVIS:
        name = pattern.sub(replacement, name)
    return name


# --- the LLaMA-VID checkpoint ---------------------------------------------------------------------------
RELEASED_HEAD = ("vlm_att_query", "vlm_att_ln.", "vlm_att_projector.", "vlm_att_key_projector.",
                 "vlm_att_val_projector.", "mm_projector.")
_LLM_PREFIXES = ("model.embed_tokens.", "model.layers.", "model.norm.", "lm_head.")
QFORMER_PREFIX = "model.vlm_att_encoder.bert."
TOWER_PREFIX = "model.vision_tower.vision_tower."


@dataclass(frozen=True)
class Route:
    kind: str  # "module" (target: a LlamaVidModel key) | "eva" (target: an EVA key) | "ignore" | "unexpected"
    target: str = ""


def route_released(name: str) -> Route:
    """Where a key of the LLaMA-VID checkpoint goes."""
    if name.startswith(QFORMER_PREFIX):
        target = lavis_to_qformer(name[len(QFORMER_PREFIX):])
        return Route("module", "head.vlm_att_encoder." + target) if target else Route("ignore")
    if name.startswith("model.") and name[len("model."):].startswith(RELEASED_HEAD):
        rest = name[len("model."):]
        if rest.startswith("vlm_att_query") and rest != "vlm_att_query":
            return Route("unexpected")
        return Route("module", "head." + rest)
    if name.startswith(TOWER_PREFIX):
        return Route("eva", name[len(TOWER_PREFIX):])
    if name.endswith("rotary_emb.inv_freq"):  # saved by older transformers; rebuilt from the config
        return Route("ignore")
    if name.startswith(_LLM_PREFIXES):
        return Route("module", "llm." + name)
    return Route("unexpected")


def released_name(module_key: str) -> str:
    """A ``LlamaVidModel`` key of the head or the LLM → its name in the LLaMA-VID checkpoint."""
    if module_key.startswith("head.vlm_att_encoder."):
        return QFORMER_PREFIX + qformer_to_lavis(module_key[len("head.vlm_att_encoder."):])
    if module_key.startswith("head."):
        return "model." + module_key[len("head."):]
    if module_key.startswith("llm."):
        return module_key[len("llm."):]
    raise ValueError(f"{module_key} is not stored in the LLaMA-VID checkpoint")


# --- instruct_blip_vicuna7b_trimmed.pth -----------------------------------------------------------------
def route_qformer_file(name: str) -> Route:
    """Where a key of the InstructBLIP Q-Former file goes; its other parts (e.g. the projection to Vicuna) are
    not part of LLaMA-VID and are ignored, as the reference code ignores them."""
    if name.startswith("Qformer.bert."):
        target = lavis_to_qformer(name[len("Qformer.bert."):])
        return Route("module", "head.vlm_att_encoder." + target) if target else Route("ignore")
    if name.startswith("ln_vision."):
        return Route("module", "head.vlm_att_ln." + name[len("ln_vision."):])
    if name == "query_tokens":
        return Route("module", "head.vlm_att_query")
    return Route("ignore")


def qformer_file_name(module_key: str) -> str | None:
    """A head key → its name in the InstructBLIP Q-Former file, None for the parts that file does not hold."""
    if module_key.startswith("head.vlm_att_encoder."):
        return "Qformer.bert." + qformer_to_lavis(module_key[len("head.vlm_att_encoder."):])
    if module_key.startswith("head.vlm_att_ln."):
        return "ln_vision." + module_key[len("head.vlm_att_ln."):]
    if module_key == "head.vlm_att_query":
        return "query_tokens"
    return None
