"""Parity of scenedex's LLaMA-VID vision input with the official code, on identical random weights.

    git clone https://github.com/dvlab-research/LLaMA-VID /tmp/LLaMA-VID     # the official code, outside scenedex
    .venv/bin/python -m bench.llamavid_parity --reference /tmp/LLaMA-VID

The official files are imported from the checkout at run time and never copied: its EVA tower
(``llamavid/model/multimodal_encoder/eva_vit.py``: ``VisionTransformer``, ``interpolate_pos_embed``) and its image
processors (``llamavid/processor/clip-patch14-224`` and ``-336``, read by transformers' ``CLIPImageProcessor``).
``timm`` (which that file imports for training-only helpers) is replaced by a few stand-ins when it is not
installed. For each image size (224 px: the video models; 336 px: the image models, whose 224-px EVA file has its
positions resized), a reduced EVA tower (real patch size and grids, fewer and narrower blocks) is randomly
initialised, saved as a LAVIS ``eva_vit_g.pth``, and loaded by both sides; the script prints the largest
difference of the position embeddings, of the pixels of random frames of several shapes, and of the tower's
output features, and exits 1 if one is over its tolerance.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qa.llamavid.checkpoint import load_vision_tower
from qa.llamavid.config import VisionTowerConfig
from qa.llamavid.config_json import released_image_px
from qa.llamavid.vision import preprocess_frames

EVA_MODULE = "llamavid/model/multimodal_encoder/eva_vit.py"
TOLERANCE = {"positions": 1e-6, "pixels": 1e-6, "features": 1e-4}
FRAME_SHAPES = ((360, 640), (480, 360), (720, 1280), (224, 224), (101, 333))
WIDTH, HEADS, DEPTH, MLP_RATIO = 176, 2, 2, 4.3637  # the reference sets heads = width // 88, as EVA-g does


def _stand_in_timm() -> None:
    """Minimal ``timm`` names the reference file imports (used only for training and initialisation)."""
    try:
        import timm  # noqa: F401
        return
    except ImportError:
        pass

    def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
        if drop_prob == 0.0 or not training:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device) >= drop_prob
        return x * keep / (1 - drop_prob)

    layers = types.ModuleType("timm.models.layers")
    layers.drop_path = drop_path
    layers.to_2tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    layers.trunc_normal_ = nn.init.trunc_normal_
    registry = types.ModuleType("timm.models.registry")
    registry.register_model = lambda fn: fn
    models = types.ModuleType("timm.models")
    models.layers, models.registry = layers, registry
    timm = types.ModuleType("timm")
    timm.models = models
    sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers,
                        "timm.models.registry": registry})


def reference_eva(checkout: Path) -> types.ModuleType:
    path = checkout / EVA_MODULE
    if not path.is_file():
        raise SystemExit(f"{path} is missing: give --reference the root of a LLaMA-VID checkout")
    _stand_in_timm()
    spec = importlib.util.spec_from_file_location("llamavid_reference_eva_vit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_tower(eva: types.ModuleType, image_px: int) -> nn.Module:
    """The reference's EVA ``VisionTransformer`` as ``EVAVisionTowerLavis.load_model`` builds it, reduced."""
    return eva.VisionTransformer(img_size=image_px, patch_size=14, use_mean_pooling=False, embed_dim=WIDTH,
                                 depth=DEPTH, num_heads=WIDTH // 88, mlp_ratio=MLP_RATIO, qkv_bias=True,
                                 drop_path_rate=0.0, norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval()


def random_eva_file(eva: types.ModuleType, path: Path, seed: int) -> dict[str, torch.Tensor]:
    """A 224-px EVA state (LAVIS names, every weight random, biases included), saved as ``eva_vit_g.pth``; the
    classifier and final norm the tower does not use are left out, as in LAVIS's file."""
    torch.manual_seed(seed)
    model = reference_tower(eva, 224)
    state = {k: torch.randn_like(v) * (0.02 if v.ndim > 1 else 0.1) + (1.0 if k.endswith("norm1.weight") or
                                                                        k.endswith("norm2.weight") else 0.0)
             for k, v in model.state_dict().items() if not k.startswith(("head.", "norm.", "fc_norm."))}
    torch.save(state, path)
    return state


def compare(checkout: Path, image_px: int, seed: int = 0) -> dict[str, float]:
    from transformers import CLIPImageProcessor

    eva = reference_eva(checkout)
    processor_dir = checkout / "llamavid" / "processor" / f"clip-patch14-{image_px}"
    processor = CLIPImageProcessor.from_pretrained(str(processor_dir))
    assert processor.size["shortest_edge"] == image_px, processor.size
    assert released_image_px({"image_processor": f"./llamavid/processor/clip-patch14-{image_px}"}) == image_px
    with tempfile.TemporaryDirectory() as tmp:
        eva_file = Path(tmp) / "eva_vit_g.pth"
        state = random_eva_file(eva, eva_file, seed)
        ref = reference_tower(eva, image_px)
        ref_state = {k: v.clone() for k, v in state.items()}
        eva.interpolate_pos_embed(ref, ref_state)  # the reference's own resizing, as load_model calls it
        missing, unexpected = ref.load_state_dict(ref_state, strict=False)
        assert not unexpected and all(k.startswith(("head.", "norm.", "fc_norm.")) for k in missing), (missing,
                                                                                                     unexpected)
        ours = load_vision_tower(eva_file, VisionTowerConfig(width=WIDTH, layers_used=DEPTH, heads=WIDTH // 88,
                                                             mlp_width=int(WIDTH * MLP_RATIO), patch_px=14,
                                                             image_px=image_px))
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for shape in FRAME_SHAPES]
    ref_pixels = torch.from_numpy(np.asarray(processor(frames, return_tensors="np")["pixel_values"]))  # (N, 3, S, S)
    our_pixels = preprocess_frames(frames, ours.config)
    with torch.no_grad():
        ref_features = ref.forward_features(ref_pixels.float())  # (N, 1 + P, D)
        our_features = ours(our_pixels)
    positions = ours.embeddings.position_embedding.detach()
    return {"positions": float((positions - ref.pos_embed.detach()).abs().max()),
            "pixels": float((our_pixels - ref_pixels).abs().max()),
            "features": float((our_features - ref_features).abs().max()),
            "tokens": float(ref_features.shape[1]), "feature_scale": float(ref_features.abs().max())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, required=True, help="the root of a LLaMA-VID checkout")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = {f"{px}px": compare(args.reference.resolve(), px, args.seed) for px in (224, 336)}
    print(json.dumps(results, indent=1))
    failed = [f"{size} {name} {value:.2e} > {TOLERANCE[name]:.0e}" for size, r in results.items()
              for name, value in r.items() if name in TOLERANCE and value > TOLERANCE[name]]
    print("parity: " + ("FAILED " + "; ".join(failed) if failed else "every difference within tolerance"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
