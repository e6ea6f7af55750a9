"""The budget planner over many seeded random inputs: a plan never exceeds its budget, keeps the top-ranked moment
whenever its least fits, takes candidates in rank order, and skips one only when its least no longer fits."""

from __future__ import annotations

import numpy as np
import pytest

from qa.budget import BudgetLimits, BudgetPlan, MomentCost, plan, spread
from qa.errors import QuestionError


def _random_case(rng: np.random.Generator) -> tuple[BudgetLimits, list[MomentCost]]:
    vision = rng.random() < 0.5
    limits = BudgetLimits(context_tokens=int(rng.integers(64, 4096)), max_new_tokens=int(rng.integers(0, 256)),
                          fixed_tokens=int(rng.integers(0, 200)),
                          kv_bytes_per_token=int(rng.integers(1, 1 << 20)) if vision else 0,
                          memory_bytes=int(rng.integers(1 << 20, 1 << 32)) if vision and rng.random() < 0.7 else None)
    candidates = []
    for _ in range(int(rng.integers(0, 12))):
        n_lines = int(rng.integers(0, 15))
        priority = rng.permutation(n_lines) if n_lines and rng.random() < 0.5 else None
        candidates.append(MomentCost(header_tokens=int(rng.integers(0, 30)),
                                     line_tokens=rng.integers(1, 300, size=n_lines),
                                     frames=int(rng.integers(0, 40)) if vision else 0,
                                     tokens_per_frame=int(rng.integers(0, 600)) if vision else 0,
                                     line_priority=priority))
    return limits, candidates


def _least(cost: MomentCost) -> int | None:
    """What a moment costs at the least (header, its first line, one frame); None when it offers nothing."""
    if len(cost.line_tokens) == 0 and cost.frames == 0:
        return None
    first = cost.line_priority[0] if cost.line_priority is not None else 0
    return cost.header_tokens + (int(cost.line_tokens[first]) if len(cost.line_tokens) else 0) \
        + (cost.tokens_per_frame if cost.frames else 0)


def _check(limits: BudgetLimits, candidates: list[MomentCost], result: BudgetPlan) -> None:
    assert result.budget_tokens == limits.evidence_tokens
    assert result.used_tokens <= result.budget_tokens
    assert result.candidates == sorted(set(result.candidates)), "rank order, each candidate once"
    total = 0
    for p in result.moments:
        cost = candidates[p.candidate]
        assert np.all(np.diff(p.lines) > 0) and np.all((0 <= p.lines) & (p.lines < len(cost.line_tokens)))
        assert np.all(np.diff(p.frames) > 0) and np.all((0 <= p.frames) & (p.frames < max(cost.frames, 1)))
        assert (len(p.frames) >= 1) == (cost.frames > 0), "a moment with frames shows at least one"
        if len(cost.line_tokens):
            first = cost.line_priority[0] if cost.line_priority is not None else 0
            assert first in p.lines, "its most important line is always kept"
        tokens = cost.header_tokens + int(cost.line_tokens[p.lines].sum()) + len(p.frames) * cost.tokens_per_frame
        assert p.tokens == tokens
        total += tokens
    assert result.used_tokens == total
    spare = result.budget_tokens - result.used_tokens  # what a planned moment left out must not fit in
    for p in result.moments:
        cost = candidates[p.candidate]
        left_out = np.setdiff1d(np.arange(len(cost.line_tokens)), p.lines)
        assert np.all(cost.line_tokens[left_out] > spare), "a line that fits is never left out"
        if len(p.frames) < cost.frames:
            assert cost.tokens_per_frame > spare, "a frame that fits is never left out"
    # a candidate is skipped only when its least did not fit in what was left at its turn
    left = result.budget_tokens
    planned = {p.candidate: p for p in result.moments}
    for i, cost in enumerate(candidates):
        least = _least(cost)
        if i in planned:
            left -= planned[i].tokens
        else:
            assert least is None or least > left, (i, least, left)
    top = _least(candidates[0]) if candidates else None
    if top is not None and top <= result.budget_tokens:
        assert result.candidates[:1] == [0], "the top-ranked moment is kept when its least fits"


def test_plans_of_random_inputs_never_exceed_the_budget_and_keep_the_top_moment() -> None:
    rng = np.random.default_rng(20261121)
    checked = 0
    for _ in range(3000):
        limits, candidates = _random_case(rng)
        if limits.evidence_tokens < 0:
            with pytest.raises(QuestionError, match="tokens"):
                plan(limits, candidates)
            continue
        _check(limits, candidates, plan(limits, candidates))
        checked += 1
    assert checked > 1000  # most random cases leave room for evidence


def test_a_roomy_budget_takes_every_line_and_frame() -> None:
    rng = np.random.default_rng(7)
    candidates = [MomentCost(5, rng.integers(1, 40, size=6), frames=8, tokens_per_frame=2) for _ in range(5)]
    result = plan(BudgetLimits(context_tokens=100_000, max_new_tokens=128, fixed_tokens=50), candidates)
    assert result.candidates == [0, 1, 2, 3, 4]
    assert all(len(p.lines) == 6 and len(p.frames) == 8 for p in result.moments)


def test_a_tight_budget_keeps_the_best_moment_and_its_best_line() -> None:
    lines = np.array([50, 10, 40])
    best_first = MomentCost(header_tokens=8, line_tokens=lines, line_priority=np.array([1, 2, 0]))
    result = plan(BudgetLimits(context_tokens=100, max_new_tokens=20, fixed_tokens=20),
                  [best_first, MomentCost(8, np.array([5]))])
    # 60 tokens of evidence: the header (8) and the best line (10), then line 2 (40) fits; line 0 (50) does not
    assert result.moments[0].lines.tolist() == [1, 2] and result.moments[0].tokens == 58
    assert result.candidates == [0] and result.used_tokens == 58


def test_memory_bounds_the_prompt_of_a_vision_language_model() -> None:
    limits = BudgetLimits(context_tokens=65_536, max_new_tokens=100, fixed_tokens=100,
                          kv_bytes_per_token=512 * 1024, memory_bytes=1 << 30)  # 1 GiB holds 2048 tokens
    assert limits.total_tokens == 2048 and limits.evidence_tokens == 1848
    frames_only = [MomentCost(10, np.zeros(0, dtype=np.int64), frames=3000, tokens_per_frame=2)]
    result = plan(limits, frames_only)
    assert result.used_tokens <= 1848 and len(result.moments[0].frames) == (1848 - 10) // 2
    frames = result.moments[0].frames
    assert frames[0] < 3 and frames[-1] > 2996, "the kept frames spread over the whole moment"


def test_the_question_alone_too_long_for_the_model_is_refused() -> None:
    with pytest.raises(QuestionError, match="more than the 512 tokens"):
        plan(BudgetLimits(context_tokens=512, max_new_tokens=128, fixed_tokens=400), [])


def test_spread_picks_distinct_evenly_spaced_indices() -> None:
    for total in range(1, 60):
        for count in range(total + 1):
            picked = spread(count, total)
            assert len(set(picked.tolist())) == count and (count == 0 or (picked.min() >= 0 and picked.max() < total))
