"""Queued ingest against in-process ingest on this machine, and what the queue costs per task.

    .venv/bin/python bench/workers.py [--files 6] [--duration-s 60] [--size 640x360]

The same library (moving test patterns with cuts, a randomly initialised ViT-B/16 CLIP tower: weights do not change
the cost) is indexed three times, each into a fresh Postgres database: in this process (`index_paths`, the
baseline), by one `scenedex worker` process, and by one worker running two processes. Workers use a private Redis
and are started (and warm) before the clock starts; the clock stops when the job's index sync is done.

Per-task overhead = (queued wall time - time spent inside the pipeline stages) / tasks: everything the queue adds
(broker round trips, Celery, the claim and hand-on transactions in Postgres, idle gaps between tasks).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import make_hd_clip, save  # noqa: E402
from bench.ingest import vit_b16  # noqa: E402
from db.repositories import jobs as jobs_repo  # noqa: E402
from db.session import Database, upgrade  # noqa: E402
from scenedex.runtime import index_setup  # noqa: E402
from scenedex.settings import Settings  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402
from tests.worker_harness import ROOT, RedisServer, Worker, wait_for, worker_env  # noqa: E402
from workers.index_run import index_paths  # noqa: E402

CHANNELS = {"SCENEDEX_SPEECH": "false", "SCENEDEX_OCR": "false", "SCENEDEX_SUBTITLES": "true"}


def in_process(library: Path, model: Path, work: Path) -> float:
    name, url = create_database()
    try:
        upgrade(url)
        settings = Settings(database_url=url, data_dir=work / "inproc", vision_model=str(model), device="cpu",
                            speech=False, ocr=False)
        setup = index_setup(settings)
        db = Database(url)
        started = time.perf_counter()
        summary = index_paths(db, [library], setup.ingest, setup.extensions, setup.vision, text=setup.text)
        wall = time.perf_counter() - started
        assert len(summary.indexed) == len(list(library.glob("*.mp4"))), summary
        db.dispose()
        return wall
    finally:
        drop_database(name)


def queued(library: Path, model: Path, work: Path, concurrency: int, redis_url: str) -> dict[str, float]:
    name, url = create_database()
    worker = None
    try:
        upgrade(url)
        env = worker_env(url, work / f"queued{concurrency}", redis_url, SCENEDEX_VISION_MODEL=str(model),
                         SCENEDEX_WORKER_STALL_S="300", SCENEDEX_BROKER_VISIBILITY_TIMEOUT_S="3600", **CHANNELS)
        env.pop("OMP_NUM_THREADS")  # as a user runs it
        log = work / f"worker{concurrency}.log"
        worker = Worker(env, log, concurrency=concurrency)
        worker.start()
        wait_for(lambda: log.exists() and "ready" in log.read_text(), 120, "the worker to start")
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "scenedex.cli", "index", str(library), "--queue", "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        enqueue_s = time.perf_counter() - started
        job_id = json.loads(out.stdout)["job_id"]
        db = Database(url)

        def done() -> bool:
            with db.session() as session:
                return jobs_repo.job_overviews(session, job_id=job_id)[0].state == "done"

        wait_for(done, 3600, f"job {job_id}", every_s=0.05)
        wall = time.perf_counter() - started
        with db.session() as session:
            overview = jobs_repo.job_overviews(session, job_id=job_id)[0]
        db.dispose()
        tasks = 3 * len(overview.files) + 1
        return {"wall_s": wall, "enqueue_s": enqueue_s, "work_s": overview.work_s, "tasks": tasks}
    finally:
        if worker is not None:
            worker.stop()
        drop_database(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--duration-s", type=int, default=60)
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sdx-bench-workers-") as tmp:
        work = Path(tmp)
        library = work / "library"
        first = make_hd_clip(work / "src.mp4", duration_s=args.duration_s, size=args.size, fps=25)
        library.mkdir()
        for i in range(args.files):  # distinct files (a byte appended changes the fingerprint), same cost
            data = first.read_bytes() + bytes([i])
            (library / f"clip{i:02d}.mp4").write_bytes(data)
        model = vit_b16(work / "vit-b16")
        redis = RedisServer(work / "redis")
        redis.start()
        try:
            base = in_process(library, model, work)
            one = queued(library, model, work, 1, redis.url)
            two = queued(library, model, work, 2, redis.url)
        finally:
            redis.stop()
    video_s = args.files * args.duration_s
    rows = [("in-process (baseline)", base, None), ("queued, 1 worker process", one["wall_s"], one),
            ("queued, 2 worker processes", two["wall_s"], two)]
    print(f"\n{args.files} files x {args.duration_s} s at {args.size}, ViT-B/16 encoder (random), subtitles; "
          f"2-core machine\n")
    print(f"{'mode':<28} {'wall s':>8} {'x real time':>12} {'vs in-process':>14} {'overhead/task':>14} {'share':>8}")
    result: dict[str, object] = {"files": args.files, "duration_s": args.duration_s, "size": args.size}
    for label, wall, q in rows:
        overhead = ""
        share = ""
        if q is not None:
            per_task_ms = max(0.0, q["wall_s"] - q["work_s"] / (1 if "1 worker" in label else 2)) / q["tasks"] * 1000
            overhead = f"{per_task_ms:.1f} ms"
            share = f"{per_task_ms * q['tasks'] / 1000 / q['wall_s'] * 100:.2f}%"
            result[label] = {**q, "overhead_per_task_ms": per_task_ms}
        else:
            result[label] = {"wall_s": wall}
        print(f"{label:<28} {wall:8.1f} {video_s / wall:12.1f} {base / wall:13.2f}x {overhead:>14} {share:>8}")
    print("\noverhead/task: queued wall time not spent inside pipeline stages, per task (3 per file + 1 index sync);"
          "\nwith 2 processes the stage time is split over both, so the figure is an estimate.")
    print(f"saved {save('workers', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
