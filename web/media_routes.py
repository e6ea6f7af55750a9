"""``/api/media/{id}``: an indexed file's details, a thumbnail at a time, and the file itself (GET and HEAD, with
range requests). Files are served only from under an indexed library root, and only while they are still there."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse

from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from indexer.errors import IndexerError
from indexer.thumbnails import thumbnail_jpeg
from scenedex.search_service import SearchService
from web.errors import ApiError
from web.inputs import Finite, Id
from web.ranges import RangeError, parse_range
from web.schemas import MediaOut, error_responses, media_out

CHUNK_BYTES = 256 * 1024
MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
               ".webm": "video/webm", ".ts": "video/mp2t", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
               ".wav": "audio/wav", ".ogg": "audio/ogg", ".ogv": "video/ogg", ".flac": "audio/flac"}
BYTES = {"schema": {"type": "string", "format": "binary"}}
FILE_CONTENT = {media_type: BYTES for media_type in sorted({*MEDIA_TYPES.values(), "application/octet-stream"})}


class MediaDetail(MediaOut):
    status: str
    channels: dict[str, str]
    shots: int
    indexed_at: str | None


def add_media_routes(app: FastAPI, service: SearchService) -> None:
    @app.get("/api/media/{media_id}", response_model=MediaDetail, summary="An indexed file",
             responses=error_responses(404))
    def media(media_id: Id) -> MediaDetail:
        with service.db.session() as session:
            row = library_repo.get_media(session, media_id)
            if row is None:
                raise ApiError(404, "not_found", f"media {media_id} does not exist")
            summary = service.media_summaries([media_id])[media_id]
            channels = {str(c.channel): str(c.status) for c in text_repo.channels_of(session, media_id)}
            shots = len(frames_repo.shots_of_media(session, media_id))
            return MediaDetail(**media_out(summary).model_dump(), status=str(row.status), channels=channels,
                               shots=shots, indexed_at=row.indexed_at.isoformat() if row.indexed_at else None)

    @app.get("/api/media/{media_id}/thumbnail", summary="A JPEG of the picture at a time", response_class=Response,
             responses={200: {"content": {"image/jpeg": BYTES}, "description": "the picture"},
                        **error_responses(403, 404, 410)})
    def thumbnail(media_id: Id, t_s: Finite = Query(0.0, ge=0.0, le=1e7, description="seconds from the start"),
                  width: int = Query(320, ge=16, le=1920, description="pixels")) -> Response:
        path, stream_index, duration_s = _served_file(service, media_id)
        if duration_s is not None and t_s > duration_s + 1:
            raise ApiError(422, "bad_request", f"t_s={t_s} is outside the file (0 to {duration_s:.2f} s)")
        try:
            jpeg = _thumbnail(str(path), path.stat().st_mtime_ns, round(t_s, 2), width, stream_index)
        except IndexerError as exc:
            raise ApiError(422, "no_picture", f"{exc.reason}: {exc.hint}") from exc
        except OSError as exc:
            raise ApiError(410, "gone", f"{path.name} cannot be read now ({exc.strerror})") from exc
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    file_responses = {200: {"content": FILE_CONTENT, "description": "the whole file"},
                      206: {"content": FILE_CONTENT, "description": "the requested byte range"},
                      **error_responses(400, 403, 404, 410, 416)}

    @app.get("/api/media/{media_id}/file", summary="The media file (supports Range requests)",
             response_class=Response, responses=file_responses)
    def media_file(media_id: Id, request: Request) -> Response:
        path, _, _ = _served_file(service, media_id)
        return _ranged_file(path, request.headers.get("range"), with_body=True)

    @app.head("/api/media/{media_id}/file", summary="The media file's headers (size, type, range support)",
              response_class=Response, responses={200: {"description": "the whole file's headers"},
                                                  206: {"description": "the byte range's headers"},
                                                  **error_responses(400, 403, 404, 410, 416)})
    def media_file_head(media_id: Id, request: Request) -> Response:
        path, _, _ = _served_file(service, media_id)
        return _ranged_file(path, request.headers.get("range"), with_body=False)


def _served_file(service: SearchService, media_id: int) -> tuple[Path, int | None, float | None]:
    """The file of an indexed media row, only if it still lies under an indexed library root."""
    with service.db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None:
            raise ApiError(404, "not_found", f"media {media_id} does not exist")
        roots = [Path(r.path) for r in library_repo.list_roots(session)]
        path, stream_index, duration_s = Path(media.path), media.video_stream_index, media.duration_s
    try:
        real = path.resolve()
        inside = any(real.is_relative_to(root.resolve()) for root in roots)
        is_file = real.is_file()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13), a broken mount
        raise ApiError(410, "unreadable", f"{path.name} cannot be opened ({exc}): fix the file or link, then run "
                       "`scenedex index`") from exc
    if not inside:
        raise ApiError(403, "outside_library", f"media {media_id} lies outside the indexed library roots; "
                       "only files under a root are served")
    if not is_file:
        raise ApiError(410, "gone", f"{path.name} is no longer on disk: run `scenedex index` to update the library")
    return real, stream_index, duration_s


@lru_cache(maxsize=512)
def _thumbnail(path: str, mtime_ns: int, t_s: float, width: int, stream_index: int | None) -> bytes:
    return thumbnail_jpeg(Path(path), t_s, width, stream_index)


def _ranged_file(path: Path, range_header: str | None, with_body: bool) -> Response:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ApiError(410, "gone", f"{path.name} cannot be read now ({exc.strerror})") from exc
    media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = {"Accept-Ranges": "bytes"}
    status, first, last = 200, 0, size - 1
    if range_header is not None:
        try:
            first, last = parse_range(range_header, size)
        except RangeError as exc:
            extra = {"Content-Range": f"bytes */{size}"} if exc.status == 416 else {}
            raise ApiError(exc.status, "bad_range", exc.reason, {**headers, **extra}) from exc
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(max(0, last - first + 1))
    if not with_body:
        return Response(status_code=status, media_type=media_type, headers=headers)
    return StreamingResponse(_read(path, first, last), status_code=status, media_type=media_type, headers=headers)


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
