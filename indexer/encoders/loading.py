"""One loading path for vision encoders: a model id or a local directory, resolved once, then predict many times."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from indexer.encoders.base import EncoderInfo, EncoderSpec, TorchVisionEncoder
from indexer.encoders.hf import ClipVisionEncoder, SiglipVisionEncoder
from indexer.errors import EncoderError

log = logging.getLogger(__name__)

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN, SIGLIP_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def _read_json(model: str, filename: str) -> dict[str, Any] | None:
    local = Path(model) / filename
    if local.is_file():
        return dict(json.loads(local.read_text()))
    try:
        from transformers.utils import cached_file

        resolved = cached_file(model, filename, _raise_exceptions_for_missing_entries=False)
    except Exception:  # no hub, not in the cache: the caller decides what that means
        return None
    return dict(json.loads(Path(resolved).read_text())) if resolved else None


def _revision(model: str, config: dict[str, Any]) -> str:
    """A digest of the config and of each weight file's name, size and first MiB."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    directory = Path(model)
    if directory.is_dir():
        for weight in sorted(p for p in directory.iterdir() if p.suffix in WEIGHT_SUFFIXES):
            digest.update(f"{weight.name}:{weight.stat().st_size}".encode())
            with open(weight, "rb") as handle:
                digest.update(handle.read(1 << 20))
    else:
        digest.update(str(config.get("_commit_hash", model)).encode())
    return digest.hexdigest()[:16]


def resolve_device(device: str) -> tuple[torch.device, torch.dtype]:
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise EncoderError("-", "device 'cuda' was asked for but CUDA is not available; use device 'auto' or 'cpu'")
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


@dataclass(frozen=True)
class _Resolved:
    info: EncoderInfo
    model_cls: Any
    backend: type[TorchVisionEncoder]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _resolve(spec: EncoderSpec) -> _Resolved:
    config = _read_json(spec.model, "config.json")
    if config is None:
        raise EncoderError(spec.model, "no config.json found: give a local model directory, or a model id that is "
                           "in the local Hugging Face cache (this machine may have no internet)")
    model_type = str(config.get("model_type", ""))
    match model_type:
        case "clip" | "clip_vision_model":
            from transformers import CLIPVisionModelWithProjection as model_cls

            family, backend, mean, std, resize = "clip", ClipVisionEncoder, CLIP_MEAN, CLIP_STD, "center_crop"
        case "siglip" | "siglip_vision_model":
            from transformers import SiglipVisionModel as model_cls  # type: ignore[assignment]

            family, backend, mean, std, resize = "siglip", SiglipVisionEncoder, SIGLIP_MEAN, SIGLIP_STD, "squash"
        case _:
            raise EncoderError(spec.model, f"unsupported architecture {model_type!r}: scenedex's visual channel "
                               "supports CLIP and SigLIP checkpoints")
    processor = _read_json(spec.model, "preprocessor_config.json") or {}
    from transformers import AutoConfig

    full = AutoConfig.from_pretrained(spec.model)
    vision = getattr(full, "vision_config", full)
    embed_dim = int(getattr(full, "projection_dim", 0) or vision.hidden_size)
    info = EncoderInfo(
        name=spec.model, family=family, revision=_revision(spec.model, config), embed_dim=embed_dim,
        feature_dim=int(vision.hidden_size), image_size=int(vision.image_size), resize_mode=resize,
        feature_layer=spec.feature_layer, grid_k=spec.grid_k,
    )
    return _Resolved(info, model_cls, backend, tuple(processor.get("image_mean", mean)),  # type: ignore[arg-type]
                     tuple(processor.get("image_std", std)))  # type: ignore[arg-type]


def describe_vision_encoder(spec: EncoderSpec) -> EncoderInfo:
    """What ``load_vision_encoder(spec)`` would produce, from the config alone (no weights are read)."""
    return _resolve(spec).info


def tower_config_of_full_clip(model: str, tower: Literal["vision", "text"]) -> dict[str, Any]:
    """A full CLIP checkpoint (both towers) keeps ``projection_dim`` at its top level: hand a tower a config that
    carries it, or its projection would be built at the default size and re-initialised."""
    from transformers import AutoConfig

    full = AutoConfig.from_pretrained(model)
    if getattr(full, "model_type", "") != "clip":
        return {}
    config = full.vision_config if tower == "vision" else full.text_config
    config.projection_dim = full.projection_dim
    return {"config": config}


def load_vision_encoder(spec: EncoderSpec) -> TorchVisionEncoder:
    """Load a CLIP or SigLIP vision tower. Raises EncoderError naming what is wrong and what to do."""
    resolved = _resolve(spec)
    device, dtype = resolve_device(spec.device)
    try:
        model = resolved.model_cls.from_pretrained(spec.model, **tower_config_of_full_clip(spec.model, "vision"))
    except Exception as exc:
        raise EncoderError(spec.model, f"cannot load the weights: {exc}") from exc
    log.info("loaded vision encoder %s on %s (%s)", resolved.info.key, device, dtype)
    return resolved.backend(resolved.info, model, resolved.mean, resolved.std, device, dtype, spec.batch_size)
