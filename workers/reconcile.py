"""The safety net under the broker: work Postgres says is unfinished but no task will ever pick up (a broker
restarted without persistence, a worker killed before it could hand on the next stage) is sent again.

Every worker runs it periodically; rows are claimed with SKIP LOCKED and touched, so two workers do not both
resend the same file. Resending is always safe: tasks are idempotent and a duplicate finds nothing to do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from db.models import FileStage, FileState
from db.repositories import jobs as jobs_repo
from db.session import Database
from workers.jobs import StageTask, TaskQueue

log = logging.getLogger(__name__)
DepthsFn = Callable[[], dict[str, int | None]]


def reconcile_once(db: Database, queue: TaskQueue, stall_s: float, depths: DepthsFn, gpu_frames: Callable[[int], bool]
                   ) -> int:
    """Resend stalled work; returns how many tasks were sent."""
    waiting = depths()
    queues_empty = all(v == 0 for v in waiting.values())
    states = [FileState.RUNNING] + ([FileState.QUEUED] if queues_empty else [])
    with db.session() as session:
        stale = jobs_repo.claim_stale_files(session, stall_s, states)
        syncs = jobs_repo.claim_stale_syncs(session, stall_s)
    for row in stale:
        stage = FileStage(row.stage)
        queue.send_stage(StageTask(row.job_id, row.media_id, stage),
                         gpu=stage == FileStage.FRAMES and gpu_frames(row.job_id))
    for job_id in syncs:
        queue.send_sync(job_id)
    if stale or syncs:
        log.warning("resent %d stalled file tasks and %d index syncs", len(stale), len(syncs))
    return len(stale) + len(syncs)


class Reconciler(threading.Thread):
    """Runs ``reconcile_once`` every ``period_s`` until stopped; errors are logged, never fatal."""

    def __init__(self, run: Callable[[], int], period_s: float) -> None:
        super().__init__(name="scenedex-reconciler", daemon=True)
        self.run_once, self.period_s = run, period_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.period_s):
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - the database or broker may be briefly down
                log.info("reconcile skipped: %s", exc)
