"""Tiny random CLIP and SigLIP checkpoints, saved to disk and loaded through scenedex's one loading path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.encoders import EncoderSpec, describe_vision_encoder, load_vision_encoder
from indexer.errors import EncoderError


def frames(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_encoder_yields_normalised_embeddings_and_pooled_patch_features(family, tiny_clip_dir, tiny_siglip_dir):
    model_dir = tiny_clip_dir if family == "clip" else tiny_siglip_dir
    encoder = load_vision_encoder(EncoderSpec(model=str(model_dir), device="cpu", batch_size=3, grid_k=2))
    out = encoder.encode(frames(7))
    info = encoder.info
    assert info.family == family and info.image_size == 32 and info.feature_dim == 32
    assert out.embeddings.shape == (7, info.embed_dim) and out.embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(out.embeddings, axis=1), 1.0, atol=1e-5)
    assert out.pooled.shape == (7, 32)
    assert out.grid is not None and out.grid.shape == (7, 4, 32)
    # The mean over the 2x2 grid is the mean over all patches (equal-sized blocks).
    assert np.allclose(out.grid.mean(axis=1), out.pooled, atol=1e-5)


def test_clip_pooled_features_are_the_penultimate_layer_patches_without_cls(tiny_clip_dir):
    from transformers import CLIPVisionModelWithProjection

    encoder = load_vision_encoder(EncoderSpec(model=str(tiny_clip_dir), device="cpu"))
    x = frames(2)
    out = encoder.encode(x)
    reference = CLIPVisionModelWithProjection.from_pretrained(tiny_clip_dir).eval()
    pixels = encoder._pixels(x)
    with torch.no_grad():
        ref = reference(pixel_values=pixels, output_hidden_states=True)
    expected = ref.hidden_states[-2][:, 1:].mean(dim=1).numpy()
    assert np.allclose(out.pooled, expected, atol=1e-5)
    expected_embed = torch.nn.functional.normalize(ref.image_embeds, dim=-1).numpy()
    assert np.allclose(out.embeddings, expected_embed, atol=1e-5)


def test_batching_does_not_change_the_result(tiny_siglip_dir):
    x = frames(5, seed=3)
    whole = load_vision_encoder(EncoderSpec(model=str(tiny_siglip_dir), device="cpu", batch_size=5)).encode(x)
    one_by_one = load_vision_encoder(EncoderSpec(model=str(tiny_siglip_dir), device="cpu", batch_size=1)).encode(x)
    assert np.allclose(whole.embeddings, one_by_one.embeddings, atol=1e-5)


def test_describe_matches_load_without_reading_weights(tiny_clip_dir):
    spec = EncoderSpec(model=str(tiny_clip_dir), device="cpu")
    assert describe_vision_encoder(spec) == load_vision_encoder(spec).info


def test_changed_weights_change_the_model_key(tiny_clip_dir, tmp_path):
    from transformers import CLIPVisionModelWithProjection

    other = tmp_path / "retrained"
    model = CLIPVisionModelWithProjection.from_pretrained(tiny_clip_dir)
    with torch.no_grad():
        model.visual_projection.weight.add_(1.0)
    model.save_pretrained(other)
    a = describe_vision_encoder(EncoderSpec(model=str(tiny_clip_dir)))
    b = describe_vision_encoder(EncoderSpec(model=str(other)))
    assert a.key != b.key


def test_unsupported_architecture_is_named(tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "resnet"}))
    with pytest.raises(EncoderError, match="unsupported architecture 'resnet'"):
        load_vision_encoder(EncoderSpec(model=str(tmp_path)))


def test_missing_model_directory_says_what_to_do(tmp_path: Path):
    with pytest.raises(EncoderError, match="no config.json"):
        describe_vision_encoder(EncoderSpec(model=str(tmp_path / "nowhere")))


def test_wrong_frame_size_is_refused_with_both_shapes(tiny_clip_dir):
    encoder = load_vision_encoder(EncoderSpec(model=str(tiny_clip_dir), device="cpu"))
    with pytest.raises(AssertionError, match=r"expected \(N, 32, 32, 3\) uint8 frames, got \(1, 64, 64, 3\)"):
        encoder.encode(frames(1, size=64))
