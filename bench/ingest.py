"""End-to-end ingest throughput on this machine, on the embedded Postgres.

    .venv/bin/python bench/ingest.py [--files 3] [--duration-s 60] [--size 1280x720] [--fps 1] [--jobs N]
    .venv/bin/python bench/ingest.py --real [--seconds 0] [--jobs N]

Generated footage (default): files per hour through `index_paths`, frames channel only, with a randomly
initialised ViT-B/16-sized CLIP vision tower (weights do not change the cost). Baselines in the same run: plain
`ffmpeg -vf fps=1 -f null -` over the same files, and the same index run with no encoder. ``--fps`` samples fewer
frames (both sides): on 2 CPU cores the encoder is slower than decoding at 1 fps, so the goal's case (an encoder
that outruns decoding keeps the run within 0.8x of ffmpeg: overlap, not sum) needs a lower rate or a GPU.
Files are indexed ``--jobs`` at once, by default as many as `scenedex index` takes (the ``index_jobs`` setting).
Each run's CPU seconds (the process's threads and its ffmpeg children) are printed, and the ceiling they set: a
run cannot end before its CPU seconds fit on the machine's cores, so where decode and encoder share the cores,
overlap can at best bring the run to (its CPU seconds / cores) of wall.

Real footage (``--real``, ``bench/ingest_real.py``): the Big Buck Bunny excerpts of ../shared/media with every
default channel (``scenedex index`` settings, no vision model) against plain ffmpeg on the same files, with a
stage breakdown and the OCR quality goals checked against the excerpts' ground truth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, cpu_s, ffmpeg_baseline, ffmpeg_version, make_hd_clip, save, vit_b16  # noqa: E402
from indexer.encoders import EncoderSpec, describe_vision_encoder, load_vision_encoder  # noqa: E402
from scenedex.runtime import open_database  # noqa: E402
from scenedex.settings import Settings  # noqa: E402
from workers.index_run import TextChannels, VisionChannel, index_paths  # noqa: E402
from workers.ingest import IngestConfig  # noqa: E402
from workers.layout import DataLayout  # noqa: E402
from indexer.sampling import SamplingPolicy  # noqa: E402

FRAMES_ONLY = TextChannels(subtitles=False, speech=False, ocr=None)  # the visual channel alone


BUSY: dict[str, dict[str, float]] = {}  # run label -> busy seconds of decode and encoder (bench.stages)


def run_index(library: Path, data_dir: Path, vision: VisionChannel | None, fps: float,
              jobs: int) -> tuple[float, float]:
    """(wall s, CPU s of this process and its ffmpeg children) of one index run, ``jobs`` files at once."""
    from bench.stages import stage_timer

    size = vision.info.image_size if vision else 64
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=size, fps=fps))
    with open_database(Settings(data_dir=data_dir, database_url=None)) as db, stage_timer() as (seconds, _):
        cpu0, t0 = cpu_s(), time.perf_counter()
        summary = index_paths(db, [library], config, (".mp4",), vision, text=FRAMES_ONLY, jobs=jobs)
        elapsed, used_cpu_s = time.perf_counter() - t0, cpu_s() - cpu0
    assert len(summary.indexed) == len(list(library.glob("*.mp4"))), summary
    BUSY["encoder" if vision else "plain"] = {"decode": seconds["decode (waiting on ffmpeg)"],
                                               "encode": seconds["frames: encoders"]}
    return elapsed, used_cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--duration-s", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=float, default=1.0,
                        help="frames sampled per second of video, by scenedex and the ffmpeg baseline alike; lower "
                             "it to see the case where the encoder outruns decoding on the CPU")
    parser.add_argument("--real", action="store_true", help="the real-footage case (bench/ingest_real.py)")
    parser.add_argument("--seconds", type=int, default=0, help="--real: cut each excerpt to its first N s (0: all)")
    parser.add_argument("--only", action="append", default=None, help="--real: this excerpt alone (repeatable)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="files indexed at once (default: the index_jobs setting, as `scenedex index`)")
    args = parser.parse_args()
    if args.real:
        from bench.ingest_real import FILES, run_real

        run_real(args.seconds, tuple(args.only) if args.only else FILES, args.jobs)
        return
    jobs = args.jobs or Settings().index_jobs
    clip = make_hd_clip(OUT_DIR / f"clip_{args.size}_{args.duration_s}s.mp4", args.duration_s, args.size)
    work = Path(tempfile.mkdtemp(prefix="scenedex-bench-"))
    try:
        library = work / "library"
        library.mkdir()
        for i in range(args.files):
            shutil.copy(clip, library / f"file{i}.mp4")
        files = sorted(library.glob("*.mp4"))
        ffmpeg_s, ffmpeg_cpu_s = ffmpeg_baseline(files, args.fps)
        noref_s, noref_cpu_s = ffmpeg_baseline(files, args.fps, skip_nonref=True)
        no_encoder_s, no_encoder_cpu_s = run_index(library, work / "data-plain", None, args.fps, jobs)
        spec = EncoderSpec(model=str(vit_b16(OUT_DIR / "vit-b16-random")), device="auto", batch_size=32)
        vision = VisionChannel(info=describe_vision_encoder(spec), load=lambda: load_vision_encoder(spec))
        full_s, full_cpu_s = run_index(library, work / "data-full", vision, args.fps, jobs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    video_s = args.files * args.duration_s
    frames = video_s * args.fps
    rows = [(f"ffmpeg -vf fps={args.fps:g} -f null - (baseline)", ffmpeg_s, ffmpeg_cpu_s),
            ("  the same, -skip_frame noref", noref_s, noref_cpu_s),
            ("scenedex index, no encoder", no_encoder_s, no_encoder_cpu_s),
            ("scenedex index, ViT-B/16 CLIP (CPU)", full_s, full_cpu_s)]
    cores = os.cpu_count() or 1
    print(f"{args.files} files x {args.duration_s} s of {args.size} H.264 30 fps, sampled at {args.fps:g} fps, "
          f"{ffmpeg_version()}; scenedex index {jobs} file(s) at once (--jobs), {cores} cores\n")
    print(f"{'':38} {'wall s':>7} {'files/hour':>11} {'video h/h':>10} {'vs baseline':>12} {'CPU s':>7}")
    for label, seconds, run_cpu_s in rows:
        print(f"{label:38} {seconds:7.1f} {args.files * 3600 / seconds:11.0f} {video_s / seconds:10.1f} "
              f"{ffmpeg_s / seconds:11.2f}x {run_cpu_s:7.1f}")
    best_s = max(full_cpu_s / cores, ffmpeg_s)  # the encoder run cannot end before its CPU fits on the cores
    print(f"\nceiling: the encoder run's {full_cpu_s:.1f} CPU s need at least {full_cpu_s / cores:.1f} s on {cores} "
          f"cores, so at best {ffmpeg_s / best_s:.2f}x the baseline here (measured {ffmpeg_s / full_s:.2f}x)")
    busy = BUSY["encoder"]
    print(f"\nencoder: {frames / max(busy['encode'], 1e-9):.1f} frames/s while busy; decode and encoder overlap "
          f"(a bounded queue between them): waiting on ffmpeg {busy['decode']:.1f} s + encoding "
          f"{busy['encode']:.1f} s = {busy['decode'] + busy['encode']:.1f} s of work in {full_s:.1f} s of wall")
    print(f"encoder busy {busy['encode']:.1f} s against {busy['decode'] + busy['encode']:.1f} s of the run's decode "
          f"and encode: the encoder {'outruns' if busy['encode'] < ffmpeg_s else 'is slower than'} plain decoding "
          f"({ffmpeg_s:.1f} s)")
    print(f"scenedex skips decoding frames nothing refers to by default (indexer.nonref; SCENEDEX_DECODE_ALL_FRAMES"
          f"=true decodes all): against ffmpeg taking the same shortcut, {noref_s / full_s:.2f}x")
    report = {"files": args.files, "duration_s": args.duration_s, "size": args.size, "fps": args.fps, "jobs": jobs,
              "ffmpeg_s": ffmpeg_s, "ffmpeg_noref_s": noref_s, "no_encoder_s": no_encoder_s, "full_s": full_s,
              "busy": BUSY,
              "cpu_s": {"ffmpeg": ffmpeg_cpu_s, "no_encoder": no_encoder_cpu_s, "full": full_cpu_s}, "cores": cores}
    print(f"saved {save('ingest', report)}")


if __name__ == "__main__":
    main()
