"""What a search asks for, checked once at the edge so everything below can trust it.

Every way a request can be wrong raises ``QueryError`` with a sentence a person can act on; the CLI prints it
and the HTTP API answers 422 with it. Nothing here knows about the database or the models.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime

from search.errors import QueryError

MAX_QUERY_CHARS = 1000  # longer text is not a search query; ask, not search
MAX_PAGE_SIZE = 100
MAX_PAGE = 1000


class SearchChannel(enum.StrEnum):
    """What a query is matched against."""

    VISUAL = "visual"  # frame embeddings of the vision-language model
    SPEECH = "speech"  # recognised speech
    SUBTITLES = "subtitles"  # subtitle tracks and sidecar files
    OCR = "ocr"  # on-screen text


TEXT_CHANNELS = (SearchChannel.SPEECH, SearchChannel.SUBTITLES, SearchChannel.OCR)


class Combine(enum.StrEnum):
    OR = "or"  # a moment matches if any chosen channel matches
    AND = "and"  # a moment matches only if every chosen channel has evidence in it


class GroupBy(enum.StrEnum):
    MOMENT = "moment"
    VIDEO = "video"


@dataclass(frozen=True)
class SearchFilters:
    root: str | None = None  # only files under this library root (its path as indexed)
    path_glob: str | None = None  # shell pattern on the file path, e.g. "*/2019/*.mp4"
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    indexed_after: datetime | None = None
    indexed_before: datetime | None = None
    media_ids: tuple[int, ...] = ()

    @property
    def active(self) -> bool:
        return any(v not in (None, ()) for v in (self.root, self.path_glob, self.min_duration_s, self.max_duration_s,
                                                 self.indexed_after, self.indexed_before, self.media_ids))


@dataclass(frozen=True)
class ExampleFrame:
    """Query by example: a frame of an indexed video."""

    frame_id: int


@dataclass(frozen=True)
class ExampleImage:
    """Query by example: an image file's bytes (any format ffmpeg reads)."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class SearchRequest:
    text: str | None = None
    example: ExampleFrame | ExampleImage | None = None
    channels: frozenset[SearchChannel] = frozenset(SearchChannel)
    combine: Combine = Combine.OR
    group_by: GroupBy = GroupBy.MOMENT
    filters: SearchFilters = SearchFilters()
    page: int = 1  # 1-based
    page_size: int = 10
    min_similarity: float | None = None  # drop semantic and visual hits below this cosine similarity
    show_all: bool = False  # also the moments below the confidence cut-off (after the others, marked)

    @property
    def wants_text_channels(self) -> bool:
        return any(c in self.channels for c in TEXT_CHANNELS)


def make_request(*, text: str | None, channels: str | list[str], combine: str = "or", group_by: str = "moment",
                 filters: SearchFilters = SearchFilters(), page: int = 1, page_size: int = 10,
                 min_similarity: float | None = None, like_frame: int | None = None,
                 like_image: bytes | None = None, show_all: bool = False) -> SearchRequest:
    """A request from the plain values an interface reads (the CLI's arguments, the API's parameters).

    >>> make_request(text="harbor", channels="speech,ocr", combine="and", like_frame=None).combine
    <Combine.AND: 'and'>
    """
    example: ExampleFrame | ExampleImage | None = None
    if like_frame is not None:
        example = ExampleFrame(like_frame)
    elif like_image is not None:
        example = ExampleImage(like_image)
    return SearchRequest(text=text, example=example, channels=parse_channels(channels), combine=Combine(combine),
                         group_by=GroupBy(group_by), filters=filters, page=page, page_size=page_size,
                         min_similarity=min_similarity, show_all=show_all)


def parse_channels(spec: str | list[str] | tuple[str, ...]) -> frozenset[SearchChannel]:
    """'speech,ocr', ['speech', 'ocr'] or ['speech,ocr'] (a repeated parameter) -> channels; 'all' -> every channel.

    >>> sorted(parse_channels("speech, ocr"))
    [<SearchChannel.OCR: 'ocr'>, <SearchChannel.SPEECH: 'speech'>]
    """
    items = [spec] if isinstance(spec, str) else spec
    names = [n.strip().lower() for item in items for n in item.split(",") if n.strip()]
    if not names:
        raise QueryError("no channel chosen: pick one or more of " + ", ".join(c.value for c in SearchChannel))
    if names == ["all"]:
        return frozenset(SearchChannel)
    unknown = [n for n in names if n not in SearchChannel.__members__.values()]
    if unknown:
        raise QueryError(f"unknown channel {unknown[0][:40]!r}: choose from "
                         + ", ".join(c.value for c in SearchChannel) + " (or 'all')")
    return frozenset(SearchChannel(n) for n in names)


def validate(request: SearchRequest) -> SearchRequest:
    """Return the request with its text normalised, or raise QueryError saying what to change."""
    text = " ".join(request.text.split()) if request.text is not None else None
    if text == "":
        text = None
    if text is None and request.example is None:
        raise QueryError("the query is empty: type what you remember (words said or shown, or what is seen)")
    if text is not None and request.example is not None:
        raise QueryError("give either a text query or an example image/frame, not both")
    if text is not None and len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}: "
                         "search with the few words that matter (use `scenedex ask` for long questions)")
    if not request.channels:
        raise QueryError("no channel chosen: pick one or more of " + ", ".join(c.value for c in SearchChannel))
    if request.example is not None and request.channels != frozenset({SearchChannel.VISUAL}):
        request = replace(request, channels=frozenset({SearchChannel.VISUAL}))  # pictures match pictures only
    if not 1 <= request.page <= MAX_PAGE:
        raise QueryError(f"page must be between 1 and {MAX_PAGE} (pages count from 1), got {request.page}")
    if not 1 <= request.page_size <= MAX_PAGE_SIZE:
        raise QueryError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {request.page_size}")
    if request.min_similarity is not None and not -1.0 <= request.min_similarity <= 1.0:
        raise QueryError(f"min_similarity is a cosine similarity between -1 and 1, got {request.min_similarity}")
    _check_filters(request.filters)
    return replace(request, text=text)


def _check_filters(f: SearchFilters) -> None:
    for name, value in (("min_duration_s", f.min_duration_s), ("max_duration_s", f.max_duration_s)):
        if value is not None and value < 0:
            raise QueryError(f"{name} cannot be negative, got {value}")
    if f.min_duration_s is not None and f.max_duration_s is not None and f.min_duration_s > f.max_duration_s:
        raise QueryError(f"min_duration_s ({f.min_duration_s}) is larger than max_duration_s ({f.max_duration_s})")
    if f.indexed_after and f.indexed_before and f.indexed_after > f.indexed_before:
        raise QueryError("indexed_after is later than indexed_before: no file can match")
    if f.path_glob is not None and (not f.path_glob.strip() or len(f.path_glob) > 500):
        raise QueryError("path pattern must be a non-empty shell pattern of at most 500 characters, e.g. '*/2019/*'")
