"""Decode a still image (query by example) exactly as frames are prepared for the encoder."""

from __future__ import annotations

import subprocess

import numpy as np

from indexer.errors import UnreadableMediaError
from indexer.sampling import ResizeMode, ffmpeg_binary, square_resize_filter

MAX_IMAGE_BYTES = 20 * 1024 * 1024


def decode_image(data: bytes, size_px: int, resize_mode: ResizeMode) -> np.ndarray:
    """Image file bytes (JPEG, PNG, WebP, ... anything ffmpeg reads) -> (size_px, size_px, 3) uint8 RGB."""
    if not data:
        raise UnreadableMediaError("<image>", "the example image is empty", "send the bytes of a JPEG or PNG file")
    if len(data) > MAX_IMAGE_BYTES:
        raise UnreadableMediaError("<image>", f"the example image is {len(data) // 1_048_576} MiB; the limit is "
                                   f"{MAX_IMAGE_BYTES // 1_048_576} MiB", "send a smaller picture")
    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-frames:v", "1",
               "-vf", f"{square_resize_filter(size_px, resize_mode)},format=rgb24", "-f", "rawvideo", "pipe:1"]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise UnreadableMediaError("<image>", "decoding the example image took over 30 s", "send a smaller picture") \
            from exc
    expected = size_px * size_px * 3
    if done.returncode != 0 or len(done.stdout) != expected:
        detail = done.stderr.decode(errors="replace")[-2000:]
        raise UnreadableMediaError("<image>", "the example is not an image ffmpeg can read",
                                   "send a JPEG, PNG or WebP file", detail)
    return np.frombuffer(done.stdout, dtype=np.uint8).reshape(size_px, size_px, 3)
