"""Files indexed at once (the ``index_jobs`` setting) against throughput, on real footage, every default channel.

    .venv/bin/python bench/ingest_jobs.py [--copies 4] [--jobs 2,4,8] [--media-dir DIR]

`scenedex index` reads ``index_jobs`` files at once; its default is one per core, at most 2, chosen on 2-core
machines (bench/ingest.py --real). Whether more files at once pay on a machine with many cores is what this
measures: a library of ``--copies`` copies of each Big Buck Bunny excerpt (the opening: little text; the credits:
text on every frame) is indexed with each number of files at once, no vision model, nothing else running. Printed
per number: wall and CPU seconds, the cores kept busy on average, hours of video an hour of wall and the speed-up
over the smallest number in the same run. The models load once per run, as in `scenedex index`. Stored vectors
are not looked up (``workers.text_vectors``): the copies would otherwise take their texts' vectors from the copies
committed before them, more of them the fewer files run at once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_s, save  # noqa: E402
from bench.ingest_real import FILES, MEDIA, index_s  # noqa: E402
from bench.text_reuse import stored_lookup_off  # noqa: E402
from indexer.probe import probe  # noqa: E402


def library_of(work: Path, media_dir: Path, copies: int) -> tuple[Path, float]:
    """(a folder of ``copies`` copies of each excerpt, their seconds of video in all)."""
    library = work / "library"
    library.mkdir()
    video_s = 0.0
    for name in FILES:
        source = media_dir / name
        duration_s = probe(source).duration_s
        for copy in range(copies):
            shutil.copy(source, library / f"{copy:02d}_{name}")
            video_s += duration_s
    return library, video_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cores = len(os.sched_getaffinity(0))
    choices = {1, 2} if cores <= 2 else {2, cores // 4, cores // 2}  # one file at a time: too slow on many cores
    default = ",".join(str(j) for j in sorted(choices - {0}))
    parser.add_argument("--copies", type=int, default=max(1, cores // 4), help="copies of each excerpt")
    parser.add_argument("--jobs", default=default, help=f"numbers of files at once to time (default {default})")
    parser.add_argument("--media-dir", type=Path, default=MEDIA)
    args = parser.parse_args()
    jobs_list = [int(j) for j in args.jobs.split(",")]
    work = Path(tempfile.mkdtemp(prefix="scenedex-bench-jobs-"))
    rows = []
    try:
        library, video_s = library_of(work, args.media_dir, args.copies)
        files = len(list(library.glob("*.mp4")))
        print(f"{files} files ({args.copies} of each of {' and '.join(FILES)}), {video_s / 60:.1f} min of video, "
              f"{cores} cores usable, every default channel, no vision model\n")
        print(f"{'files at once':>13} {'wall s':>8} {'CPU s':>8} {'cores busy':>10} {'video h / h':>11} "
              f"{'speed-up':>8}")
        for jobs in jobs_list:
            c0 = cpu_s()
            with stored_lookup_off():
                wall_s = index_s(library, work / f"data-{jobs}", files, jobs)[0]
            used_s = cpu_s() - c0
            rows.append({"jobs": jobs, "wall_s": wall_s, "cpu_s": used_s, "video_per_wall": video_s / wall_s})
            print(f"{jobs:13d} {wall_s:8.1f} {used_s:8.1f} {used_s / wall_s:10.2f} {video_s / wall_s:11.1f} "
                  f"{rows[0]['wall_s'] / wall_s:7.2f}x", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = save("ingest_jobs", {"cores": cores, "copies": args.copies, "files": files, "video_s": video_s,
                                "runs": rows})
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
