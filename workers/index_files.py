"""The files of one `scenedex index` run, ``jobs`` at a time: each in a thread of its own, sharing the run's
models (``workers.models.RunModels`` loads each once, whichever thread asks first).

Why several at once: within a file OCR is the critical path and runs in order (its tracker follows lines from
frame to frame), so on two cores one core is often idle while a file is read and while its result is committed.
A second file in flight fills it.

What holds whatever ``jobs`` is:

* a file that fails is recorded with its reason and the others go on (``workers.ingest.index_media``);
* a file whose database writes or data disk fail transiently is retried (``RetryPolicy``); if that keeps failing,
  ``RunInterrupted`` stops the run: the files in flight stop at their next progress report, nothing is blamed;
* Ctrl-C (or an error that is not the file's) stops the run the same way: the files in flight stop at their next
  progress report, whatever was committed stays, and the outcome of each finished file is kept;
* outcomes are reported in the order the files were given, whichever finished first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from db.repositories import library as library_repo
from db.session import Database
from workers.ingest import IngestConfig, ModelIds, Outcome, index_media
from workers.models import RunModels
from workers.transient import describe, is_transient

log = logging.getLogger(__name__)


class IndexEvents(Protocol):
    """What a run reports. ``file_started``, ``file_progress`` and ``file_done`` are called from the file's own
    thread: with several files at once they interleave, so an implementation keeps its state per ``path`` and
    guards it with a lock. An exception raised by one of them (KeyboardInterrupt included) stops the run."""

    def planned(self, total: int, todo: int) -> None: ...
    def file_started(self, path: str) -> None: ...
    def file_progress(self, path: str, t_s: float, duration_s: float) -> None: ...
    def file_done(self, path: str, outcome: Outcome) -> None: ...


class SilentEvents:
    def planned(self, total: int, todo: int) -> None: ...
    def file_started(self, path: str) -> None: ...
    def file_progress(self, path: str, t_s: float, duration_s: float) -> None: ...
    def file_done(self, path: str, outcome: Outcome) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How a file is retried when the database or the data disk fails under it (never counted against the file)."""

    attempts: int = 6  # tries of one file before the run gives up (and is recorded as interrupted)
    first_wait_s: float = 1.0  # doubled after each failed try
    max_wait_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def wait_s(self, failures: int) -> float:
        return min(self.first_wait_s * 2.0 ** (failures - 1), self.max_wait_s)


class RunInterrupted(Exception):
    """The infrastructure kept failing: the run stops, the file is not blamed."""


class _FileStopped(BaseException):
    """Raised inside a file's thread when the run is stopping. A BaseException, like KeyboardInterrupt, so that
    no channel records it as the file's failure (they catch Exception)."""


def _index_with_retries(db: Database, media_id: int, config: IngestConfig, models: RunModels, ids: ModelIds,
                        progress: Callable[[float, float], None], retry: RetryPolicy,
                        stopping: threading.Event) -> Outcome:
    for failures in range(1, retry.attempts + 1):
        try:
            return index_media(db, media_id, config, models, ids, progress)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if failures == retry.attempts:
                raise RunInterrupted(f"the database or data disk kept failing ({failures} tries): {describe(exc)}"
                                     ) from exc
            wait_s = retry.wait_s(failures)
            log.warning("transient error on media %d (%s); retrying in %.1f s", media_id, describe(exc), wait_s)
            retry.sleep(wait_s)
            if stopping.is_set():
                raise _FileStopped() from exc
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class FileDone:
    path: str
    outcome: Outcome


def _path_of(db: Database, media_id: int) -> str:
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        return media.path if media is not None else "?"


def index_each(db: Database, media_ids: list[int], config: IngestConfig, models: RunModels, ids: ModelIds,
               events: IndexEvents, retry: RetryPolicy, jobs: int, outcomes: dict[int, Outcome],
               indexed: list[str]) -> None:
    """Index each file, ``jobs`` at a time; each finished file's outcome goes into ``outcomes`` and the paths
    indexed onto ``indexed`` (in the order of ``media_ids``), also when the run stops early. Raises what stopped
    the run (KeyboardInterrupt, RunInterrupted, an error that is not the file's) once the files in flight have
    stopped."""
    assert jobs >= 1, f"jobs must be at least 1, got {jobs}"
    stopping = threading.Event()

    def index_one(media_id: int) -> FileDone | None:
        if stopping.is_set():
            return None  # never started
        path = _path_of(db, media_id)
        events.file_started(path)

        def progress(t_s: float, duration_s: float) -> None:
            if stopping.is_set():
                raise _FileStopped()
            events.file_progress(path, t_s, duration_s)

        outcome = _index_with_retries(db, media_id, config, models, ids, progress, retry, stopping)
        events.file_done(path, outcome)
        return FileDone(path, outcome)

    cause: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="scenedex-file")
    futures = [pool.submit(index_one, m) for m in media_ids]
    try:
        pending = set(futures)
        while pending:
            try:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                failures = [e for f in done if not f.cancelled() and (e := f.exception()) is not None
                            and not isinstance(e, _FileStopped)]
                if failures:  # the run's to stop (KeyboardInterrupt from an event, RunInterrupted, a bug)
                    cause = cause or failures[0]
                    _stop(stopping, pending)
            except KeyboardInterrupt as exc:  # Ctrl-C reaches the main thread, which only waits here
                cause = cause or exc
                _stop(stopping, pending)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for media_id, future in zip(media_ids, futures):
            result = future.result() if future.done() and not future.cancelled() and future.exception() is None \
                else None
            if result is not None:
                outcomes[media_id] = result.outcome
                if result.outcome == Outcome.INDEXED:
                    indexed.append(result.path)
    if cause is not None:
        raise cause


def _stop(stopping: threading.Event, pending: set[Future[FileDone | None]]) -> None:
    if not stopping.is_set():
        running = sum(1 for f in pending if f.running())
        log.warning("stopping: %d file(s) in flight stop at their next progress report; what was committed is "
                    "kept", running)
    stopping.set()
    for future in pending:
        future.cancel()  # the files not started yet
