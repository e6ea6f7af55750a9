"""Timed text as a person reads it, or as SRT / WebVTT for players and editors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Timed(Protocol):
    start_s: float
    end_s: float
    text: str


def timestamp(t_s: float, decimal: str = ",") -> str:
    """Seconds as hh:mm:ss,mmm (SRT) or hh:mm:ss.mmm (WebVTT).

    >>> timestamp(3723.5)
    '01:02:03,500'
    """
    ms = int(round(max(t_s, 0.0) * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{decimal}{ms % 1000:03d}"


def to_srt(items: Sequence[Timed]) -> str:
    blocks = [f"{i}\n{timestamp(x.start_s)} --> {timestamp(x.end_s)}\n{x.text.strip()}\n"
              for i, x in enumerate(items, start=1)]
    return "\n".join(blocks)


def to_vtt(items: Sequence[Timed]) -> str:
    blocks = [f"{timestamp(x.start_s, '.')} --> {timestamp(x.end_s, '.')}\n{x.text.strip()}\n" for x in items]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_text(items: Sequence[Timed], labels: Sequence[str] | None = None) -> str:
    lines = []
    for i, x in enumerate(items):
        label = f"[{labels[i]}] " if labels else ""
        lines.append(f"{timestamp(x.start_s, '.')[:-1]} – {timestamp(x.end_s, '.')[:-1]}  {label}{x.text.strip()}")
    return "\n".join(lines)
