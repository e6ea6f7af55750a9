"""A JPEG of one moment of a video, for result thumbnails."""

from __future__ import annotations

import subprocess
from pathlib import Path

from indexer.errors import DecodeError
from indexer.sampling import ffmpeg_binary


def _grab(path: Path, seek: list[str], stream: str, width_px: int) -> subprocess.CompletedProcess[bytes]:
    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", *seek, "-i", str(path), "-map", stream,
               "-frames:v", "1", "-vf", f"scale={width_px}:-2:flags=area", "-f", "image2pipe", "-c:v", "mjpeg",
               "-q:v", "4", "pipe:1"]
    return subprocess.run(command, capture_output=True, timeout=30, check=False)


def thumbnail_jpeg(path: Path, t_s: float, width_px: int = 320, stream_index: int | None = None) -> bytes:
    """The frame shown at ``t_s`` (near the end if past it), ``width_px`` wide, aspect kept, as JPEG.

    ``stream_index`` is the video stream scenedex indexed (a file can hold several programs).
    """
    assert 16 <= width_px <= 1920, f"thumbnail width {width_px} px"
    stream = f"0:{stream_index}" if stream_index is not None else "0:V:0?"
    done = _grab(path, ["-ss", f"{max(0.0, t_s):.3f}"], stream, width_px)
    if done.returncode == 0 and done.stdout:
        return done.stdout
    if t_s > 0:  # past the last frame: show one from the last half second
        tail = _grab(path, ["-sseof", "-0.5"], stream, width_px)
        if tail.returncode == 0 and tail.stdout:
            return tail.stdout
    raise DecodeError(path, f"no picture at {t_s:.2f} s", "the file has no video stream or cannot be decoded there",
                      done.stderr.decode(errors="replace")[-2000:])
