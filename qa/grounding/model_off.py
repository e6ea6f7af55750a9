"""The answer model that is off: it generates nothing, so every answer is the extractive quote (or declines).
Chosen with ``SCENEDEX_ASK_MODEL=none`` or ``scenedex ask --extractive``; nothing is loaded, and the answer comes
as soon as the search does."""

from __future__ import annotations

from collections.abc import Iterator

from qa.answering import AnswerInput, AnswerModelInfo, AnswerStats

OFF_KEYS = ("none", "off", "extractive")
EXTRACTIVE_NOTE = "the answer model is off: the answer quotes the evidence line that answers, with its time"


class ExtractiveOnly:
    """``AnswerModel`` that says nothing; the grounding step quotes the evidence."""

    info = AnswerModelInfo(key="extractive", kind="extractive", context_tokens=16384, note=EXTRACTIVE_NOTE)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)  # an upper bound of subword tokens; only the budget planner asks

    def stream(self, question: AnswerInput, stats: AnswerStats | None = None) -> Iterator[str]:
        return iter(())
