"""A frame prepared the way CLIP's image processor prepares it (the processor LLaMA-VID's reference code feeds its
EVA tower with: ``llamavid/processor/clip-patch14-224`` and ``-336``): the shortest side resized to S px with PIL's
bicubic filter (the long side truncated, as the processor computes it), a centre crop of S×S (the extra row or
column goes to the bottom and right), then scaled to [0, 1] and normalised with the CLIP mean and standard
deviation. Computed with PIL and numpy in the same order and precision, so the pixels equal the processor's to
float32 rounding.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def shortest_side_size(height: int, width: int, size_px: int) -> tuple[int, int]:
    """(new_height, new_width) with the shortest side ``size_px`` and the other scaled, truncated.

    >>> shortest_side_size(720, 1280, 224)
    (224, 398)
    >>> shortest_side_size(640, 480, 336)
    (448, 336)
    """
    if width <= height:
        return int(size_px * height / width), size_px
    return size_px, int(size_px * width / height)


def resize_and_crop(frame: np.ndarray, size_px: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (S, S, 3) uint8: bicubic resize of the shortest side (PIL), centre crop."""
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8, (
        f"want an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    new_h, new_w = shortest_side_size(frame.shape[0], frame.shape[1], size_px)
    image = Image.fromarray(np.ascontiguousarray(frame), mode="RGB")
    if (new_w, new_h) != image.size:
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    pixels = np.asarray(image)  # (new_h, new_w, 3)
    top, left = (new_h - size_px) // 2, (new_w - size_px) // 2
    return np.ascontiguousarray(pixels[top:top + size_px, left:left + size_px])


def normalise(pixels: np.ndarray, mean: tuple[float, float, float] = CLIP_MEAN,
              std: tuple[float, float, float] = CLIP_STD) -> np.ndarray:
    """(S, S, 3) uint8 → (3, S, S) float32: ×1/255 (in float64, then float32, as the processor rescales), then
    (x - mean) / std per channel."""
    scaled = (pixels.astype(np.float64) * (1 / 255)).astype(np.float32).transpose(2, 0, 1)  # (3, S, S)
    return (scaled - np.asarray(mean, dtype=np.float32)[:, None, None]) / np.asarray(std, dtype=np.float32)[:, None,
                                                                                                            None]


def clip_pixels(frame: np.ndarray, size_px: int, mean: tuple[float, float, float] = CLIP_MEAN,
                std: tuple[float, float, float] = CLIP_STD) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (3, S, S) float32, as CLIP's image processor gives ``pixel_values``."""
    return normalise(resize_and_crop(frame, size_px), mean, std)
