"""The JSON shapes of search results, shared by the HTTP API (and its OpenAPI document) and `scenedex search --json`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from scenedex.search_service import MediaSummary, SearchResponse
from search.moments import Evidence, Moment


class EvidenceOut(BaseModel):
    channel: str = Field(description="visual, speech, subtitles or ocr")
    start_s: float
    end_s: float
    similarity: float = Field(description="cosine similarity (semantic, visual) or full-text rank (lexical)")
    rank: int = Field(description="rank of this item in its retriever's list (1 = best)")
    retrievers: list[str] = Field(description="semantic, lexical, visual or example")
    text: str | None = Field(None, description="the transcript line, subtitle or on-screen words that matched")
    frame_id: int | None = Field(None, description="the frame that matched (visual channel)")


class MediaOut(BaseModel):
    id: int
    path: str
    name: str
    root: str | None
    duration_s: float | None
    width: int | None
    height: int | None
    url: str = Field(description="the media itself (supports HTTP range requests)")


class MomentOut(BaseModel):
    rank: int
    media_id: int
    start_s: float
    end_s: float
    score: float = Field(ge=0.0, le=1.0, description="calibrated confidence that this is a moment asked for, "
                         "0 to 1 (about the share of moments with this score that are right); comparable "
                         "across queries")
    confidence: Literal["high", "medium", "low"] = Field(description="the score as a label: high (where at least 9 "
                                                          "in 10 such moments are right), medium (about half), "
                                                          "low (fewer; every moment below the cut-off is low)")
    below_cutoff: bool = Field(description="below the confidence cut-off: listed only with show_all=true, "
                               "after the moments above it")
    rank_score: float = Field(description="fused reciprocal-rank score the list is ordered by; comparable within "
                              "one query only")
    thumbnail_t_s: float
    thumbnail_url: str
    play_url: str = Field(description="the media URL with a #t=start,end fragment a browser player honours")
    channels: list[str]
    evidence: list[EvidenceOut]


class VideoOut(BaseModel):
    rank: int
    media_id: int
    score: float = Field(description="its best moment's calibrated score")
    moments: list[MomentOut]


class SearchOut(BaseModel):
    query: str | None
    group_by: str
    page: int
    page_size: int
    total: int = Field(description="results on all pages")
    below_cutoff: int = Field(description="moments below the confidence cut-off: not listed unless show_all=true "
                              "(then listed after the others and counted in total)")
    show_all: bool = Field(description="whether moments below the cut-off are listed")
    pages: int
    moments: list[MomentOut] | None = None
    videos: list[VideoOut] | None = None
    media: dict[str, MediaOut]
    searched: list[str] = Field(description="channels that were searched")
    skipped: dict[str, str] = Field(description="channels asked for that could not be searched, and why")
    took_ms: float


def media_out(m: MediaSummary) -> MediaOut:
    return MediaOut(id=m.id, path=m.path, name=Path(m.path).name, root=m.root, duration_s=m.duration_s,
                    width=m.width, height=m.height, url=f"/api/media/{m.id}/file")


def _evidence(e: Evidence) -> EvidenceOut:
    return EvidenceOut(channel=e.channel.value, start_s=e.start_s, end_s=e.end_s, similarity=e.similarity,
                       rank=e.rank, retrievers=list(e.retrievers), text=e.text, frame_id=e.frame_id)


def moment_out(m: Moment, rank: int) -> MomentOut:
    base = f"/api/media/{m.media_id}"
    calibrated = m.calibrated_score if m.calibrated_score is not None else 0.0
    return MomentOut(rank=rank, media_id=m.media_id, start_s=m.start_s, end_s=m.end_s, score=calibrated,
                     confidence=(m.confidence or "low"), below_cutoff=m.below_cutoff, rank_score=round(m.score, 6),
                     thumbnail_t_s=m.thumbnail_t_s, thumbnail_url=f"{base}/thumbnail?t_s={m.thumbnail_t_s}",
                     play_url=f"{base}/file#t={m.start_s},{m.end_s}",
                     channels=sorted(c.value for c in m.channels), evidence=[_evidence(e) for e in m.evidence])


def search_out(response: SearchResponse) -> SearchOut:
    request = response.request
    page = response.moments if response.moments is not None else response.videos
    assert page is not None
    first_rank = (page.page - 1) * page.page_size + 1
    moments = videos = None
    if response.moments is not None:
        moments = [moment_out(m, first_rank + i) for i, m in enumerate(response.moments.items)]
    if response.videos is not None:
        videos = [VideoOut(rank=first_rank + i, media_id=v.media_id, score=v.moments[0].calibrated_score or 0.0,
                           moments=[moment_out(m, j + 1) for j, m in enumerate(v.moments)])
                  for i, v in enumerate(response.videos.items)]
    return SearchOut(query=request.text, group_by=request.group_by.value, page=page.page, page_size=page.page_size,
                     total=page.total, below_cutoff=response.below_cutoff, show_all=request.show_all,
                     pages=page.pages, moments=moments, videos=videos,
                     media={str(k): media_out(v) for k, v in response.media.items()},
                     searched=[c.value for c in response.searched],
                     skipped={c.value: why for c, why in response.skipped.items()}, took_ms=response.took_ms)


# -- errors: one shape for every status, documented on every route ------------------------------------------------

class ErrorDetail(BaseModel):
    code: str = Field(description="a stable machine-readable name, e.g. bad_request, not_found, bad_range")
    message: str = Field(description="what went wrong and what to change, for a person")


class ErrorOut(BaseModel):
    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    400: "a malformed request: a Host header this server does not answer to, or a malformed Range header",
    401: "an access token is configured and this request did not carry it",
    403: "the file lies outside the indexed library roots",
    404: "no such media, frame or route",
    409: "a channel asked for cannot be searched (e.g. no vision model for a visual example)",
    410: "the file is no longer on disk (or cannot be opened)",
    411: "a request body sent without a Content-Length (in chunks)",
    413: "the request body is too large",
    416: "the byte range lies outside the file",
    422: "a bad parameter or body: a value of the wrong type or out of range, unknown names, NUL characters "
         "or lone surrogates in text, an empty or over-long query",
    503: "the service needed is not available on this server",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for error statuses, each with the error schema."""
    return {status: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}
