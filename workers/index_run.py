"""One `scenedex index` run in-process: scan the given paths, index what changed, remove what is gone, sync
the vector index. Progress goes to an injected ``IndexEvents`` (the CLI draws bars; tests record)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from db.errors import DatabaseError
from db.models import MediaStatus
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import runs as runs_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.files import discover
from search.vector_index import Manifest
from workers.ingest import (
    IngestConfig,
    ModelIds,
    Outcome,
    file_signature,
    index_media,
    is_current,
    remove_media,
    touch_if_same_content,
)
from workers.models import QaTowerChannel, RunModels, TextChannels, VisionChannel
from workers.transient import describe, is_transient
from workers.vectors import sync_text_index, sync_vector_index

__all__ = ["IndexSummary", "Problem", "VisionChannel", "TextChannels", "index_paths"]

log = logging.getLogger(__name__)


class IndexEvents(Protocol):
    def planned(self, total: int, todo: int) -> None: ...
    def file_started(self, path: str) -> None: ...
    def file_progress(self, t_s: float, duration_s: float) -> None: ...
    def file_done(self, path: str, outcome: Outcome) -> None: ...


class SilentEvents:
    def planned(self, total: int, todo: int) -> None: ...
    def file_started(self, path: str) -> None: ...
    def file_progress(self, t_s: float, duration_s: float) -> None: ...
    def file_done(self, path: str, outcome: Outcome) -> None: ...


@dataclass(frozen=True)
class Problem:
    path: str
    status: str
    reason: str
    hint: str


@dataclass
class IndexSummary:
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    interrupted: bool = False
    interrupted_reason: str | None = None  # why the run stopped early (Ctrl-C, a signal, the database gone)
    vectors: Manifest | None = None
    text_vectors: Manifest | None = None
    models_loaded: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Problem]:
        return [p for p in self.problems if p.status == MediaStatus.FAILED]


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


def _index_with_retries(db: Database, media_id: int, config: IngestConfig, models: RunModels, ids: ModelIds,
                        events: IndexEvents, retry: RetryPolicy) -> Outcome:
    for failures in range(1, retry.attempts + 1):
        try:
            return index_media(db, media_id, config, models, ids, events.file_progress)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if failures == retry.attempts:
                raise RunInterrupted(f"the database or data disk kept failing ({failures} tries): {describe(exc)}"
                                     ) from exc
            wait_s = retry.wait_s(failures)
            log.warning("transient error on media %d (%s); retrying in %.1f s", media_id, describe(exc), wait_s)
            retry.sleep(wait_s)
    raise AssertionError("unreachable")  # pragma: no cover


def _scan(db: Database, paths: Sequence[Path], extensions: Sequence[str]) -> tuple[list[int], list[int]]:
    """Rows for every media file found (created when new), and rows under the given folders whose file is gone."""
    seen: list[int] = []
    gone: list[int] = []
    with db.session() as session:
        roots: dict[Path, int] = {}
        for root, path in discover(paths, extensions):
            if root not in roots:
                roots[root] = library_repo.get_or_create_root(session, str(root)).id
            media = library_repo.get_media_by_path(session, str(path))
            if media is None:
                size, mtime = file_signature(path)
                media = library_repo.add_media(session, roots[root], str(path), size, mtime)
            seen.append(media.id)
        seen_set = set(seen)
        for given in paths:
            folder = given.absolute()
            if not folder.is_dir():
                continue
            for media in library_repo.list_media(session):
                inside = media.path.startswith(str(folder).rstrip("/") + "/")
                if inside and media.id not in seen_set and not os.path.lexists(media.path):
                    gone.append(media.id)
    return seen, gone


def model_ids(db: Database, models: RunModels) -> ModelIds:
    with db.session() as session:
        vision_id = text_id = None
        if models.vision is not None:
            i = models.vision.info
            vision_id = models_repo.get_or_create_model(session, key=i.key, family=i.family, name=i.name,
                                                        revision=i.revision, embed_dim=i.embed_dim,
                                                        feature_dim=i.feature_dim, grid_k=i.grid_k).id
        if models.text_info is not None:
            t = models.text_info
            text_id = models_repo.get_or_create_model(session, key=t.key, family="sentence", name=t.name,
                                                      revision=t.revision, embed_dim=t.dim, feature_dim=0,
                                                      grid_k=0).id
    return ModelIds(vision=vision_id, text=text_id)


@dataclass(frozen=True)
class IndexPlan:
    seen: list[int]  # media rows of every file found
    todo: list[int]  # those to (re)index
    removed: list[str]  # paths of files gone from indexed folders (their rows and feature files are deleted)


def plan_index(db: Database, paths: Sequence[Path], config: IngestConfig, extensions: Sequence[str],
               models: RunModels, ids: ModelIds, retry_failed: bool = False, force: bool = False) -> IndexPlan:
    """Scan ``paths``, drop what is gone, and list the files whose index is missing or out of date."""
    channels_key = models.text.key(models.text_info)
    seen, gone = _scan(db, paths, extensions)
    removed: list[str] = []
    if gone:
        with db.session() as session:
            removed = [m.path for mid in gone if (m := library_repo.get_media(session, mid)) is not None]
        remove_media(db, config.layout, gone)
    todo: list[int] = []
    with db.session() as session:
        for media_id in seen:
            media = library_repo.get_media(session, media_id)
            if media is None:
                continue
            stale = force or not is_current(media, config, ids, channels_key, retry_failed)
            if stale or (retry_failed and text_repo.has_failed_channel(session, media_id)):
                todo.append(media_id)
    if not force and not retry_failed:
        todo = [m for m in todo if not touch_if_same_content(db, m, config, ids, channels_key)]
    return IndexPlan(seen, todo, removed)


def index_paths(db: Database, paths: Sequence[Path], config: IngestConfig, extensions: Sequence[str],
                vision: VisionChannel | None, events: IndexEvents | None = None, retry_failed: bool = False,
                force: bool = False, text: TextChannels | None = None,
                qa_tower: QaTowerChannel | None = None, retry: RetryPolicy = RetryPolicy()) -> IndexSummary:
    """Index ``paths`` (files or folders) in this process. ``force`` re-indexes every file found, changed or not.

    ``text`` says which text channels run (default: subtitles, speech and OCR with the packaged models). A file
    whose database writes or data disk fail transiently is retried (``retry``); if that keeps failing the run
    stops as interrupted, with the reason, and the file is left as it was (never marked failed).
    """
    events = events or SilentEvents()
    summary = IndexSummary()
    models = RunModels(vision, text if text is not None else TextChannels(), qa_tower)
    with db.session() as session:
        run_id = runs_repo.start_run(session, "index").id
    ids = model_ids(db, models)
    plan = plan_index(db, paths, config, extensions, models, ids, retry_failed, force)
    seen, todo = plan.seen, plan.todo
    summary.removed = plan.removed
    events.planned(len(seen), len(todo))
    status = "done"
    try:
        for media_id in todo:
            with db.session() as session:
                media = library_repo.get_media(session, media_id)
                path = media.path if media is not None else "?"
            events.file_started(path)
            outcome = _index_with_retries(db, media_id, config, models, ids, events, retry)
            events.file_done(path, outcome)
            if outcome == Outcome.INDEXED:
                summary.indexed.append(path)
    except KeyboardInterrupt as exc:
        summary.interrupted, summary.interrupted_reason = True, str(exc) or "interrupted by the user"
        status = "interrupted"
    except RunInterrupted as exc:
        summary.interrupted, summary.interrupted_reason = True, str(exc)
        status = "interrupted"
        log.warning("index run interrupted: %s; no file was marked failed: run the same command again to go on", exc)
    finally:
        try:
            _finish(db, config, ids, models, summary, seen, todo, run_id, status)
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise DatabaseError(f"the database went away ({describe(exc)}); no file was marked failed: run the "
                                "same command again to go on") from exc
    return summary


def _finish(db: Database, config: IngestConfig, ids: ModelIds, models: RunModels, summary: IndexSummary,
            seen: list[int], todo: list[int], run_id: int, status: str) -> None:
    """Bring the vector indexes up to date and record the run, whatever happened to the files."""
    if ids.vision is not None:
        summary.vectors = sync_vector_index(db, config.layout, ids.vision).manifest
    if ids.text is not None:
        summary.text_vectors = sync_text_index(db, config.layout, ids.text).manifest
    summary.models_loaded = models.loaded
    with db.session() as session:
        todo_set = set(todo)
        summary.unchanged = sum(1 for mid in seen if mid not in todo_set and (m := library_repo.get_media(
            session, mid)) is not None and m.status == MediaStatus.INDEXED)
        summary.problems = [Problem(m.path, str(m.status), m.error_reason or "", m.error_hint or "")
                            for mid in seen if (m := library_repo.get_media(session, mid)) is not None
                            and m.status in (MediaStatus.FAILED, MediaStatus.SKIPPED)]
        runs_repo.finish_run(session, run_id, status, indexed=len(summary.indexed), unchanged=summary.unchanged,
                             failed=len(summary.failed), removed=len(summary.removed))
