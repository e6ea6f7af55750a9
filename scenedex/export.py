"""Timed text as a person reads it, or as SRT / WebVTT for players and editors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


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


def to_json(path: str, segments: Sequence[Any], channels: Sequence[Any]) -> dict[str, Any]:
    """A file's timed text for scripts: each channel's state, then every line with its channel, span, text,
    language, confidence and detail (a spoken line's words with times, an on-screen line's box)."""
    return {
        "file": path,
        "channels": [{"channel": str(c.channel), "status": str(c.status), "lines": c.item_count,
                      "note": c.error_reason} for c in channels],
        "lines": [{"channel": str(s.channel), "start_s": s.start_s, "end_s": s.end_s, "text": s.text,
                   "language": s.language, "confidence": s.confidence, "detail": s.detail} for s in segments],
    }
