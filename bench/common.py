"""Helpers shared by the benchmarks: test media, timing, reporting."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

OUT_DIR = Path(__file__).parent / "out"


def make_hd_clip(path: Path, duration_s: int = 60, size: str = "1920x1080", fps: int = 30) -> Path:
    """A moving test pattern with a hard cut every 10 s, H.264 at a typical GOP of 2 s."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, duration_s, 10):
        src = ["testsrc2", "mandelbrot", "life=mold=10:ratio=0.1"][i // 10 % 3]
        parts.append(f"{src}=size={size}:rate={fps}" if "=" not in src else f"{src}:size={size}:rate={fps}")
    inputs: list[str] = []
    for p in parts:
        inputs += ["-f", "lavfi", "-t", "10", "-i", p]
    graph = "".join(f"[{i}:v]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=1:a=0,format=yuv420p[v]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "23", "-g", str(2 * fps), str(path)], check=True)
    return path


def plain_ffmpeg(path: Path, fps: float = 1.0, skip_nonref: bool = False) -> None:
    """The benchmarks' baseline: ``ffmpeg -i FILE -vf fps=N -f null -`` (decode everything, keep N frames a
    second, write nothing), run by the same ffmpeg scenedex decodes with; ``skip_nonref``: with ``-skip_frame
    noref`` before the input, the decoding shortcut scenedex takes by default (indexer.nonref)."""
    from indexer.sampling import ffmpeg_binary

    skip = ["-skip_frame", "noref"] if skip_nonref else []
    command = [ffmpeg_binary(), "-v", "error", "-nostdin", *skip, "-i", str(path), "-vf", f"fps={fps:g}", "-f",
               "null", "-"]
    subprocess.run(command, check=True)


def ffmpeg_baseline(files: list[Path], fps: float = 1.0, skip_nonref: bool = False) -> tuple[float, float]:
    """(wall s, CPU s) of ``plain_ffmpeg`` over ``files``, one after another."""
    cpu0, t0 = children_cpu_s(), time.perf_counter()
    for path in files:
        plain_ffmpeg(path, fps, skip_nonref)
    return time.perf_counter() - t0, children_cpu_s() - cpu0


def ffmpeg_version() -> str:
    """The first words of ``ffmpeg -version`` of the ffmpeg scenedex decodes with (the benchmarks' headers)."""
    from indexer.sampling import ffmpeg_binary

    out = subprocess.run([ffmpeg_binary(), "-version"], capture_output=True, text=True).stdout
    return " ".join(out.split()[:3])


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_s() -> float:
    """CPU seconds so far of this process (every thread) and of its children that were waited for (ffmpeg)."""
    return time.process_time() + children_cpu_s()


def timed(fn: Callable[[], object], repeats: int = 3) -> dict[str, float]:
    """Median wall time and median CPU time (this process and its children) over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu0, t0 = cpu_s(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_s() - cpu0)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def save(name: str, result: dict[str, object]) -> Path:
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    result = {"machine": f"{os.cpu_count()} cores", "when": time.strftime("%Y-%m-%d %H:%M"), **result}
    path.write_text(json.dumps(result, indent=2))
    return path


VIT_B16_SHAPE = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                     patch_size=16)  # CLIP ViT-B/16's vision tower


def vit_b16(path: Path) -> Path:
    """A randomly initialised CLIP vision tower of ViT-B/16 shape saved at ``path`` (once): weights do not change
    the cost the benchmarks measure."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if not (path / "config.json").exists():
        config = CLIPVisionConfig(image_size=224, projection_dim=512, **VIT_B16_SHAPE)
        CLIPVisionModelWithProjection(config).save_pretrained(path)
    return path
