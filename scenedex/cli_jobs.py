"""`scenedex index --queue`, `scenedex worker` and `scenedex jobs`: ingest on Celery workers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from db.models import JobState
from db.repositories import jobs as jobs_repo
from db.session import Database
from scenedex.job_settings import job_settings
from scenedex.runtime import index_setup, open_database
from scenedex.settings import Settings
from workers.celery_app import make_app
from workers.jobs import JobSetup
from workers.queueing import CeleryQueue, enqueue_index, queue_depths

WORKER_HELP = """\
Run a worker that takes ingest tasks from the broker (Celery underneath; Ctrl-C stops it after the current task).

Queues: cpu (probe, on-screen text, subtitles, speech, the final write), gpu (frame sampling and the vision
encoder), index (the single writer of the vector indexes: give it to exactly one worker). Examples:
  scenedex worker                                  one machine: every queue
  scenedex worker --queues gpu --concurrency 1     a GPU machine
  scenedex worker --queues cpu --concurrency 8     a CPU machine
Needs SCENEDEX_DATABASE_URL (a Postgres every worker reaches), SCENEDEX_BROKER_URL (default redis on localhost),
and the media and SCENEDEX_DATA_DIR at the same paths on every machine.
"""


def _need_server_database(settings: Settings) -> str | None:
    if settings.database_url is None:
        return ("queued ingest needs a Postgres server every worker can reach: set SCENEDEX_DATABASE_URL "
                "(the embedded database lives inside one process; without --queue, `scenedex index` runs in-process)")
    return None


def _app(settings: Settings):  # type: ignore[no-untyped-def]
    return make_app(settings.broker_url, settings.broker_visibility_timeout_s)


def cmd_index_queued(args: argparse.Namespace, settings: Settings) -> int:
    problem = _need_server_database(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    setup = index_setup(settings)
    queue = CeleryQueue(_app(settings))
    with open_database(settings) as db:
        job_setup = JobSetup(setup.ingest, setup.vision, setup.text, setup.qa_tower)
        done = enqueue_index(db, queue, args.paths, job_setup, setup.extensions, job_settings(settings),
                             retry_failed=args.retry_failed)
        if args.json and not args.wait:
            print(json.dumps(asdict(done)))
            return 0
        if done.job_id is None:
            print(f"nothing to do: {done.unchanged} files unchanged")
            return 0
        again = f", the text of {done.reembedded} of them chunked and embedded again" if done.reembedded \
            else ""
        if done.ocr_again:
            again += f", the on-screen text of {done.ocr_again} of them to be read again"
        print(f"job {done.job_id}: {done.files} files queued ({done.unchanged} unchanged{again}, "
              f"{len(done.removed)} removed). Workers pick them up; follow with "
              f"`scenedex jobs {done.job_id}`.")
        if args.wait:
            return _wait(db, done.job_id, args.json)
    return 0


def _wait(db: Database, job_id: int, as_json: bool) -> int:
    from tqdm import tqdm

    with tqdm(total=1, unit="file", disable=as_json or not sys.stderr.isatty(), desc=f"job {job_id}") as bar:
        while True:
            with db.session() as session:
                overview = jobs_repo.job_overviews(session, job_id=job_id)[0]
            bar.total = len(overview.files)
            bar.n = sum(f.progress for f in overview.files)
            bar.refresh()
            if overview.state in (JobState.DONE, JobState.CANCELLED):
                break
            time.sleep(0.5)
    if as_json:
        print(json.dumps(_overview_data(overview), default=str))
    else:
        print(_overview_text(_overview_data(overview)))
    return 0


def _overview_data(o: jobs_repo.JobOverview) -> dict[str, Any]:
    return {"id": o.id, "state": o.state, "created_at": o.created_at, "finished_at": o.finished_at,
            "counts": o.counts, "work_s": round(o.work_s, 2), "files": [asdict(f) for f in o.files]}


def _overview_text(job: dict[str, Any], files: bool = True) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in sorted(job["counts"].items())) or "no files"
    lines = [f"job {job['id']}: {job['state']} ({counts})"]
    if files:
        for f in job["files"]:
            if f["state"] in ("queued", "running"):
                lines.append(f"  {f['state']:<8} {f['stage']:<7} {f['progress'] * 100:5.1f}%  {f['path']}")
            elif f["state"] == "failed" or f["media_status"] == "failed":
                lines.append(f"  failed   {f['path']}: {f['error'] or f['media_error'] or 'see `scenedex status`'}")
    return "\n".join(lines)


def jobs_status(settings: Settings, db: Database) -> dict[str, Any]:
    """Open and recent jobs and the broker's queue depths, for `scenedex status`."""
    with db.session() as session:
        overviews = jobs_repo.job_overviews(session, limit=3)
    if not overviews:
        return {}
    return {"jobs": [_overview_data(o) for o in overviews], "queues": queue_depths(_app(settings))}


