"""What an answer model is given and what it gives back. The answer model is pluggable: the embedded default answers
from text evidence with a small Llama-architecture LLM; LLaMA-VID adds two visual tokens per frame.

Timestamps never come from the model's text: each ``EvidenceMoment`` carries scenedex's own start/end, and the
answer cites moments by their number ``n``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TimedLine:
    """A line of text evidence: what was said, subtitled or shown on screen, with its span in the media."""

    channel: str  # "speech" | "subtitles" | "ocr"
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class EvidenceFrame:
    """A sampled frame the model may look at. ``pixels`` is (H, W, 3) uint8 RGB, or None for text-only models."""

    t_s: float
    pixels: np.ndarray | None = None


@dataclass(frozen=True)
class EvidenceMoment:
    """A retrieved moment, numbered for citation (``n`` from 1), in the order the model sees it (time order)."""

    n: int
    media_id: int
    media_name: str
    start_s: float
    end_s: float
    lines: tuple[TimedLine, ...] = ()
    frames: tuple[EvidenceFrame, ...] = ()


@dataclass(frozen=True)
class AnswerModelInfo:
    key: str  # stable identifier, e.g. "smollm2-135m-instruct:q4_1" or "llama-vid:<dir>"
    kind: str  # "text" (transcript, subtitle and on-screen text only) | "vision-language"
    context_tokens: int  # the most prompt + answer tokens the model takes
    visual_tokens_per_frame: int = 0  # 0 for text-only models, 2 for LLaMA-VID video mode
    note: str = ""  # said to the user with every answer, e.g. "answered from text evidence only"
    kv_cache_bytes_per_token: int = 0  # what one prompt token costs in the KV cache (0: not bounded by memory)
    frame_px: int = 0  # vision-language models: the square its frames are resized and cropped to (0: the default)


@dataclass(frozen=True)
class AnswerInput:
    question: str
    moments: tuple[EvidenceMoment, ...]
    max_new_tokens: int = 128


@dataclass
class AnswerStats:
    prompt_tokens: int = 0  # every token of the prompt, visual ones included
    visual_tokens: int = 0
    generated_tokens: int = 0
    first_token_s: float = 0.0  # seconds from the call to the first generated token
    total_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class AnswerModel(Protocol):
    """Anything that can answer a question from evidence moments, streaming text pieces as they are generated."""

    info: AnswerModelInfo

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's prompt (the budget planner uses it)."""
        ...

    def stream(self, question: AnswerInput, stats: AnswerStats | None = None) -> Iterator[str]:
        """Yield the answer's text pieces in order; fill ``stats`` as it goes."""
        ...
