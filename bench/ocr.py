"""OCR-stage throughput of the screen-text reader (unchanged frames skipped, frames without text only probed,
lines followed and recognised once), against reading every sampled frame, in the same run.

    .venv/bin/python bench/ocr.py [--duration-s 600] [--baseline-s 60] [--threads 0]

The clip (made once into bench/out/): 960x540 H.264 at 25 fps, a hard cut every 10 s cycling through still
(plain colour, SMPTE bars) and moving (test pattern with a clock, fractal zoom, game of life) sources, and a
caption that changes every 15 s regardless of the cuts. Frames are sampled as the indexer samples them for OCR
(1 fps, 960 px wide), shots come from the sampler's cuts.

Baseline: the engine's full read (detect at 640 px + recognise every line) on every sampled frame of the first
``--baseline-s`` seconds (one of each source), extrapolated to the whole clip. scenedex: ``ScreenTextReader``.
Captions are scored against the truth: found when one span holds every word and starts and ends within 1 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, save  # noqa: E402
from indexer.ocr import OcrEngine, TextBox, load_ocr_engine  # noqa: E402
from indexer.probe import choose_video_stream, probe  # noqa: E402
from indexer.sampling import FrameSampler, SamplingPolicy  # noqa: E402
from indexer.shots import build_shots  # noqa: E402
from indexer.screen_text import read_screen_text  # noqa: E402
from indexer.text_spans import TextSpan, normalise_text  # noqa: E402
from scenedex.samples import FONT  # noqa: E402

SIZE, FPS, CUT_EVERY_S, CAPTION_EVERY_S = "960x540", 25, 10, 15
SOURCES = ["color=c=#203050", "testsrc2", "smptebars", "mandelbrot", "color=c=#306030",
           "life=mold=10:ratio=0.1"]  # still, moving, still, moving, still, moving
TOPICS = ["Quarterly revenue", "Launch window", "Harbor lights", "Weather update", "Election night",
          "Market close", "Road closures", "Museum reopens", "Transit strike", "Science fair"]


def caption_text(i: int) -> str:
    return f"{TOPICS[i % len(TOPICS)]} report {100 + i}"


def make_ocr_clip(path: Path, duration_s: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs: list[str] = []
    n_parts = duration_s // CUT_EVERY_S
    for i in range(n_parts):
        src = SOURCES[i % len(SOURCES)]
        sep = ":" if "=" in src else "="
        inputs += ["-f", "lavfi", "-t", str(CUT_EVERY_S), "-i", f"{src}{sep}size={SIZE}:rate={FPS}"]
    captions = ",".join(
        f"drawtext=fontfile={FONT}:text='{caption_text(k)}':fontsize=36:fontcolor=white:box=1:"
        f"boxcolor=black@0.7:boxborderw=10:x=(w-text_w)/2:y=h-100:"
        f"enable='gte(t,{k * CAPTION_EVERY_S})*lt(t,{(k + 1) * CAPTION_EVERY_S})'"
        for k in range(duration_s // CAPTION_EVERY_S))
    joined = "".join(f"[{i}:v]" for i in range(n_parts))
    graph = f"{joined}concat=n={n_parts}:v=1:a=0,{captions},format=yuv420p[v]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", str(2 * FPS), str(path)],
                   check=True)
    return path


def is_caption(text: str, k: int) -> bool:
    """Every word of caption k is in the text (case-insensitive; OCR may drop a space)."""
    return all(word in normalise_text(text) for word in caption_text(k).casefold().split())


def captions_missed(spans: list[TextSpan], duration_s: int) -> dict[int, list[tuple[float, float]]]:
    """Captions not read as a span that starts and ends within 1 s (one sampling interval) of the truth:
    caption number -> the (start_s, end_s) of the spans that hold its words."""
    missed = {}
    for k in range(duration_s // CAPTION_EVERY_S):
        start, end = k * CAPTION_EVERY_S, (k + 1) * CAPTION_EVERY_S
        if not any(is_caption(s.text, k) and abs(s.start_s - start) <= 1.0 and abs(s.end_s - end) <= 1.0
                   for s in spans):
            missed[100 + k] = [(s.start_s, s.end_s) for s in spans if is_caption(s.text, k)]
    return missed


def captions_found(spans: list[TextSpan], duration_s: int) -> int:
    """Captions read as a span that starts and ends within 1 s (one sampling interval) of the truth."""
    return duration_s // CAPTION_EVERY_S - len(captions_missed(spans, duration_s))


def read_timed(engine: OcrEngine, frames: np.ndarray, indices: np.ndarray) -> tuple[dict[int, list[TextBox]],
                                                                                   dict[int, float]]:
    """Read frames[indices]; the boxes and the wall time of each frame."""
    reads, took_s = {}, {}
    for i in (int(i) for i in indices):
        t0 = time.perf_counter()
        reads[i] = engine.read(frames[i])
        took_s[i] = time.perf_counter() - t0
    return reads, took_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-s", type=int, default=600)
    parser.add_argument("--baseline-s", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: automatic)")
    args = parser.parse_args()
    clip = make_ocr_clip(OUT_DIR / f"ocr_{SIZE}_{args.duration_s}s.mp4", args.duration_s)
    info = probe(clip)
    engine = load_ocr_engine(threads=args.threads)

    t0 = time.perf_counter()
    policy = SamplingPolicy(size_px=960, resize_mode="fit_width", fps=1.0)
    sampler = FrameSampler(info, choose_video_stream(info), policy)
    batches = list(sampler.batches())
    frames = np.concatenate([b.frames for b in batches])  # (N, 540, 960, 3) uint8 RGB
    t_s = np.concatenate([b.t_s for b in batches])  # (N,)
    _, frame_shot = build_shots(t_s, sampler.result.cut_t_s, info.duration_s)
    sample_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    spans, stats = read_screen_text(engine, frames, t_s, frame_shot, interval_s=1.0, duration_s=info.duration_s)
    ocr_s = time.perf_counter() - t0

    window = np.flatnonzero(t_s < args.baseline_s)
    _, base_took_s = read_timed(engine, frames, window)
    window_s = sum(base_took_s.values())
    extrapolated_s = window_s * len(t_s) / len(window)

    n, k = len(t_s), stats.frames_read
    found, captions = captions_found(spans, args.duration_s), args.duration_s // CAPTION_EVERY_S
    print(f"{SIZE} H.264 {FPS} fps, {info.duration_s:.0f} s, cut every {CUT_EVERY_S} s, caption every "
          f"{CAPTION_EVERY_S} s; {n} frames sampled at 1 fps, 960 px wide; {os.cpu_count()} cores\n")
    print(f"{'':46} {'frames':>7} {'OCR s':>8} {'frames/s':>9}")
    rows = [(f"baseline: every frame of the first {args.baseline_s:.0f} s", len(window), window_s),
            ("baseline extrapolated to the whole clip", n, extrapolated_s),
            ("scenedex: frames read (others probed/skipped)", k, ocr_s)]
    for label, count, seconds in rows:
        print(f"{label:46} {count:7d} {seconds:8.1f} {count / seconds:9.2f}")
    print(f"\nof {n} sampled frames: {stats.frames_unchanged} unchanged (skipped), {stats.frames_probed} probed "
          f"at 480 px, {stats.frames_read} read; {stats.lines_recognised} lines recognised, "
          f"{stats.lines_followed} followed from the frame before")
    print(f"OCR time, whole clip: {extrapolated_s / ocr_s:.2f}x less than reading every frame (extrapolated)")
    total_s = sample_s + ocr_s
    print(f"wall time: sampling {sample_s:.1f} s + OCR {ocr_s:.1f} s = "
          f"{total_s:.1f} s ({info.duration_s / total_s:.1f}x real time); every frame: "
          f"~{sample_s + extrapolated_s:.0f} s")
    other = sum(not any(is_caption(s.text, c) for c in range(captions)) for s in spans)
    print(f"spans: {len(spans)}, {other} of them other text (test pattern clocks and counters); captions "
          f"found as a span starting and ending within 1 s of the truth: {found} of {captions}")
    for number, got in captions_missed(spans, args.duration_s).items():
        print(f"  missed: caption {number} ({caption_text(number - 100)!r}), its spans {got}")
    result = {"size": SIZE, "video_s": info.duration_s, "frames_sampled": n, "frames_read": k,
              "frames_probed": stats.frames_probed, "frames_unchanged": stats.frames_unchanged,
              "lines_recognised": stats.lines_recognised, "lines_followed": stats.lines_followed,
              "sample_s": sample_s, "ocr_s": ocr_s, "sampled_frames_per_s": n / ocr_s, "total_s": total_s,
              "baseline": {"window_s": args.baseline_s, "frames": len(window), "ocr_s": window_s,
                           "frames_per_s": len(window) / window_s, "extrapolated_ocr_s": extrapolated_s,
                           },
              "ocr_time_saved_ratio": extrapolated_s / ocr_s,
              "spans": len(spans), "captions_found": found, "captions": captions, "threads": args.threads}
    print(f"saved {save('ocr', result)}")


if __name__ == "__main__":
    main()
