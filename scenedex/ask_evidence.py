"""How the ask service weighs evidence: each moment's token cost and line priority for the budget planner, the
prompt's size, and when two moments or a line and a moment are the same place."""

from __future__ import annotations

import numpy as np

from qa.answering import AnswerModel, EvidenceMoment, TimedLine
from qa.budget import MomentCost
from qa.prompt import line_text, moment_header, number_in_time_order, user_message
from search.moments import Moment

def moment_cost(model: AnswerModel, moment: EvidenceMoment, ranked: Moment) -> MomentCost:
    line_tokens = np.asarray([model.count_tokens(line_text(line)) + 1 for line in moment.lines], dtype=np.int64)
    priority = np.asarray(line_priority(moment.lines, ranked), dtype=np.int64)
    return MomentCost(header_tokens=model.count_tokens(moment_header(moment)) + 2, line_tokens=line_tokens,
                      frames=len(moment.frames), tokens_per_frame=model.info.visual_tokens_per_frame,
                      line_priority=priority if len(priority) else None)


def line_priority(lines: tuple[TimedLine, ...], moment: Moment) -> list[int]:
    """Line indices, most useful first: the lines search matched, the lines inside the moment, then the context
    around it, nearest first."""
    matched = {(e.channel.value, round(e.start_s, 3)) for e in moment.evidence if e.text}

    def key(i: int) -> tuple[int, float]:
        line = lines[i]
        if (line.channel, round(line.start_s, 3)) in matched:
            return 0, line.start_s
        if mostly_inside(line.start_s, line.end_s, moment.start_s, moment.end_s):
            return 1, line.start_s
        return 2, max(moment.start_s - line.end_s, line.start_s - moment.end_s)

    return sorted(range(len(lines)), key=key)


def prompt_token_count(model: AnswerModel, question: str, moments: list[EvidenceMoment]) -> int:
    numbered = number_in_time_order(moments)
    visual = sum(len(m.frames) for m in numbered) * model.info.visual_tokens_per_frame
    return model.count_tokens(user_message(question, numbered)) + visual


def evidence_lines(moment: Moment) -> tuple[TimedLine, ...]:
    return tuple(TimedLine(e.channel.value, e.start_s, e.end_s, e.text) for e in moment.evidence if e.text)


def mostly_inside(start_s: float, end_s: float, span_start_s: float, span_end_s: float) -> bool:
    overlap_s = min(end_s, span_end_s) - max(start_s, span_start_s)
    return overlap_s > 0 and overlap_s >= 0.5 * max(end_s - start_s, 1e-6)


def mostly_same(a: Moment, b: Moment) -> bool:
    overlap_s = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    return a.media_id == b.media_id and overlap_s >= 0.5 * min(a.duration_s, b.duration_s)
