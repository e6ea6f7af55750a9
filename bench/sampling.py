"""Sampling-stage throughput against plain ffmpeg on the same file, in the same run.

    .venv/bin/python bench/sampling.py [--duration-s 60] [--size 1920x1080]

Baseline: `ffmpeg -i FILE -vf fps=1 -f null -` (decode everything, keep one frame per second, write nothing).
scenedex: one decode that samples 1 fps at 224 px (scaled and cropped in ffmpeg), pipes raw RGB to Python with
exact timestamps, and scores every frame for shot cuts. Keyframe mode decodes keyframes only.
Ratios above 1 mean faster than the baseline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, ffmpeg_version, make_hd_clip, plain_ffmpeg, save, timed  # noqa: E402
from indexer.probe import choose_video_stream, probe  # noqa: E402
from indexer.sampling import FrameSampler, SamplingPolicy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-s", type=int, default=60)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    clip = make_hd_clip(OUT_DIR / f"clip_{args.size}_{args.duration_s}s.mp4", args.duration_s, args.size)
    info = probe(clip)
    stream = choose_video_stream(info)

    def baseline() -> None:
        plain_ffmpeg(clip)

    counts: dict[str, int] = {}

    def scenedex(mode: str) -> None:
        sampler = FrameSampler(info, stream, SamplingPolicy(size_px=224, mode=mode))  # type: ignore[arg-type]
        counts[mode] = sum(len(b.t_s) for b in sampler.batches())

    results = {"baseline": timed(baseline, args.repeats),
               "uniform": timed(lambda: scenedex("uniform"), args.repeats),
               "keyframes": timed(lambda: scenedex("keyframes"), args.repeats)}
    video_s = info.duration_s
    print(f"{args.size} H.264 {stream.fps:.0f} fps, {video_s:.0f} s of video, {args.repeats} runs each (median), "
          f"{ffmpeg_version()}\n")
    print(f"{'':34} {'wall s':>7} {'cpu s':>7} {'x real time':>12} {'vs ffmpeg fps=1':>16}")
    base = results["baseline"]["wall_s"]
    rows = {"ffmpeg -vf fps=1 -f null - (baseline)": "baseline", "scenedex uniform 1 fps + shot cuts": "uniform",
            "scenedex keyframes only": "keyframes"}
    for label, key in rows.items():
        r = results[key]
        r["speed_vs_baseline"] = base / r["wall_s"]
        print(f"{label:34} {r['wall_s']:7.2f} {r['cpu_s']:7.2f} {video_s / r['wall_s']:11.1f}x "
              f"{r['speed_vs_baseline']:15.2f}x")
    print(f"\nframes sampled: uniform {counts['uniform']}, keyframes {counts['keyframes']}")
    print(f"saved {save('sampling', {'size': args.size, 'video_s': video_s, 'frames': counts, **results})}")


if __name__ == "__main__":
    main()
