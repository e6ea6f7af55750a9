"""Queued ingest against in-process ingest on this machine, and what the queue costs per task.

    .venv/bin/python bench/workers.py [--files 6] [--duration-s 60] [--size 640x360] [--real | --library DIR]

The same library (moving test patterns with cuts, a randomly initialised ViT-B/16 CLIP tower: weights do not change
the cost) is indexed four times, each into a fresh Postgres database: in this process (`index_paths`, one file at a
time: the baseline, run first and again last, the faster counting, as the first also fills the page cache), by one
`scenedex worker` process, and by one worker running two processes. Workers use a private Redis
and are started (and warm) before the clock starts; the clock stops when the job's index sync is done.

Real footage (``--real``): the Big Buck Bunny excerpts of ../shared/media (100 s and 108 s of 720p24 with a sound
track), every default channel (on-screen text, subtitles, speech), no vision model: what a queued file costs against
the same files in this process, where the frames task hears the speech while it reads the pictures. ``--library
DIR``: the same for a folder's .mp4 files (narrated reels, where speech weighs more).

Per-task overhead: no-op tasks (their file is already finished, so they claim, find nothing to do and are
acknowledged) drained through one warm worker process: publish, delivery, Celery's dispatch to the pool process and
the claim transaction in Postgres; set against the time a file takes in-process (goal: under 0.1%).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import make_hd_clip, save, vit_b16  # noqa: E402
from db.repositories import jobs as jobs_repo  # noqa: E402
from db.session import Database, upgrade  # noqa: E402
from scenedex.runtime import index_setup  # noqa: E402
from scenedex.settings import Settings  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402
from tests.worker_harness import RedisServer, Worker, wait_for, worker_env  # noqa: E402
from db.models import FileStage, FileState  # noqa: E402
from db.repositories import library as library_repo  # noqa: E402
from scenedex.job_settings import job_settings  # noqa: E402
from workers.celery_app import make_app  # noqa: E402
from workers.index_run import index_paths  # noqa: E402
from workers.jobs import JobSetup, StageTask  # noqa: E402
from workers.queueing import CeleryQueue, enqueue_index  # noqa: E402
from indexer.probe import probe  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"

CHANNELS = {"SCENEDEX_SPEECH": "false", "SCENEDEX_OCR": "false", "SCENEDEX_SUBTITLES": "true"}
REAL_FILES = ("bbb_opening_720p.mp4", "bbb_credits_720p.mp4")


@dataclass(frozen=True)
class Case:
    """What is indexed and with which channels: the generated clips with a random ViT-B/16 and subtitles alone, or
    (``--real``) the real excerpts with every default channel and no vision model."""

    model: Path | None
    channels: dict[str, str]

    def settings(self, **values: object) -> Settings:
        off = {name.removeprefix("SCENEDEX_").lower(): False for name, value in self.channels.items()
               if value == "false"}
        model = str(self.model) if self.model else None
        return Settings(vision_model=model, device="cpu", **off, **values)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        return {**self.channels, **({"SCENEDEX_VISION_MODEL": str(self.model)} if self.model else {})}


def in_process(library: Path, case: Case, work: Path) -> float:
    name, url = create_database()
    try:
        upgrade(url)
        setup = index_setup(case.settings(database_url=url, data_dir=work / "inproc"))
        db = Database(url)
        started = time.perf_counter()
        summary = index_paths(db, [library], setup.ingest, setup.extensions, setup.vision, text=setup.text)
        wall = time.perf_counter() - started
        assert len(summary.indexed) == len(list(library.glob("*.mp4"))), summary
        db.dispose()
        return wall
    finally:
        drop_database(name)


def _worker(env: dict[str, str], log: Path, concurrency: int) -> Worker:
    worker = Worker(env, log, concurrency=concurrency)
    worker.start()
    wait_for(lambda: log.exists() and "ready" in log.read_text(), 180, "the worker to start")
    return worker


def _queued_env(url: str, data_dir: Path, case: Case, redis_url: str) -> dict[str, str]:
    env = worker_env(url, data_dir, redis_url, SCENEDEX_WORKER_STALL_S="300",
                     SCENEDEX_BROKER_VISIBILITY_TIMEOUT_S="3600", **case.env())
    env.pop("OMP_NUM_THREADS")  # as a user runs it
    return env


def _settings(env: dict[str, str], case: Case) -> Settings:
    return case.settings(database_url=env["SCENEDEX_DATABASE_URL"], data_dir=Path(env["SCENEDEX_DATA_DIR"]),
                         broker_url=env["SCENEDEX_BROKER_URL"])


def queued(library: Path, case: Case, work: Path, concurrency: int, redis_url: str) -> dict[str, float]:
    """Enqueue from this process (as `scenedex index --queue` does) and time until the index sync is done."""
    name, url = create_database()
    worker = None
    try:
        upgrade(url)
        env = _queued_env(url, work / f"queued{concurrency}", case, redis_url)
        worker = _worker(env, work / f"worker{concurrency}.log", concurrency)
        settings = _settings(env, case)
        setup = index_setup(settings)
        db = Database(url)
        queue = CeleryQueue(make_app(redis_url))
        started = time.perf_counter()
        job_id = enqueue_index(db, queue, [library], JobSetup(setup.ingest, setup.vision, setup.text),
                               setup.extensions, job_settings(settings)).job_id

        def done() -> bool:
            with db.session() as session:
                return jobs_repo.job_overviews(session, job_id=job_id)[0].state == "done"

        wait_for(done, 3600, f"job {job_id}", every_s=0.05)
        wall = time.perf_counter() - started
        with db.session() as session:
            overview = jobs_repo.job_overviews(session, job_id=job_id)[0]
        db.dispose()
        return {"wall_s": wall, "work_s": overview.work_s, "tasks": 3 * len(overview.files) + 1}
    finally:
        if worker is not None:
            worker.stop()
        drop_database(name)


def per_task_overhead(library: Path, case: Case, work: Path, redis_url: str, tasks: int) -> float:
    """Seconds per task of everything around the work: publish, deliver, Celery's dispatch to the pool process,
    the claim transaction in Postgres. Measured with tasks for a file that is already finished (they claim, find
    nothing to do, and are acknowledged), through one worker process, FIFO until the queue is drained."""
    import redis as redis_client

    name, url = create_database()
    worker = None
    try:
        upgrade(url)
        env = _queued_env(url, work / "noop", case, redis_url)
        db = Database(url)
        with db.session() as session:
            root = library_repo.get_or_create_root(session, str(library))
            media = library_repo.add_media(session, root.id, str(sorted(library.glob("*.mp4"))[0]), 0, 0)
            job = jobs_repo.create_job(session, {}, [str(library)], "bench", [media.id])
            jobs_repo.finish_file(session, jobs_repo.lock_file(session, job.id, media.id), FileState.DONE)
            job_id, media_id = job.id, media.id
        worker = _worker(env, work / "worker-noop.log", 1)
        queue = CeleryQueue(make_app(redis_url))
        client = redis_client.Redis.from_url(redis_url)
        for _ in range(20):  # warm up the pool process and the connections
            queue.send_stage(StageTask(job_id, media_id, FileStage.PROBE), gpu=False)
        wait_for(lambda: client.llen("cpu") == 0, 120, "the warm-up tasks")
        time.sleep(1.0)
        started = time.perf_counter()
        for _ in range(tasks):
            queue.send_stage(StageTask(job_id, media_id, FileStage.PROBE), gpu=False)
        wait_for(lambda: client.llen("cpu") == 0, 600, "the tasks", every_s=0.005)
        db.dispose()
        return (time.perf_counter() - started) / tasks
    finally:
        if worker is not None:
            worker.stop()
        drop_database(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--duration-s", type=int, default=60)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--tasks", type=int, default=500, help="no-op tasks for the per-task overhead")
    parser.add_argument("--real", action="store_true", help="the Big Buck Bunny excerpts, every default channel")
    parser.add_argument("--library", type=Path, default=None,
                        help="this folder's .mp4 files instead, every default channel (e.g. a generated library of "
                             "narrated reels: bench/out/holdout5_library after bench/search_quality.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sdx-bench-workers-") as tmp:
        work = Path(tmp)
        library = work / "library"
        library.mkdir()
        if args.real or args.library:
            sources = sorted(args.library.rglob("*.mp4")) if args.library else [MEDIA / n for n in REAL_FILES]
            names = [f"{s.parent.name}-{s.name}" if args.library else s.name for s in sources]
            for source, name in zip(sources, names):
                shutil.copy(source, library / name)
            case = Case(None, {})
            args.files = len(sources)
            args.duration_s = round(sum(probe(library / name).duration_s for name in names) / len(names))
        else:
            first = make_hd_clip(work / "src.mp4", duration_s=args.duration_s, size=args.size, fps=25)
            for i in range(args.files):  # distinct files (a byte appended changes the fingerprint), same cost
                data = first.read_bytes() + bytes([i])
                (library / f"clip{i:02d}.mp4").write_bytes(data)
            case = Case(vit_b16(work / "vit-b16"), CHANNELS)
        redis = RedisServer(work / "redis")
        redis.start()
        try:
            overhead_s = per_task_overhead(library, case, work, redis.url, args.tasks)
            first = in_process(library, case, work)
            one = queued(library, case, work, 1, redis.url)
            two = queued(library, case, work, 2, redis.url)
            again = in_process(library, case, work)  # the first run also warmed the page cache for the rest
            base = min(first, again)
        finally:
            redis.stop()
    video_s = args.files * args.duration_s
    per_file_s = base / args.files
    if args.real or args.library:
        what = (f"{args.library or ', '.join(REAL_FILES)}: {args.files} files, ~{args.duration_s} s each, every "
                "default channel, no vision model")
    else:
        what = f"{args.files} files x {args.duration_s} s at {args.size}, ViT-B/16 encoder (random), subtitles"
    print(f"\n{what}; {os.cpu_count()}-core machine\n")
    print(f"{'mode':<28} {'wall s':>8} {'x real time':>12} {'vs in-process':>14}")
    result: dict[str, object] = {"real": args.real, "library": str(args.library or ""), "files": args.files,
                                 "duration_s": args.duration_s, "size": args.size, "in_process_wall_s": base,
                                 "in_process_runs_s": [first, again],
                                 "queued_1": one, "queued_2": two, "overhead_per_task_s": overhead_s}
    print(f"in this process, first and last of the runs: {first:.1f} s, {again:.1f} s (the baseline: the faster)")
    for label, wall in (("in-process (baseline)", base), ("queued, 1 worker process", one["wall_s"]),
                        ("queued, 2 worker processes", two["wall_s"])):
        print(f"{label:<28} {wall:8.1f} {video_s / wall:12.2f} {base / wall:13.2f}x")
    share = 3 * overhead_s / per_file_s
    print(f"\nper-task overhead (broker, Celery, claim in Postgres; {args.tasks} no-op tasks): "
          f"{overhead_s * 1000:.2f} ms; 3 tasks per file = {share * 100:.3f}% of the {per_file_s:.1f} s a file "
          f"takes in-process (goal < 0.1%)")
    result["overhead_share"] = share
    print(f"saved {save('workers_real' if args.real or args.library else 'workers', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
