"""Which moments, lines and frames go into an answer prompt, so that prompt + answer fit the model.

The budget is the model's context (and, for vision-language models, the KV cache the memory can hold) less the
answer's tokens and the fixed part of the prompt (question, instructions, chat template). Candidates come best
ranked first; each is taken greedily: its header with its most important line and one frame (the least that makes
a moment useful), then as many of its frames as fit (evenly spread over the moment), then its other lines in
priority order. A candidate whose least does not fit is skipped and the next, smaller one may still fit. The plan
never exceeds the budget, and the top-ranked moment is kept whenever its least fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.errors import QuestionError


@dataclass(frozen=True)
class BudgetLimits:
    context_tokens: int  # the most prompt + answer tokens the model takes
    max_new_tokens: int  # tokens kept free for the answer
    fixed_tokens: int  # question, instructions and template: in every prompt
    kv_bytes_per_token: int = 0  # vision-language models: KV-cache bytes one token costs (0: not bounded by memory)
    memory_bytes: int | None = None  # memory free for the KV cache (None: only the context bounds the prompt)

    @property
    def total_tokens(self) -> int:
        """Prompt + answer tokens allowed: the context, or fewer when the KV cache must fit in memory."""
        total = self.context_tokens
        if self.kv_bytes_per_token > 0 and self.memory_bytes is not None:
            total = min(total, self.memory_bytes // self.kv_bytes_per_token)
        return total

    @property
    def evidence_tokens(self) -> int:
        return self.total_tokens - self.max_new_tokens - self.fixed_tokens


@dataclass(frozen=True)
class MomentCost:
    """What showing one candidate moment costs, in tokens."""

    header_tokens: int  # its "[n] name start–end" line
    line_tokens: np.ndarray  # (L,) int: each timed line, in time order
    frames: int = 0  # frames that could be shown
    tokens_per_frame: int = 0  # visual tokens per frame (0 for text-only models)
    line_priority: np.ndarray | None = None  # (L,) int: line indices, most important first; None: time order

    def __post_init__(self) -> None:
        assert self.line_tokens.ndim == 1, f"line_tokens must be (L,), got {self.line_tokens.shape}"
        assert self.header_tokens >= 0 and self.frames >= 0 and self.tokens_per_frame >= 0, self
        if self.line_priority is not None:
            assert sorted(self.line_priority.tolist()) == list(range(len(self.line_tokens))), \
                f"line_priority must be a permutation of 0..{len(self.line_tokens) - 1}, got {self.line_priority}"


@dataclass(frozen=True)
class PlannedMoment:
    candidate: int  # index into the candidates (rank order)
    lines: np.ndarray  # (k,) int64: indices of the lines kept, ascending (time order)
    frames: np.ndarray  # (f,) int64: indices of the frames kept among MomentCost.frames, ascending
    tokens: int


@dataclass(frozen=True)
class BudgetPlan:
    moments: tuple[PlannedMoment, ...]  # in rank order
    budget_tokens: int  # evidence tokens allowed
    used_tokens: int

    @property
    def candidates(self) -> list[int]:
        return [m.candidate for m in self.moments]


def spread(count: int, total: int) -> np.ndarray:
    """``count`` distinct indices of ``range(total)``, evenly spread (the middle of ``count`` equal bins).

    >>> spread(1, 9).tolist(), spread(3, 9).tolist(), spread(4, 4).tolist()
    ([4], [1, 4, 7], [0, 1, 2, 3])
    """
    assert 0 <= count <= total, (count, total)
    return ((np.arange(count) + 0.5) * total / max(count, 1)).astype(np.int64)


def plan(limits: BudgetLimits, candidates: Sequence[MomentCost]) -> BudgetPlan:
    """Choose what goes into the prompt; raise QuestionError when not even the question fits."""
    budget = limits.evidence_tokens
    if budget < 0:
        raise QuestionError(
            f"the question and instructions take {limits.fixed_tokens} tokens and the answer {limits.max_new_tokens}: "
            f"more than the {limits.total_tokens} tokens the answer model takes",
            "ask a shorter question, or configure fewer answer tokens (ask_max_new_tokens)")
    used = 0
    planned: list[PlannedMoment] = []
    for index, cost in enumerate(candidates):
        taken = _take(cost, budget - used)
        if taken is not None:
            planned.append(PlannedMoment(index, *taken))
            used += taken[2]
    return BudgetPlan(tuple(planned), budget, used)


def _take(cost: MomentCost, left: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(lines, frames, tokens) of as much of one moment as fits in ``left`` tokens, or None if its least does not."""
    n_lines = len(cost.line_tokens)
    priority = cost.line_priority if cost.line_priority is not None else np.arange(n_lines)
    wants_frames = cost.frames > 0
    if n_lines == 0 and not wants_frames:
        return None  # nothing this model could read or see
    tokens = cost.header_tokens + (int(cost.line_tokens[priority[0]]) if n_lines else 0)
    tokens += cost.tokens_per_frame if wants_frames else 0
    if tokens > left:
        return None
    n_frames = 1 if wants_frames else 0
    if wants_frames:
        affordable = cost.frames - 1 if cost.tokens_per_frame == 0 else (left - tokens) // cost.tokens_per_frame
        n_frames += min(cost.frames - 1, affordable)
        tokens += (n_frames - 1) * cost.tokens_per_frame
    kept = [int(priority[0])] if n_lines else []
    for i in priority[1:]:
        if tokens + int(cost.line_tokens[i]) <= left:
            kept.append(int(i))
            tokens += int(cost.line_tokens[i])
    return np.sort(np.asarray(kept, dtype=np.int64)), spread(n_frames, cost.frames), tokens
