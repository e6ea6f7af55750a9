"""Generated media with exact ground truth, for the demo library, the tests and the benchmarks.

A clip is a sequence of segments from ffmpeg's lavfi sources joined by hard cuts (cut times are exact), with a
caption per segment, a readable clock, and a 16-bit "frame code" in the middle of the picture: a 4 x 4 grid of
black or white squares spelling the frame number, so a test can read back which source frame it was handed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CODE_BITS = 16
CODE_GRID_DIVISOR = 12  # a cell is 1/12 of the short side: the code covers ~8% of the picture,
# small enough that bits flipping never look like a scene cut
SOURCES = {
    "bars": "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot": "mandelbrot=size={w}x{h}:rate={fps}",
    "life": "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.1:death_color=#2060C0:life_color=#F0C020",
    "red": "color=c=#C03020:size={w}x{h}:rate={fps}",
    "green": "color=c=#30A040:size={w}x{h}:rate={fps}",
    "blue": "color=c=#2040B0:size={w}x{h}:rate={fps}",
    # more still backgrounds (the search-quality library: one still picture per scene, neighbours far apart)
    "orange": "color=c=#D07010:size={w}x{h}:rate={fps}",
    "purple": "color=c=#6A2C90:size={w}x{h}:rate={fps}",
    "teal": "color=c=#108080:size={w}x{h}:rate={fps}",
    "gray": "color=c=#606060:size={w}x{h}:rate={fps}",
    "navy": "color=c=#101C48:size={w}x{h}:rate={fps}",
    "olive": "color=c=#707018:size={w}x{h}:rate={fps}",
    "smptebars": "smptebars=size={w}x{h}:rate={fps}",
}


@dataclass(frozen=True)
class Segment:
    source: str  # a key of SOURCES
    duration_s: float
    caption: str = ""


def _escape(text: str) -> str:
    """A caption as drawtext's option value (quoted): its text is drawn as written (``expansion=none``: a "%"
    is a percent sign, not the start of an expansion)."""
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\u2019")


def _code_boxes(w: int, h: int) -> str:
    """drawbox filters writing bit i of the frame number as a white square (cell i of a 4 x 4 centred grid)."""
    cell = min(w, h) // CODE_GRID_DIVISOR
    x0, y0 = (w - 4 * cell) // 2, (h - 4 * cell) // 2
    boxes = [f"drawbox=x={x0}:y={y0}:w={4 * cell}:h={4 * cell}:color=black:t=fill"]
    for bit in range(CODE_BITS):
        x, y = x0 + (bit % 4) * cell, y0 + (bit // 4) * cell
        boxes.append(f"drawbox=x={x}:y={y}:w={cell}:h={cell}:color=white:t=fill:"
                     f"enable='eq(mod(floor(n/{2**bit}),2),1)'")
    return ",".join(boxes)


def read_frame_code(frame: np.ndarray) -> int:
    """Read the frame number back from an RGB frame (H, W, 3) uint8 that kept the centre of the picture.

    Works on the original picture and on a centre crop scaled to a square, since the grid is centred and
    sized from the short side.
    """
    h, w, _ = frame.shape
    cell = min(w, h) / CODE_GRID_DIVISOR
    x0, y0 = (w - 4 * cell) / 2, (h - 4 * cell) / 2
    gray = frame.mean(axis=2)
    value = 0
    for bit in range(CODE_BITS):
        cx, cy = x0 + (bit % 4 + 0.5) * cell, y0 + (bit // 4 + 0.5) * cell
        patch = gray[int(cy - cell / 4):int(cy + cell / 4), int(cx - cell / 4):int(cx + cell / 4)]
        if patch.mean() > 128:
            value |= 1 << bit
    return value


def make_clip(path: Path, segments: Sequence[Segment], *, size: tuple[int, int] = (320, 240), fps: int = 25,
              frame_code: bool = True, clock: bool = True, gop: int = 50) -> list[float]:
    """Write an H.264 mp4 and return its cut times in seconds (exact: segment durations are whole frames)."""
    w, h = size
    inputs: list[str] = []
    labels = []
    for i, seg in enumerate(segments):
        frames = round(seg.duration_s * fps)
        inputs += ["-f", "lavfi", "-i", SOURCES[seg.source].format(w=w, h=h, fps=fps) + f",trim=end_frame={frames}"]
        chain = f"[{i}:v]setsar=1,format=yuv420p"
        if seg.caption:
            chain += (f",drawtext=fontfile={FONT}:text='{_escape(seg.caption)}':expansion=none:"
                      f"fontsize={max(12, h // 14)}:fontcolor=white:box=1:boxcolor=black@0.6:"
                      f"x=(w-text_w)/2:y=h-{h // 6}")
        graph_label = f"s{i}"
        labels.append(f"[{graph_label}]")
        inputs_graph = f"{chain}[{graph_label}]"
        segments_graph = inputs_graph if i == 0 else segments_graph + ";" + inputs_graph  # noqa: F821
    clock_text = (f"drawtext=fontfile={FONT}:text='%{{pts\\:hms}}  n=%{{n}}':fontsize={max(10, h // 18)}:"
             "fontcolor=yellow:box=1:boxcolor=black@0.7:x=8:y=8")
    post = ",".join([clock_text] * clock + [_code_boxes(w, h)] * frame_code) or "null"
    graph = f"{segments_graph};{''.join(labels)}concat=n={len(segments)}:v=1:a=0,{post}[out]"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph,
                    "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", str(gop),
                    "-pix_fmt", "yuv420p", "-r", str(fps), str(path)], check=True)
    cuts, t = [], 0.0
    for seg in segments[:-1]:
        t += round(seg.duration_s * fps) / fps
        cuts.append(t)
    return cuts


def make_audio_only(path: Path, duration_s: float = 3.0) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={duration_s}", "-c:a", "aac", str(path)], check=True)


def make_bad_files(folder: Path, good_mp4: Path) -> dict[str, Path]:
    """The bad inputs a real library holds: empty, truncated, not media at all, and audio only."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"empty": folder / "empty.mp4", "truncated": folder / "truncated.mp4",
             "not_video": folder / "notes.mkv", "audio_only": folder / "audio_only.mp4"}
    files["empty"].write_bytes(b"")
    data = good_mp4.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["not_video"].write_text("These are meeting notes, not a video.\n" * 50)
    make_audio_only(files["audio_only"])
    return files
