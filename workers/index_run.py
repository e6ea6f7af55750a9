"""One `scenedex index` run in-process: scan the given paths, index what changed, remove what is gone, sync
the vector index. Progress goes to an injected ``IndexEvents`` (the CLI draws bars; tests record)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from db.errors import DatabaseError
from db.models import MediaStatus
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import runs as runs_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.files import discover
from search.vector_index import Manifest
from workers.file_state import file_signature, is_current, touch_if_same_content
from workers.index_files import IndexEvents, RetryPolicy, RunInterrupted, SilentEvents, index_each
from workers.ingest import IngestConfig, ModelIds, Outcome, remove_media
from workers.models import QaTowerChannel, RunModels, TextChannels, VisionChannel
from workers.reembed import Reembedded, only_text_model_changed, reembed_text
from workers.reread_ocr import ReadAgain, only_ocr_changed, reread_ocr
from workers.transient import describe, is_transient
from workers.vectors import sync_text_index, sync_vector_index

__all__ = ["IndexEvents", "IndexSummary", "Problem", "RetryPolicy", "RunInterrupted", "SilentEvents", "VisionChannel",
           "TextChannels", "index_paths"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    path: str
    status: str
    reason: str
    hint: str


DEFERRED = "deferred"  # Problem.status of a file that changed while it was indexed
UNREADABLE_FOLDER = "unreadable folder"  # Problem.status of a folder that cannot be listed


@dataclass
class IndexSummary:
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)  # failed, skipped, deferred files; unreadable folders
    removed: list[str] = field(default_factory=list)
    interrupted: bool = False
    interrupted_reason: str | None = None  # why the run stopped early (Ctrl-C, a signal, the database gone)
    vectors: Manifest | None = None
    text_vectors: Manifest | None = None
    models_loaded: list[str] = field(default_factory=list)
    reembedded: int = 0  # unchanged files whose stored text got the new sentence model's vectors
    reembedded_with: str | None = None  # that model's name
    rechunked: int = 0  # of those, files whose chunks were cut again (by rules newer than their index)
    ocr_read_again: int = 0  # unchanged files whose on-screen text alone was read again (OCR's settings changed)

    @property
    def failed(self) -> list[Problem]:
        return [p for p in self.problems if p.status == MediaStatus.FAILED]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.status == MediaStatus.SKIPPED]

    @property
    def deferred(self) -> list[Problem]:
        return [p for p in self.problems if p.status == DEFERRED]


@dataclass(frozen=True)
class Scan:
    seen: list[int]  # rows of every media file found (created when new)
    gone: list[int]  # rows under the given folders whose file no longer exists
    unreadable: list[Problem]  # folders that could not be listed (their indexed files are kept)


def _really_gone(path: str) -> bool:
    """The name no longer exists. A file that cannot be reached (a folder without permission, a mount that went
    away mid-check) is not gone: its indexed content is kept until it is readable again or really deleted."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _unreadable_folder(exc: OSError) -> Problem:
    folder = exc.filename or "?"
    return Problem(str(folder), UNREADABLE_FOLDER, f"cannot list the folder: {exc.strerror}",
                   "give the indexing user read and search permission (chmod o+rx) or fix the mount; files indexed "
                   "from it before are kept until it can be read again")


def _scan(db: Database, paths: Sequence[Path], extensions: Sequence[str]) -> Scan:
    seen: list[int] = []
    gone: list[int] = []
    unreadable: list[Problem] = []
    with db.session() as session:
        roots: dict[Path, int] = {}
        for root, path in discover(paths, extensions, lambda exc: unreadable.append(_unreadable_folder(exc))):
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
                if inside and media.id not in seen_set and _really_gone(media.path):
                    gone.append(media.id)
    for problem in unreadable:
        log.warning("cannot list %s: %s", problem.path, problem.reason)
    return Scan(seen, gone, unreadable)


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
    unreadable: list[Problem] = field(default_factory=list)  # folders that could not be listed


def plan_index(db: Database, paths: Sequence[Path], config: IngestConfig, extensions: Sequence[str],
               models: RunModels, ids: ModelIds, retry_failed: bool = False, force: bool = False) -> IndexPlan:
    """Scan ``paths``, drop what is gone, and list the files whose index is missing or out of date."""
    channels_key = models.text.key(models.text_info)
    scan = _scan(db, paths, extensions)
    seen, gone = scan.seen, scan.gone
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
    return IndexPlan(seen, todo, removed, scan.unreadable)


def index_paths(db: Database, paths: Sequence[Path], config: IngestConfig, extensions: Sequence[str],
                vision: VisionChannel | None, events: IndexEvents | None = None, retry_failed: bool = False,
                force: bool = False, text: TextChannels | None = None,
                qa_tower: QaTowerChannel | None = None, retry: RetryPolicy = RetryPolicy(),
                jobs: int = 1) -> IndexSummary:
    """Index ``paths`` (files or folders) in this process. ``force`` re-indexes every file found, changed or not.

    ``text`` says which text channels run (default: subtitles, speech and OCR with the packaged models). A file
    whose database writes or data disk fail transiently is retried (``retry``); if that keeps failing the run
    stops as interrupted, with the reason, and the file is left as it was (never marked failed). A file that
    changes while it is indexed is tried once more at the end of the run, then deferred to the next run.
    ``jobs`` files are indexed at once, in threads sharing the run's models (``workers.index_files``; the CLI
    passes the ``index_jobs`` setting: one per core, at most 2, by default).

    One run at a time per database: a second ``index_paths`` waits for the first (a Postgres advisory lock, so
    this holds across processes and machines), then finds the files the first one did as unchanged.
    """
    with db.exclusive(INDEX_LOCK, on_wait=lambda: _say_waiting(db)):
        return _index_paths(db, paths, config, extensions, vision, events, retry_failed, force, text, qa_tower,
                            retry, jobs)


