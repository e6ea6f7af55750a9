"""LLaMA-VID's vision input as the reference code makes it: frames prepared exactly as CLIP's image processor
prepares them (transformers' PIL CLIP processor, the one the reference uses, is the judge), and a 224-px EVA file
run at another size with its patch positions resized bicubically (checked against bicubic convolution written out
in numpy) and its class position kept, through both loading paths, on tiny random models."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from qa.clip_image import clip_pixels, resize_and_crop, shortest_side_size
from qa.errors import CheckpointError
from qa.llamavid.checkpoint import EVA_FILE, OWN_CONFIG, load_llamavid, load_vision_tower
from qa.llamavid.config import GridPooling, ImageMode, release_7b
from qa.llamavid.config_json import config_from_released, released_config_json, released_image_px
from qa.llamavid.position import resize_position_embedding
from qa.llamavid.vision import preprocess_frames
from tests.tiny_llamavid import TINY_VISION, random_frames, save_tiny_llamavid


def _clip_processor(size_px: int):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    # what CLIPImageProcessor is without torchvision (transformers falls back to it), and what the reference's
    # clip-patch14-<size> preprocessor_config.json describes: shortest edge, centre crop, bicubic, CLIP mean/std
    return CLIPImageProcessorPil(size={"shortest_edge": size_px}, crop_size={"height": size_px, "width": size_px},
                                 resample=3)


@pytest.mark.parametrize("size_px", [224, 336])
@pytest.mark.parametrize("shape", [(360, 640), (640, 480), (224, 224), (101, 333), (1080, 1920), (337, 336)])
def test_frames_are_prepared_exactly_as_the_clip_image_processor_does(size_px: int, shape: tuple[int, int]) -> None:
    frame = np.random.default_rng(sum(shape) + size_px).integers(0, 256, (*shape, 3), dtype=np.uint8)
    expected = _clip_processor(size_px)(frame, return_tensors="np")["pixel_values"][0]  # (3, S, S)
    assert expected.shape == (3, size_px, size_px)
    np.testing.assert_allclose(clip_pixels(frame, size_px), expected, rtol=0, atol=1e-6)
    vision = replace(TINY_VISION, image_px=size_px)
    batch = preprocess_frames([frame, frame[::-1].copy()], vision)  # (2, 3, S, S)
    assert batch.shape == (2, 3, size_px, size_px) and batch.dtype == torch.float32
    np.testing.assert_allclose(batch[0].numpy(), expected, rtol=0, atol=1e-6)
    assert not torch.equal(batch[0], batch[1])


def test_the_crop_keeps_the_centre_and_the_long_side_is_truncated() -> None:
    assert shortest_side_size(720, 1280, 224) == (224, 398)  # 398.2 truncated, as the processor does
    assert shortest_side_size(1280, 721, 336) == (596, 336)
    frame = np.zeros((100, 300, 3), dtype=np.uint8)
    frame[:, 100:200] = 255  # a white centre square between black sides
    crop = resize_and_crop(frame, 50)  # (50, 150) → the middle 50 columns
    assert crop.shape == (50, 50, 3) and crop[:, 5:45].min() >= 250 and crop.dtype == np.uint8


def _bicubic_numpy(grid: np.ndarray, new_side: int) -> np.ndarray:
    """(G, G, D) → (S, S, D): bicubic convolution (a = -0.75), half-pixel centres, borders repeated."""
    old = grid.shape[0]

    def weights(i: int) -> list[tuple[int, float]]:
        x = (i + 0.5) * old / new_side - 0.5
        x0 = math.floor(x)
        t = x - x0
        a = -0.75
        cubic = lambda d: ((a + 2) * d ** 3 - (a + 3) * d ** 2 + 1) if d <= 1 else (a * d ** 3 - 5 * a * d ** 2
                                                                                     + 8 * a * d - 4 * a)
        return [(min(max(x0 + k, 0), old - 1), cubic(abs(t - k))) for k in (-1, 0, 1, 2)]

    out = np.zeros((new_side, new_side, grid.shape[2]))
    for i in range(new_side):
        for j in range(new_side):
            out[i, j] = sum(wy * wx * grid[y, x] for y, wy in weights(i) for x, wx in weights(j))
    return out


def test_position_embeddings_are_resized_bicubically_and_the_class_position_is_kept() -> None:
    torch.manual_seed(0)
    positions = torch.randn(1, 1 + 16 * 16, 8)  # EVA at 224 px: 16×16 patches
    resized = resize_position_embedding(positions, 24)  # 336 px
    assert resized.shape == (1, 1 + 24 * 24, 8) and resized.dtype == torch.float32
    assert torch.equal(resized[:, 0], positions[:, 0]), "the class position is not interpolated"
    expected = _bicubic_numpy(positions[0, 1:].reshape(16, 16, 8).double().numpy(), 24).reshape(576, 8)
    np.testing.assert_allclose(resized[0, 1:].numpy(), expected, atol=1e-5)
    assert torch.equal(resize_position_embedding(positions, 16), positions), "the same size is left alone"
    constant = torch.full((1, 1 + 9, 4), 0.5)
    assert torch.allclose(resize_position_embedding(constant, 5), torch.full((1, 26, 4), 0.5)), "a flat grid stays"
    with pytest.raises(CheckpointError, match="not 1 \\+ a square grid"):
        resize_position_embedding(torch.zeros(1, 1 + 15, 4), 4)


def test_a_336_px_checkpoint_config_runs_the_tower_at_336_px() -> None:
    video = released_config_json(release_7b(ImageMode(GridPooling(4))))
    assert video["image_processor"] == "./llamavid/processor/clip-patch14-224"
    image_336 = config_from_released({**video, "image_processor": "./llamavid/processor/clip-patch14-336"})
    assert image_336.vision.image_px == 336 and image_336.vision.patches_per_frame == 576
    assert config_from_released(video).vision.image_px == 224
    assert released_image_px({"image_processor": "./model_zoo/OpenAI/clip-vit-large-patch14"}) == 224
    assert image_336.vision.to_transformers().image_size == 336


def _retarget(directory: Path, image_px: int) -> None:
    own = json.loads((directory / OWN_CONFIG).read_text())
    own["vision"]["image_px"] = image_px
    (directory / OWN_CONFIG).write_text(json.dumps(own))


def test_an_eva_file_trained_at_a_smaller_size_loads_with_its_positions_resized(tmp_path: Path) -> None:
    directory = save_tiny_llamavid(tmp_path / "ckpt", mode=ImageMode(GridPooling(2)))  # tower at 32 px: 4×4
    small = torch.load(directory / EVA_FILE, weights_only=True)["pos_embed"]  # (1, 1 + 16, 32)
    _retarget(directory, 48)  # 6×6 patches, as a 336-px checkpoint runs the 224-px EVA file
    loaded = load_llamavid(directory).model
    positions = loaded.vision_tower.embeddings.position_embedding.detach()
    assert positions.shape == (1, 1 + 36, TINY_VISION.width)
    expected = _bicubic_numpy(small[0, 1:].reshape(4, 4, -1).double().numpy(), 6).reshape(36, -1)
    np.testing.assert_allclose(positions[0, 1:].numpy(), expected, atol=1e-5)
    assert torch.equal(positions[:, 0], small[:, 0])
    features = loaded.vision_tower.features(random_frames(2, size=(60, 80)))  # (2, 1 + 36, D)
    assert features.shape == (2, 37, TINY_VISION.width) and torch.isfinite(features).all()
    vision = replace(TINY_VISION, image_px=48)
    tower = load_vision_tower(directory / EVA_FILE, vision)  # ingest's path: the tower alone
    assert torch.equal(tower.embeddings.position_embedding.detach(), positions)