def jobs_text(data: dict[str, Any]) -> str:
    if not data:
        return ""
    depths = ", ".join(f"{q} {'?' if n is None else n}" for q, n in data["queues"].items())
    lines = [f"Queued ingest (tasks waiting: {depths})"]
    lines += [_overview_text(j) for j in data["jobs"]]
    return "\n".join(lines)


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    problem = _need_server_database(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with open_database(settings) as db:
        if args.action in ("cancel", "retry"):
            if args.job is None:
                print(f"error: say which job: scenedex jobs {args.action} JOB_ID", file=sys.stderr)
                return 2
            return _change(db, settings, args.action, args.job)
        with db.session() as session:
            overviews = jobs_repo.job_overviews(session, limit=10, job_id=args.job)
        if args.job is not None and not overviews:
            print(f"error: no job {args.job}: `scenedex jobs` lists them", file=sys.stderr)
            return 2
        data = [_overview_data(o) for o in overviews]
        if args.json:
            print(json.dumps({"jobs": data, "queues": queue_depths(_app(settings))}, default=str, indent=2))
        else:
            print("\n".join(_overview_text(j, files=args.job is not None) for j in data) or "no jobs yet")
    return 0


def _change(db: Database, settings: Settings, action: str, job_id: int) -> int:
    queue = CeleryQueue(_app(settings))
    with db.session() as session:
        job = jobs_repo.get_job(session, job_id, lock=True)
        if job is None:
            print(f"error: no job {job_id}: `scenedex jobs` lists them", file=sys.stderr)
            return 2
        if action == "cancel":
            cancelled = jobs_repo.cancel_job(session, job_id)
            if job.state in (JobState.QUEUED, JobState.RUNNING):  # what finished still reaches the index
                jobs_repo.set_job_state(session, job, JobState.SYNCING)
            retried: list[int] = []
        else:
            retried = jobs_repo.retry_job(session, job_id)
            cancelled = 0
            if retried:
                jobs_repo.set_job_state(session, job, JobState.RUNNING)
    if action == "cancel":
        queue.send_sync(job_id)
        print(f"job {job_id}: {cancelled} files cancelled; files already written stay indexed")
        return 0
    from db.models import FileStage
    from workers.jobs import StageTask

    for media_id in retried:
        queue.send_stage(StageTask(job_id, media_id, FileStage.PROBE), gpu=False)
    print(f"job {job_id}: {len(retried)} files queued again")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    problem = _need_server_database(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    import os

    # The task processes read their settings from the environment: pass on what the command line said.
    os.environ["SCENEDEX_DATABASE_URL"] = settings.database_url  # type: ignore[assignment]
    os.environ["SCENEDEX_DATA_DIR"] = str(settings.data_dir)
    os.environ["SCENEDEX_DEVICE"] = settings.device
    from workers.reconcile import Reconciler, reconcile_once
    from workers.tasks import app

    db = Database(settings.database_url)  # type: ignore[arg-type]
    queue = CeleryQueue(app)

    def gpu_frames(job_id: int) -> bool:
        with db.session() as session:
            job = jobs_repo.get_job(session, job_id)
            return bool(job and job.settings.get("vision_model"))

    reconciler = Reconciler(lambda: reconcile_once(db, queue, settings.worker_stall_s, lambda: queue_depths(app),
                                                   gpu_frames), period_s=max(1.0, settings.worker_stall_s / 2))
    reconciler.start()
    argv = ["worker", "--queues", args.queues, "--concurrency", str(args.concurrency), "--pool", args.pool,
            "--loglevel", "INFO" if args.verbose else "WARNING", "--without-gossip", "--without-mingle"]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    try:
        app.worker_main(argv)
    finally:
        reconciler.stopped.set()
        db.dispose()
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings):  # opening applies every migration (an advisory lock makes it safe to race)
        pass
    print("database schema is up to date")
    return 0


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("migrate", parents=[common], help="bring the database schema up to date (and exit)",
                       description="Apply the database migrations. Every command does this on start; deployments "
                       "run it once before the API and the workers (compose.yaml's migrate service).")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("worker", parents=[common], help="run an ingest worker (Celery) for queued jobs",
                       description=WORKER_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queues", default="cpu,gpu,index", help="comma-separated queues to take tasks from")
    p.add_argument("--concurrency", type=int, default=1, help="tasks at once (processes); 1 per GPU")
    p.add_argument("--pool", choices=["prefork", "solo", "threads"], default="prefork",
                   help="prefork (default): a crashed task kills only its process; solo: in this process")
    p.add_argument("--hostname", help="worker name shown in Flower (default: celery@<host>)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("jobs", parents=[common], help="queued ingest jobs: list, show, cancel, retry",
                       description="List queued ingest jobs, show one file by file, cancel one (files already "
                       "written stay indexed) or retry its failed and cancelled files.")
    p.add_argument("action", nargs="?", choices=["show", "cancel", "retry"], default="show")
    p.add_argument("job", nargs="?", type=int, help="job id (default: list recent jobs)")
    p.set_defaults(func=cmd_jobs)
