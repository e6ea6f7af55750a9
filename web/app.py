"""The HTTP API: search, media details, thumbnails and the media itself (with range requests).

Every error a client can cause is answered with a 4xx and a JSON body ``{"error": {"code", "message"}}``
whose message says what to change, and is documented with that schema in the OpenAPI document; media is served
only from files under an indexed library root. web/guard.py checks what every request must satisfy.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictBool, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scenedex.ask_service import AskService
from scenedex.search_service import SearchService
from search.errors import ChannelUnavailableError, NotFoundError, QueryError
from search.request import SearchFilters, SearchRequest, make_request
from web.api_docs import add_api_docs
from web.ask_routes import add_ask_routes
from web.errors import ApiError
from web.guard import MAX_BODY_BYTES, GuardConfig, error_response, install_guard
from web.inputs import MAX_LIST_ITEMS, Count, Finite, Id, StrictCount, StrictId
from web.library_routes import add_library_routes, queued_jobs
from web.media_routes import add_media_routes
from web.pages import add_pages, is_browser_route, not_found_page
from web.schemas import ErrorOut, SearchOut, error_responses, search_out

log = logging.getLogger(__name__)
SEARCH_PARAMS = {"q", "channels", "combine", "group_by", "page", "page_size", "min_similarity", "root", "path",
                 "min_duration_s", "max_duration_s", "indexed_after", "indexed_before", "media_id", "like_frame",
                 "show_all"}
MAX_CHANNEL_ITEMS = 8
SHOW_ALL_HELP = ("also list the moments below the confidence cut-off (confidence 'low'), after the others and "
                 "marked below_cutoff; by default they are left out and only counted in below_cutoff")
CHANNELS_HELP = ("visual, speech, subtitles, ocr or all: a comma-separated list (channels=speech,ocr), the parameter "
                 "repeated (channels=speech&channels=ocr), or both")


@dataclass(frozen=True)
class ApiConfig:
    access_token: str | None = None  # required from clients when set
    # names the Host header may carry (DNS rebinding); None answers any: `scenedex serve` passes localhost's names
    allowed_hosts: frozenset[str] | None = None
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.access_token is not None and not self.access_token.strip():
            raise ValueError("the access token is blank: set a long random secret, or none")


class SearchBody(BaseModel):
    """A search as JSON, for queries by example image (base64) and long filter lists."""

    q: str | None = Field(None, description="what you remember: words said or shown, or what is seen")
    channels: list[str] = Field(default_factory=lambda: ["all"], max_length=MAX_CHANNEL_ITEMS,
                                description="visual, speech, subtitles, ocr or all (an item may be a comma list)")
    combine: Literal["or", "and"] = "or"
    group_by: Literal["moment", "video"] = "moment"
    page: StrictCount = 1
    page_size: StrictCount = 10
    min_similarity: Finite | None = None
    root: str | None = None
    path: str | None = Field(None, description="shell pattern on file paths (* and ?)")
    min_duration_s: Finite | None = None
    max_duration_s: Finite | None = None
    indexed_after: datetime | None = None
    indexed_before: datetime | None = None
    media_ids: list[StrictId] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    like_frame: StrictId | None = Field(None, description="query by example: a frame id from earlier results")
    like_image_base64: str | None = Field(None, description="query by example: an image file, base64-encoded")
    show_all: StrictBool = Field(False, description=SHOW_ALL_HELP)

    model_config = {"extra": "forbid", "allow_inf_nan": False}


def create_app(service: SearchService, config: ApiConfig = ApiConfig(),
               ask: AskService | None = None) -> FastAPI:
    app = FastAPI(title="scenedex", version="0.1.0",
                  description="Search the moments of an indexed video library in plain language.",
                  docs_url=None, redoc_url=None,
                  responses=error_responses(400, 401, 411, 413, 422))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError) -> JSONResponse:
        return error_response(422, "bad_query", str(exc))

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(ChannelUnavailableError)
    async def unavailable(_: Request, exc: ChannelUnavailableError) -> JSONResponse:
        return error_response(409, "channel_unavailable", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body", "path"))
            problems.append(f"{where[:60] or 'request'}: {e.get('msg', 'invalid')}")
        return error_response(422, "bad_request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and is_browser_route(request.url.path):
            return not_found_page()
        message = "no such route: see /docs for the API" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, "not_found" if exc.status_code == 404 else "http_error", message)

    def check_params(request: Request) -> None:
        unknown = sorted(set(request.query_params) - SEARCH_PARAMS)
        if unknown:
            raise ApiError(422, "unknown_parameter", f"unknown parameter {unknown[0][:40]!r}: known are "
                           + ", ".join(sorted(SEARCH_PARAMS)))

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/search", response_model=SearchOut, dependencies=[Depends(check_params)],
             summary="Search moments", responses=error_responses(404, 409))
    def search_get(q: str | None = Query(None, description="what you remember"),
                   channels: list[str] = Query(["all"], description=CHANNELS_HELP),
                   combine: Literal["or", "and"] = "or", group_by: Literal["moment", "video"] = "moment",
                   page: Count = 1, page_size: Count = 10, min_similarity: Finite | None = None,
                   root: str | None = None, path: str | None = None, min_duration_s: Finite | None = None,
                   max_duration_s: Finite | None = None, indexed_after: datetime | None = None,
                   indexed_before: datetime | None = None,
                   media_id: list[Id] = Query(default_factory=list, description="only these files (repeat it)"),
                   like_frame: Id | None = None,
                   show_all: bool = Query(False, description=SHOW_ALL_HELP)) -> SearchOut:
        for name, items in (("channels", channels), ("media_id", media_id)):
            limit = MAX_CHANNEL_ITEMS if name == "channels" else MAX_LIST_ITEMS
            if len(items) > limit:
                raise ApiError(422, "bad_request", f"{name} is given {len(items)} times; at most {limit}")
        try:
            body = SearchBody(q=q, channels=channels, combine=combine, group_by=group_by, page=page,
                              page_size=page_size, min_similarity=min_similarity, root=root, path=path,
                              min_duration_s=min_duration_s, max_duration_s=max_duration_s,
                              indexed_after=indexed_after, indexed_before=indexed_before, media_ids=media_id,
                              like_frame=like_frame, show_all=show_all)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc
        return search_out(service.search(_request(body)))

    @app.post("/api/search", response_model=SearchOut, summary="Search moments (JSON body; example images)",
              responses=error_responses(404, 409))
    def search_post(body: SearchBody) -> SearchOut:
        return search_out(service.search(_request(body)))

    add_media_routes(app, service)
    add_library_routes(app, service.db, jobs=queued_jobs(service.db))
    add_ask_routes(app, ask)
    add_api_docs(app)
    add_pages(app)
    install_guard(app, GuardConfig(access_token=config.access_token, allowed_hosts=config.allowed_hosts,
                                   max_body_bytes=config.max_body_bytes))
    _document_error_bodies(app)
    return app


def _document_error_bodies(app: FastAPI) -> None:
    """Give every documented 4xx/5xx that has no body schema (e.g. the ask routes') the error schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        error_ref = {"$ref": "#/components/schemas/" + ErrorOut.__name__}
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for status, response in operation.get("responses", {}).items():
                    if status[0] in "45" and "content" not in response:
                        response["content"] = {"application/json": {"schema": error_ref}}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _utc(t: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC, so that it compares with one that has a zone."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _request(body: SearchBody) -> SearchRequest:
    like_image = None
    if body.like_image_base64 is not None:
        try:
            like_image = base64.b64decode(body.like_image_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise QueryError("like_image_base64 is not valid base64") from exc
    filters = SearchFilters(root=body.root, path_glob=body.path, min_duration_s=body.min_duration_s,
                            max_duration_s=body.max_duration_s, indexed_after=_utc(body.indexed_after),
                            indexed_before=_utc(body.indexed_before), media_ids=tuple(body.media_ids))
    return make_request(text=body.q, channels=body.channels, combine=body.combine, group_by=body.group_by,
                        filters=filters, page=body.page, page_size=body.page_size,
                        min_similarity=body.min_similarity, like_frame=body.like_frame, like_image=like_image,
                        show_all=body.show_all)
