"""GET /api/library: the indexed files with their status, channels and problems, and the ingest jobs running now.

Jobs come from a provider callable (the Celery queue, once it exists); without one the list is empty. The page polls
this route every 2 s while a file is pending or a job is running.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from db.models import MediaStatus
from db.repositories.library_view import LibraryFile, library_page
from db.session import Database
from web.inputs import BIGINT_MAX, Count
from web.schemas import error_responses

JobsProvider = Callable[[], list[dict[str, Any]]]


def no_jobs() -> list[dict[str, Any]]:
    return []


class ChannelProblemOut(BaseModel):
    reason: str | None
    hint: str | None


class LibraryMediaOut(BaseModel):
    id: int
    path: str
    name: str
    status: str = Field(description="pending, indexed, failed or skipped")
    duration_s: float | None
    channels: dict[str, str] = Field(description="frames, speech, subtitles, ocr -> done, failed or skipped")
    channel_problems: dict[str, ChannelProblemOut] = Field(description="why a channel failed, and what to do")
    error_reason: str | None = Field(description="why the file was not indexed")
    error_hint: str | None = Field(description="what to do about it")
    indexed_at: str | None


class RunningFileOut(BaseModel):
    media_id: int | None
    name: str
    fraction: float = Field(ge=0.0, le=1.0)


class JobOut(BaseModel):
    id: str
    state: str
    total: int
    done: int
    failed: int
    running: list[RunningFileOut] = Field(default_factory=list)


class LibraryOut(BaseModel):
    media: list[LibraryMediaOut]
    jobs: list[JobOut]
    total: int = Field(description="files matching the filter, on all pages")
    counts: dict[str, int] = Field(description="files per status in the whole library")


def _media_out(f: LibraryFile) -> LibraryMediaOut:
    problems = {name: ChannelProblemOut(reason=c.error_reason, hint=c.error_hint)
                for name, c in f.channels.items() if c.status == "failed"}
    return LibraryMediaOut(id=f.id, path=f.path, name=Path(f.path).name, status=f.status, duration_s=f.duration_s,
                           channels={name: c.status for name, c in f.channels.items()}, channel_problems=problems,
                           error_reason=f.error_reason, error_hint=f.error_hint,
                           indexed_at=f.indexed_at.isoformat() if f.indexed_at else None)


def add_library_routes(app: FastAPI, db: Database, jobs: JobsProvider = no_jobs) -> None:
    @app.get("/api/library", response_model=LibraryOut, summary="Indexed files, their channels and problems; jobs",
             responses=error_responses(422))
    def library(status: MediaStatus | None = Query(None, description="only files with this status"),
                limit: Annotated[Count, Query(ge=1, le=5000)] = 1000,
                offset: Annotated[Count, Query(ge=0, le=BIGINT_MAX)] = 0) -> LibraryOut:
        with db.session() as session:
            page = library_page(session, status=status, limit=limit, offset=offset)
        return LibraryOut(media=[_media_out(f) for f in page.files], jobs=[JobOut(**j) for j in jobs()],
                          total=page.total, counts=page.counts)


def queued_jobs(db: Database) -> JobsProvider:
    """The queued-ingest jobs still open (queued, running or syncing), in the page's shape."""
    from db.repositories import jobs as jobs_repo

    def provider() -> list[dict[str, Any]]:
        with db.session() as session:
            overviews = jobs_repo.job_overviews(session, limit=3)
        return [{"id": str(o.id), "state": o.state, "total": len(o.files),
                 "done": sum(1 for f in o.files if f.state == "done"),
                 "failed": sum(1 for f in o.files if f.state == "failed"),
                 "running": [{"media_id": f.media_id, "name": Path(f.path).name, "fraction": min(1.0, f.progress)}
                             for f in o.files if f.state in ("queued", "running") and f.progress > 0]}
                for o in overviews if o.state in jobs_repo.OPEN_JOB_STATES]

    return provider
