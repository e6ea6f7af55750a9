"""The vision-encoder contract and the batching, normalisation and pooling every backend shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from indexer.pooling import grid_pool, mean_pool

ResizeMode = Literal["center_crop", "squash"]


@dataclass(frozen=True)
class EncoderSpec:
    model: str  # a model id or a local directory
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = 32
    feature_layer: int = -2  # hidden layer whose patch features are pooled (-1: last)
    grid_k: int = 0  # also keep a k x k grid of pooled patches (0: mean only)


@dataclass(frozen=True)
class EncoderInfo:
    """What produced a vector. Two encoders with equal ``key`` give interchangeable vectors."""

    name: str  # the model id or directory as configured
    family: str  # "clip" or "siglip"
    revision: str  # digest of the config and weights (or the hub commit)
    embed_dim: int  # retrieval embedding size
    feature_dim: int  # patch feature size (vision hidden size)
    image_size: int  # square input side in pixels
    resize_mode: ResizeMode
    feature_layer: int
    grid_k: int

    @property
    def key(self) -> str:
        return f"{self.family}:{self.name}@{self.revision}:L{self.feature_layer}:k{self.grid_k}"


@dataclass(frozen=True)
class EncodedFrames:
    embeddings: np.ndarray  # (N, embed_dim) float32, L2-normalised
    pooled: np.ndarray  # (N, feature_dim) float32, mean over the patch grid (video content-token input)
    grid: np.ndarray | None  # (N, grid_k * grid_k, feature_dim) float32, or None when grid_k == 0


class VisionEncoder(Protocol):
    info: EncoderInfo

    def encode(self, frames: np.ndarray) -> EncodedFrames:
        """frames: (N, S, S, 3) uint8 RGB at ``info.image_size`` -> embeddings and pooled features."""
        ...


class TorchVisionEncoder:
    """Shared machinery; a backend writes ``_forward`` only."""

    def __init__(self, info: EncoderInfo, model: torch.nn.Module, mean: tuple[float, float, float],
                 std: tuple[float, float, float], device: torch.device, dtype: torch.dtype, batch_size: int) -> None:
        self.info = info
        self.model = model.eval().to(device=device, dtype=dtype)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self._mean = torch.tensor(mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(std, device=device, dtype=torch.float32).view(1, 3, 1, 1)

    def _forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pixels (B, 3, S, S) normalised -> embeddings (B, d) unnormalised, patches (B, P, D)."""
        raise NotImplementedError

    def _pixels(self, frames: np.ndarray) -> torch.Tensor:
        s = self.info.image_size
        assert frames.ndim == 4 and frames.shape[1:] == (s, s, 3) and frames.dtype == np.uint8, (
            f"expected (N, {s}, {s}, 3) uint8 frames, got {frames.shape} {frames.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)  # (B, S, S, 3) uint8
        x = x.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, S, S)
        return ((x - self._mean) / self._std).to(self.dtype)

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> EncodedFrames:
        embeds, pooled, grids = [], [], []
        for i in range(0, len(frames), self.batch_size):
            emb, patches = self._forward(self._pixels(frames[i:i + self.batch_size]))
            patches = patches.float()  # (B, P, D)
            embeds.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu())
            pooled.append(mean_pool(patches).cpu())
            if self.info.grid_k:
                grids.append(grid_pool(patches, self.info.grid_k).cpu())
        if not embeds:
            d, D, k = self.info.embed_dim, self.info.feature_dim, self.info.grid_k
            return EncodedFrames(np.zeros((0, d), np.float32), np.zeros((0, D), np.float32),
                                 np.zeros((0, k * k, D), np.float32) if k else None)
        return EncodedFrames(
            embeddings=torch.cat(embeds).numpy(),
            pooled=torch.cat(pooled).numpy(),
            grid=torch.cat(grids).numpy() if grids else None,
        )
