"""The errors of the question-answering package. Each says what went wrong and what to do."""

from __future__ import annotations


class QaError(Exception):
    """Base of every qa/ error. ``hint`` tells the user what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class QuestionError(QaError):
    """The question itself cannot be answered as given (empty, too long)."""


class CheckpointError(QaError):
    """A model directory or checkpoint is missing shards, has unexpected keys or wrong shapes."""


class AnswerModelError(QaError):
    """The answer model could not load or run (including out of memory)."""


class EmptyLibraryError(QaError):
    """Nothing is indexed yet, so there is nothing to answer from."""


class NoEvidenceError(QaError):
    """No moment of the library matches the question (or none fits the answer model's context)."""
