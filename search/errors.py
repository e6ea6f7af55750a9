"""Errors of the search package."""

from __future__ import annotations

from pathlib import Path


class SearchError(Exception):
    """Base error of the search package."""


class IndexMismatchError(SearchError):
    """An index on disk was built for another model, dimension or metric than the one asked for."""

    def __init__(self, directory: Path, field: str, on_disk: object, expected: object) -> None:
        self.directory, self.field, self.on_disk, self.expected = directory, field, on_disk, expected
        super().__init__(f"index in {directory} has {field}={on_disk!r} but {expected!r} was expected: "
                         "run `scenedex reindex` to rebuild it for the configured model")


class IndexMissingError(SearchError):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(f"no vector index in {directory}: run `scenedex reindex` to build it")


class QueryError(SearchError):
    """A search request that cannot be answered as asked; the message says what to change (HTTP 422)."""


class NotFoundError(SearchError):
    """Something a request names (a media file, a frame) does not exist (HTTP 404)."""


class ChannelUnavailableError(SearchError):
    """A channel was asked for that this library or configuration cannot search; the message says why."""