INDEX_LOCK = "scenedex index run"


def _say_waiting(db: Database) -> None:
    with db.session() as session:
        other = runs_repo.last_runs(session, 1)
    who = f" (run {other[0].id}, started {other[0].started_at:%H:%M:%S})" if other else ""
    log.warning("another `scenedex index` is running on this library%s; waiting for it to finish "
                "(Ctrl-C to stop waiting)", who)


def catch_up_stored_text(db: Database, config: IngestConfig, models: RunModels, ids: ModelIds,
                         sync_index: bool = True) -> Reembedded | None:
    """Indexed, unchanged files whose settings differ from this run's only in the sentence model or in the
    rules that cut text into chunks: their stored text is chunked and embedded again now (no speech, no OCR),
    so the plan that follows finds them current. None when there are none (or no text model)."""
    if models.text_info is None:
        return None
    key = models.text.key(models.text_info)
    stale = only_text_model_changed(db, config, ids.vision, key)
    if not stale:
        return None
    return reembed_text(db, config.layout, models.text.text_model, models.text_encoder(), media_ids=stale,
                        channels_key=key, sync_index=sync_index)


def catch_up_ocr(db: Database, config: IngestConfig, models: RunModels, ids: ModelIds,
                 jobs: int = 1) -> ReadAgain | None:
    """Indexed, unchanged files whose settings differ from this run's in OCR's part alone (its models, sampling or
    rules; the sentence model may differ too): their on-screen text is read again now, and their text chunked and
    embedded again, without frames, speech or subtitles (``workers.reread_ocr``), so the plan that follows finds
    them current, ``jobs`` files at once. None when there are none."""
    if models.text.ocr is None or models.text_info is None:
        return None
    stale = only_ocr_changed(db, config, ids.vision, models.text.key(models.text_info))
    if not stale:
        return None
    return reread_ocr(db, stale, models, ids.text, jobs)  # the run's end brings the FAISS text index up to date


def _index_paths(db: Database, paths: Sequence[Path], config: IngestConfig, extensions: Sequence[str],
                 vision: VisionChannel | None, events: IndexEvents | None, retry_failed: bool, force: bool,
                 text: TextChannels | None, qa_tower: QaTowerChannel | None, retry: RetryPolicy,
                 jobs: int) -> IndexSummary:
    events = events or SilentEvents()
    summary = IndexSummary()
    models = RunModels(vision, text if text is not None else TextChannels(), qa_tower)
    with db.session() as session:
        run_id = runs_repo.start_run(session, "index").id
    ids = model_ids(db, models)
    done = None if force else catch_up_stored_text(db, config, models, ids)
    if done is not None:
        summary.reembedded, summary.reembedded_with = done.media, done.model_name
        summary.rechunked = done.recut
    again = None if force else catch_up_ocr(db, config, models, ids, jobs)
    if again is not None:
        summary.ocr_read_again = again.media
    plan = plan_index(db, paths, config, extensions, models, ids, retry_failed, force)
    seen, todo = plan.seen, plan.todo
    summary.removed = plan.removed
    events.planned(len(seen), len(todo))
    status = "done"
    outcomes: dict[int, Outcome] = {}  # the last outcome of each file tried
    try:
        index_each(db, todo, config, models, ids, events, retry, jobs, outcomes, summary.indexed)
        changed = [m for m, o in outcomes.items() if o == Outcome.DEFERRED and _still_there(db, m)]
        if changed:
            log.info("%d files changed while they were indexed; trying them once more", len(changed))
            index_each(db, changed, config, models, ids, events, retry, jobs, outcomes, summary.indexed)
    except KeyboardInterrupt as exc:
        summary.interrupted, summary.interrupted_reason = True, str(exc) or "interrupted by the user"
        status = "interrupted"
    except RunInterrupted as exc:
        summary.interrupted, summary.interrupted_reason = True, str(exc)
        status = "interrupted"
        log.warning("index run interrupted: %s; no file was marked failed: run the same command again to go on", exc)
    finally:
        try:
            deferred = [m for m, o in outcomes.items() if o == Outcome.DEFERRED]
            _finish(db, config, ids, models, summary, seen, todo, run_id, status, deferred)
            summary.problems.extend(plan.unreadable)
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise DatabaseError(f"the database went away ({describe(exc)}); no file was marked failed: run the "
                                "same command again to go on") from exc
    return summary


def _still_there(db: Database, media_id: int) -> bool:
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
    return media is not None and not _really_gone(media.path)


def _finish(db: Database, config: IngestConfig, ids: ModelIds, models: RunModels, summary: IndexSummary,
            seen: list[int], todo: list[int], run_id: int, status: str, deferred: list[int]) -> None:
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
                            for mid in seen if mid not in deferred and (m := library_repo.get_media(session, mid))
                            is not None and m.status in (MediaStatus.FAILED, MediaStatus.SKIPPED)]
        summary.problems += [Problem(m.path, DEFERRED, m.error_reason or "", m.error_hint or "")
                             for mid in deferred if (m := library_repo.get_media(session, mid)) is not None]
        runs_repo.finish_run(session, run_id, status, indexed=len(summary.indexed), unchanged=summary.unchanged,
                             failed=len(summary.failed), removed=len(summary.removed),
                             reason=summary.interrupted_reason if summary.interrupted else None)
