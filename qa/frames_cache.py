"""Frames a vision-language answer model looks at, decoded at question time and kept in an on-disk cache.

A frame is keyed by its file's content fingerprint (so a moved or renamed file still hits, a changed one misses),
its time and the square size it was decoded at. The cache holds ``.npy`` arrays, is bounded in bytes and forgets
the least recently used frames first; writes are atomic (a temporary file renamed into place), so concurrent
askers and crashes never leave half an array behind.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.sampling import ResizeMode, ffmpeg_binary, square_resize_filter
from qa.clip_image import resize_and_crop
from qa.errors import QaError

log = logging.getLogger(__name__)
PPM_HEADER = re.compile(rb"P6\s+(?P<w>\d+)\s+(?P<h>\d+)\s+255\s")  # binary RGB, one byte a channel


@dataclass(frozen=True)
class FrameKey:
    fingerprint: str  # the media file's content fingerprint (sha256 hex)
    t_s: float
    size_px: int  # frames are size_px x size_px RGB

    @property
    def file_name(self) -> str:
        return f"{self.fingerprint[:40]}-{round(self.t_s * 1000):010d}ms-{self.size_px}px-clip.npy"


class FramesCache:
    """Decoded frames on disk, at most ``max_bytes`` of them; thread-safe."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        assert max_bytes > 0, f"max_bytes must be positive, got {max_bytes}"
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key: FrameKey) -> np.ndarray | None:
        path = self.directory / key.file_name
        try:
            pixels = np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return None
        if pixels.shape != (key.size_px, key.size_px, 3) or pixels.dtype != np.uint8:
            return None
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:
            pass
        return pixels

    def put(self, key: FrameKey, pixels: np.ndarray) -> None:
        assert pixels.shape == (key.size_px, key.size_px, 3) and pixels.dtype == np.uint8, \
            f"a frame is ({key.size_px}, {key.size_px}, 3) uint8, got {pixels.shape} {pixels.dtype}"
        if pixels.nbytes > self.max_bytes:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".frame-", suffix=".npy", dir=self.directory)
        with os.fdopen(handle, "wb") as out:
            np.save(out, pixels, allow_pickle=False)
        os.replace(tmp, self.directory / key.file_name)
        self._evict()

    def get_or_decode(self, key: FrameKey, decode: Callable[[], np.ndarray]) -> np.ndarray:
        pixels = self.get(key)
        if pixels is None:
            pixels = decode()
            self.put(key, pixels)
        return pixels

    def size_bytes(self) -> int:
        return sum(size for _, _, size in self._entries())

    def _entries(self) -> list[tuple[float, Path, int]]:
        entries = []
        for path in self.directory.glob("*.npy") if self.directory.is_dir() else ():
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime, path, stat.st_size))
        return sorted(entries)

    def _evict(self) -> None:
        with self._lock:
            entries = self._entries()
            total = sum(size for _, _, size in entries)
            for _, path, size in entries:  # oldest use first
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size


def decode_frame(path: Path, t_s: float, size_px: int, stream_index: int | None = None,
                 resize_mode: ResizeMode = "center_crop") -> np.ndarray:
    """(size_px, size_px, 3) uint8 RGB: the picture shown at ``t_s`` (seeking, fine for a handful of frames)."""
    stream = f"0:{stream_index}" if stream_index is not None else "0:V:0?"
    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-ss", f"{max(0.0, t_s):.3f}", "-i", str(path),
               "-map", stream, "-frames:v", "1", "-vf", square_resize_filter(size_px, resize_mode),
               "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    expected = size_px * size_px * 3
    if done.returncode != 0 or len(done.stdout) < expected:
        raise QaError(f"no picture at {t_s:.2f} s in {path.name}: "
                      f"{done.stderr.decode(errors='replace').strip()[-300:] or 'nothing decoded'}",
                      "check the file still plays; re-index it with `scenedex index` if it changed")
    return np.frombuffer(done.stdout[:expected], dtype=np.uint8).reshape(size_px, size_px, 3).copy()


def decode_frame_clip(path: Path, t_s: float, size_px: int, stream_index: int | None = None) -> np.ndarray:
    """(size_px, size_px, 3) uint8 RGB as CLIP's image processor crops it: the picture at ``t_s`` decoded at its
    own resolution (as the reference's video reader gives it), then resized by PIL (``qa.clip_image``)."""
    return resize_and_crop(decode_native_frame(path, t_s, stream_index), size_px)


def decode_native_frame(path: Path, t_s: float, stream_index: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the picture shown at ``t_s`` at the stream's stored size (a PPM image on the pipe says
    its size)."""
    stream = f"0:{stream_index}" if stream_index is not None else "0:V:0?"
    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-ss", f"{max(0.0, t_s):.3f}", "-i", str(path),
               "-map", stream, "-frames:v", "1", "-pix_fmt", "rgb24", "-f", "image2pipe", "-c:v", "ppm", "pipe:1"]
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    header = PPM_HEADER.match(done.stdout)
    if done.returncode != 0 or header is None:
        raise QaError(f"no picture at {t_s:.2f} s in {path.name}: "
                      f"{done.stderr.decode(errors='replace').strip()[-300:] or 'nothing decoded'}",
                      "check the file still plays; re-index it with `scenedex index` if it changed")
    width, height = int(header["w"]), int(header["h"])
    body = done.stdout[header.end():header.end() + width * height * 3]
    if len(body) < width * height * 3:
        raise QaError(f"a truncated picture at {t_s:.2f} s in {path.name}",
                      "check the file still plays; re-index it with `scenedex index` if it changed")
    return np.frombuffer(body, dtype=np.uint8).reshape(height, width, 3).copy()
