"""Errors of the indexer. Each carries the file, what happened and what the user can do."""

from __future__ import annotations

from pathlib import Path


class IndexerError(Exception):
    """Base error of the indexer package.

    ``reason`` says what happened in words a user understands; ``hint`` says what to do about it;
    ``detail`` keeps the tool output (ffmpeg's stderr tail) for whoever debugs it.
    """

    def __init__(self, path: Path | str, reason: str, hint: str = "", detail: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.hint = hint
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({hint})" if hint else ""))


class UnreadableMediaError(IndexerError):
    """The file cannot be opened or is not a regular file."""


class UnsupportedMediaError(IndexerError):
    """ffmpeg opened or tried the file, and it is not a video scenedex can index."""


class DecodeError(IndexerError):
    """Decoding failed part-way (corrupt stream, ffmpeg crash, timeout)."""


class SpeechError(IndexerError):
    """The audio stream cannot be decoded, or the speech model cannot be loaded or run."""


class EncoderError(Exception):
    """A vision encoder cannot be loaded or cannot run (bad path, unsupported architecture)."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"vision model {model!r}: {reason}")


class FeatureFileError(Exception):
    """A per-media feature file is missing, partial or does not match what was asked of it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
