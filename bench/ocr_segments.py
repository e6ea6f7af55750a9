"""OCR of one file read in segments at once (``indexer.screen_text_segments``) against one reader, on real footage.

    .venv/bin/python bench/ocr_segments.py [--workers 1,2,4,8] [--runs 2] [--media-dir DIR]

The credits excerpt of ../shared/media (108 s of scrolling credits: text on every frame, the case where one
file's OCR is its critical path) is decoded once as the shared pass decodes it (960 px frames), then read by
``SegmentedScreenText`` with each number of workers, nothing else running. Printed per number: OCR wall and
CPU seconds, the wall's speed-up over one reader in the same run, the lines recognised (a seam re-reads one
frame in full) and the credit lines read and split (``bench/credits_score.py``). A machine with more cores than
workers is needed to see the speed-up: on 2 cores one reader already keeps ~1.3 busy (recognition runs two lines
at a time), and in `scenedex index` the other channels take the rest (see the README's Benchmarks).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.credits_score import load_truth, score  # noqa: E402
from bench.ocr_cpu import MEDIA, decode, process_cpu_s  # noqa: E402
from indexer.ocr import load_ocr_engine  # noqa: E402
from indexer.screen_text_segments import SegmentedScreenText  # noqa: E402

BATCH_FRAMES = 16  # as the shared pass hands them over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cores = os.cpu_count() or 1
    default = ",".join(str(w) for w in sorted({1, 2, max(1, cores // 2), cores}))
    parser.add_argument("--workers", default=default, help=f"numbers of segment readers to time (default {default})")
    parser.add_argument("--runs", type=int, default=2, help="runs of each, alternating; the median is printed")
    parser.add_argument("--media-dir", type=Path, default=MEDIA)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    engine = load_ocr_engine()
    frames, t_s, shots, duration_s = decode(args.media_dir, "bbb_credits_720p.mp4")  # (N, H, 960, 3), (N,), (N,)
    truth = load_truth()
    walls: dict[int, list[float]] = {w: [] for w in counts}
    result: dict[int, tuple[float, int, int, int]] = {}
    for _ in range(args.runs):
        for workers in counts:
            c0, t0 = process_cpu_s(), time.perf_counter()
            reader = SegmentedScreenText(engine, workers)
            for i in range(0, len(frames), BATCH_FRAMES):
                reader.feed(frames[i:i + BATCH_FRAMES], t_s[i:i + BATCH_FRAMES], shots[i:i + BATCH_FRAMES])
            spans = reader.finish(1.0, duration_s)
            walls[workers].append(time.perf_counter() - t0)
            cpu_s = process_cpu_s() - c0
            credits = score(spans, truth)
            result[workers] = (cpu_s, reader.stats.lines_recognised, credits.strict, credits.split)
    base = statistics.median(walls[counts[0]])
    print(f"bbb_credits_720p.mp4, {len(frames)} frames at 960 px, {cores} cores, median of {args.runs} runs")
    print(f"{'segment readers':>16} {'wall s':>7} {'vs ' + str(counts[0]):>6} {'CPU s':>6} {'lines read':>10} "
          f"{'credits read':>12} {'split':>5}")
    for workers in counts:
        wall = statistics.median(walls[workers])
        cpu_s, lines, strict, split = result[workers]
        print(f"{workers:>16} {wall:7.2f} {base / wall:5.2f}x {cpu_s:6.1f} {lines:>10} "
              f"{strict:>8}/{len(credits.lines)} {split:>5}")


if __name__ == "__main__":
    main()
