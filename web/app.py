"""The HTTP API: search, media details, thumbnails and the media itself (with range requests).

Every error a client can cause is answered with a 4xx and a JSON body ``{"error": {"code", "message"}}``
whose message says what to change; media is served only from files under an indexed library root.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from indexer.errors import IndexerError
from indexer.thumbnails import thumbnail_jpeg
from scenedex.ask_service import AskService
from scenedex.search_service import SearchService
from search.errors import ChannelUnavailableError, NotFoundError, QueryError
from search.request import SearchFilters, SearchRequest, make_request
from web.ask_routes import add_ask_routes
from web.library_routes import add_library_routes, queued_jobs
from web.pages import add_pages, is_browser_route, not_found_page
from web.ranges import RangeError, parse_range
from web.schemas import MediaOut, SearchOut, media_out, search_out

log = logging.getLogger(__name__)
CHUNK_BYTES = 256 * 1024
SEARCH_PARAMS = {"q", "channels", "combine", "group_by", "page", "page_size", "min_similarity", "root", "path",
                 "min_duration_s", "max_duration_s", "indexed_after", "indexed_before", "media_id", "like_frame",
                 "token"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}
        super().__init__(message)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


@dataclass(frozen=True)
class ApiConfig:
    access_token: str | None = None  # required from clients when set


class SearchBody(BaseModel):
    """A search as JSON, for queries by example image (base64) and long filter lists."""

    q: str | None = Field(None, description="what you remember: words said or shown, or what is seen")
    channels: list[str] = Field(default_factory=lambda: ["all"], description="visual, speech, subtitles, ocr or all")
    combine: Literal["or", "and"] = "or"
    group_by: Literal["moment", "video"] = "moment"
    page: int = 1
    page_size: int = 10
    min_similarity: float | None = None
    root: str | None = None
    path: str | None = Field(None, description="shell pattern on file paths (* and ?)")
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    indexed_after: datetime | None = None
    indexed_before: datetime | None = None
    media_ids: list[int] = Field(default_factory=list)
    like_frame: int | None = Field(None, description="query by example: a frame id from earlier results")
    like_image_base64: str | None = Field(None, description="query by example: an image file, base64-encoded")

    model_config = {"extra": "forbid"}


class MediaDetail(MediaOut):
    status: str
    channels: dict[str, str]
    shots: int
    indexed_at: str | None


def create_app(service: SearchService, config: ApiConfig = ApiConfig(),
               ask: AskService | None = None) -> FastAPI:
    app = FastAPI(title="scenedex", version="0.1.0",
                  description="Search the moments of an indexed video library in plain language.")

    @app.middleware("http")
    async def headers_and_token(request: Request, call_next: Any) -> Response:
        if config.access_token and request.url.path.startswith("/api/") and not _authorised(request, config):
            response: Response = _error(401, "unauthorized", "a valid access token is needed: send "
                                        "'Authorization: Bearer <token>' (or ?token=<token> on media URLs)",
                                        {"WWW-Authenticate": "Bearer"})
        else:
            response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError) -> JSONResponse:
        return _error(422, "bad_query", str(exc))

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(ChannelUnavailableError)
    async def unavailable(_: Request, exc: ChannelUnavailableError) -> JSONResponse:
        return _error(409, "channel_unavailable", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body", "path"))
            problems.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
        return _error(422, "bad_request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and is_browser_route(request.url.path):
            return not_found_page()
        message = "no such route: see /docs for the API" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, "not_found" if exc.status_code == 404 else "http_error", message)

    def check_params(request: Request) -> None:
        unknown = sorted(set(request.query_params) - SEARCH_PARAMS)
        if unknown:
            raise ApiError(422, "unknown_parameter", f"unknown parameter {unknown[0]!r}: known are "
                           + ", ".join(sorted(SEARCH_PARAMS - {"token"})))

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/search", response_model=SearchOut, dependencies=[Depends(check_params)],
             summary="Search moments", responses={422: {"description": "a bad query or filter, with the reason"}})
    def search_get(q: str | None = Query(None, description="what you remember"),
                   channels: str = Query("all", description="comma-separated: visual, speech, subtitles, ocr"),
                   combine: Literal["or", "and"] = "or", group_by: Literal["moment", "video"] = "moment",
                   page: int = 1, page_size: int = 10, min_similarity: float | None = None,
                   root: str | None = None, path: str | None = None, min_duration_s: float | None = None,
                   max_duration_s: float | None = None, indexed_after: datetime | None = None,
                   indexed_before: datetime | None = None, media_id: list[int] = Query(default_factory=list),
                   like_frame: int | None = None) -> SearchOut:
        body = SearchBody(q=q, channels=[channels], combine=combine, group_by=group_by, page=page,
                          page_size=page_size, min_similarity=min_similarity, root=root, path=path,
                          min_duration_s=min_duration_s, max_duration_s=max_duration_s, indexed_after=indexed_after,
                          indexed_before=indexed_before, media_ids=media_id, like_frame=like_frame)
        return search_out(service.search(_request(body)))

    @app.post("/api/search", response_model=SearchOut, summary="Search moments (JSON body; example images)")
    def search_post(body: SearchBody) -> SearchOut:
        return search_out(service.search(_request(body)))

    @app.get("/api/media/{media_id}", response_model=MediaDetail, summary="An indexed file")
    def media(media_id: int) -> MediaDetail:
        with service.db.session() as session:
            row = library_repo.get_media(session, media_id)
            if row is None:
                raise ApiError(404, "not_found", f"media {media_id} does not exist")
            summary = service.media_summaries([media_id])[media_id]
            channels = {str(c.channel): str(c.status) for c in text_repo.channels_of(session, media_id)}
            shots = len(frames_repo.shots_of_media(session, media_id))
            return MediaDetail(**media_out(summary).model_dump(), status=str(row.status), channels=channels,
                               shots=shots, indexed_at=row.indexed_at.isoformat() if row.indexed_at else None)

    @app.get("/api/media/{media_id}/thumbnail", summary="A JPEG of the picture at a time",
             responses={200: {"content": {"image/jpeg": {}}}})
    def thumbnail(media_id: int, t_s: float = 0.0, width: int = 320) -> Response:
        if not 16 <= width <= 1920:
            raise ApiError(422, "bad_request", f"width must be 16 to 1920 pixels, got {width}")
        path, stream_index, duration_s = _served_file(service, media_id)
        if t_s < 0 or (duration_s is not None and t_s > duration_s + 1):
            raise ApiError(422, "bad_request", f"t_s={t_s} is outside the file (0 to {duration_s:.2f} s)")
        try:
            jpeg = _thumbnail(str(path), path.stat().st_mtime_ns, round(t_s, 2), width, stream_index)
        except IndexerError as exc:
            raise ApiError(422, "no_picture", f"{exc.reason}: {exc.hint}") from exc
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/media/{media_id}/file", summary="The media file (supports Range requests)",
             responses={206: {"description": "the requested byte range"},
                        416: {"description": "the range lies outside the file"}})
    def media_file(media_id: int, request: Request) -> Response:
        path, _, _ = _served_file(service, media_id)
        return _ranged_file(path, request.headers.get("range"))

    add_library_routes(app, service.db, jobs=queued_jobs(service.db))
    add_ask_routes(app, ask)
    add_pages(app)
    return app


def _authorised(request: Request, config: ApiConfig) -> bool:
    assert config.access_token
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token", "")
    return hmac.compare_digest(given.encode(), config.access_token.encode())


def _request(body: SearchBody) -> SearchRequest:
    like_image = None
    if body.like_image_base64 is not None:
        try:
            like_image = base64.b64decode(body.like_image_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise QueryError("like_image_base64 is not valid base64") from exc
    filters = SearchFilters(root=body.root, path_glob=body.path, min_duration_s=body.min_duration_s,
                            max_duration_s=body.max_duration_s, indexed_after=body.indexed_after,
                            indexed_before=body.indexed_before, media_ids=tuple(body.media_ids))
    return make_request(text=body.q, channels=body.channels, combine=body.combine, group_by=body.group_by,
                        filters=filters, page=body.page, page_size=body.page_size,
                        min_similarity=body.min_similarity, like_frame=body.like_frame, like_image=like_image)


def _served_file(service: SearchService, media_id: int) -> tuple[Path, int | None, float | None]:
    """The file of an indexed media row, only if it still lies under an indexed library root."""
    with service.db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None:
            raise ApiError(404, "not_found", f"media {media_id} does not exist")
        roots = [Path(r.path) for r in library_repo.list_roots(session)]
        path, stream_index, duration_s = Path(media.path), media.video_stream_index, media.duration_s
    real = path.resolve()
    if not any(real.is_relative_to(root.resolve()) for root in roots):
        raise ApiError(403, "outside_library", f"media {media_id} lies outside the indexed library roots; "
                       "only files under a root are served")
    if not real.is_file():
        raise ApiError(410, "gone", f"{path.name} is no longer on disk: run `scenedex index` to update the library")
    return real, stream_index, duration_s


@lru_cache(maxsize=512)
def _thumbnail(path: str, mtime_ns: int, t_s: float, width: int, stream_index: int | None) -> bytes:
    return thumbnail_jpeg(Path(path), t_s, width, stream_index)


MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
               ".webm": "video/webm", ".ts": "video/mp2t", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
               ".wav": "audio/wav", ".ogg": "audio/ogg", ".ogv": "video/ogg", ".flac": "audio/flac"}


def _ranged_file(path: Path, range_header: str | None) -> Response:
    size = path.stat().st_size
    media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = {"Accept-Ranges": "bytes"}
    if range_header is None:
        return StreamingResponse(_read(path, 0, size - 1), media_type=media_type,
                                 headers={**headers, "Content-Length": str(size)})
    try:
        first, last = parse_range(range_header, size)
    except RangeError as exc:
        extra = {"Content-Range": f"bytes */{size}"} if exc.status == 416 else {}
        raise ApiError(exc.status, "bad_range", exc.reason, {**headers, **extra}) from exc
    return StreamingResponse(_read(path, first, last), status_code=206, media_type=media_type,
                             headers={**headers, "Content-Range": f"bytes {first}-{last}/{size}",
                                      "Content-Length": str(last - first + 1)})


def _read(path: Path, first: int, last: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = handle.read(min(CHUNK_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
