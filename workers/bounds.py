"""Times stay inside the media: the one place every stored span is brought within [0, duration_s].

Channels measure time their own way (a decoder's last frame time, OCR's sampling interval, a subtitle file that
belongs to a longer cut), so a span can end after the media does, or a cue can lie wholly past its end. A player
seeking there, or a moment built from it, would be wrong. Before a file's result is written, every span is clipped:
one that crosses the end is cut at the end, one that lies wholly outside is dropped and counted.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from indexer.encoders.base import EncodedFrames
from indexer.shots import Shot
from indexer.text_chunks import TimedText
from workers.channels import ChannelOutcome, FramesOutcome


def clip_span(start_s: float, end_s: float, duration_s: float) -> tuple[float, float] | None:
    """``(start_s, end_s)`` cut to ``[0, duration_s]``, or None when nothing of it lies inside (a span wholly past
    the end, or starting at the very end, or ending before 0). An unknown duration (0 or less, or not finite)
    leaves the span as it is, only ordered and not negative.

    >>> clip_span(58.0, 61.5, 60.0)
    (58.0, 60.0)
    >>> clip_span(49999.0, 50001.0, 60.0) is None
    True
    >>> clip_span(-0.5, 1.0, 60.0)
    (0.0, 1.0)
    """
    start_s, end_s = float(start_s), float(end_s)
    if np.isnan(start_s):
        return None
    if np.isnan(end_s) or end_s < start_s:
        end_s = start_s
    if not (duration_s > 0 and np.isfinite(duration_s)):
        start_s = max(start_s, 0.0)
        return (start_s, max(end_s, start_s)) if np.isfinite(start_s) and np.isfinite(end_s) else None
    if start_s >= duration_s or end_s < 0 or (end_s == 0 and start_s < 0):
        return None
    start_s = min(max(start_s, 0.0), duration_s)
    return start_s, min(max(end_s, start_s), duration_s)


def clip_times(t_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Frame times (N,) float64 clamped to ``[0, duration_s]``."""
    if not (duration_s > 0 and np.isfinite(duration_s)):
        return np.maximum(t_s, 0.0)
    return np.clip(t_s, 0.0, duration_s)


def frames_kept(t_s: np.ndarray, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Clamped frame times and which frames to keep (N,) bool: where clamping makes times equal (frames past
    the end all land on it), only the first is kept, as a file has one frame per time."""
    clamped = clip_times(np.asarray(t_s, dtype=np.float64), duration_s)
    keep = np.zeros(len(clamped), dtype=bool)
    keep[np.unique(clamped, return_index=True)[1]] = True
    return clamped, keep


def _clip_words(detail: dict, duration_s: float) -> dict:  # type: ignore[type-arg]
    words = detail.get("words")
    if not isinstance(words, list):
        return detail
    kept = []
    for word in words:
        span = clip_span(word[0], word[1], duration_s)
        if span is not None:  # rounded to ms as speech stores words, but never rounded past the end
            end_s = round(span[1], 3) if round(span[1], 3) <= duration_s else span[1]
            kept.append([min(round(span[0], 3), end_s), end_s, *word[2:]])
    return {**detail, "words": kept}


def clip_items(items: list[TimedText], duration_s: float) -> tuple[list[TimedText], int]:
    """Text items cut to the media; returns the items kept and how many lay wholly outside (dropped)."""
    kept: list[TimedText] = []
    for item in items:
        span = clip_span(item.start_s, item.end_s, duration_s)
        if span is None:
            continue
        detail = _clip_words(item.detail, duration_s) if item.detail else item.detail
        if span != (item.start_s, item.end_s) or detail is not item.detail:
            item = replace(item, start_s=span[0], end_s=span[1], detail=detail)
        kept.append(item)
    return kept, len(items) - len(kept)


def _clip_shots(shots: list[Shot], duration_s: float, new_index: np.ndarray, keep: np.ndarray) -> list[Shot]:
    clipped = []
    for shot in shots:
        span = clip_span(shot.start_s, shot.end_s, duration_s)
        start_s, end_s = span if span is not None else (duration_s, duration_s)  # kept: frames point at it
        rep = shot.representative
        rep = int(new_index[rep]) if rep is not None and rep < len(keep) and keep[rep] else None
        clipped.append(Shot(start_s, end_s, rep))
    return clipped


def _clip_frames(outcome: FramesOutcome, duration_s: float) -> FramesOutcome:
    t_s, keep = frames_kept(outcome.t_s, duration_s)
    new_index = np.cumsum(keep) - 1  # (N,) old frame index -> new one, where kept
    encoded = outcome.encoded
    if encoded is not None and not keep.all():
        encoded = EncodedFrames(encoded.embeddings[keep], encoded.pooled[keep],
                                encoded.grid[keep] if encoded.grid is not None else None)
    return replace(outcome, t_s=t_s[keep], encoded=encoded,
                   shots=_clip_shots(outcome.shots, duration_s, new_index, keep),
                   frame_shot=outcome.frame_shot[keep] if len(outcome.frame_shot) == len(keep) else outcome.frame_shot,
                   qa_pooled=outcome.qa_pooled[keep] if outcome.qa_pooled is not None else None)


def _note(reason: str | None, dropped: int, duration_s: float) -> str:
    note = f"{dropped} item{'s' if dropped != 1 else ''} past the end of the media ({duration_s:.3f} s) dropped"
    return f"{reason}; {note}" if reason else note


def clip_outcome(outcome: ChannelOutcome, duration_s: float) -> ChannelOutcome:
    """One channel's result with every span inside ``[0, duration_s]``; items dropped are counted in its reason."""
    if isinstance(outcome, FramesOutcome):
        return _clip_frames(outcome, duration_s)
    items, dropped = clip_items(outcome.items, duration_s)
    reason = _note(outcome.reason, dropped, duration_s) if dropped else outcome.reason
    return replace(outcome, items=items, reason=reason)


def clip_outcomes(outcomes: list[ChannelOutcome], duration_s: float) -> list[ChannelOutcome]:
    return [clip_outcome(o, duration_s) for o in outcomes]
