"""Shots from cut times, and which sampled frame belongs to (and represents) which shot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shot:
    start_s: float
    end_s: float
    representative: int | None  # index into the sampled frames, None when no sampled frame falls inside


def shot_spans(cut_t_s: Sequence[float], duration_s: float, min_shot_s: float = 0.5) -> list[tuple[float, float]]:
    """Split ``[0, duration_s)`` at the cuts into ``(start_s, end_s)`` spans; a cut that would leave a shot
    shorter than ``min_shot_s`` is dropped (flashes and fades are not shots).

    >>> shot_spans([5.0, 10.0], 15.0)
    [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0)]
    >>> shot_spans([5.0, 5.2], 15.0)
    [(0.0, 5.0), (5.0, 15.0)]
    """
    starts = [0.0]
    for cut in sorted(cut_t_s):
        if min_shot_s <= cut - starts[-1] and duration_s - cut >= min_shot_s:
            starts.append(float(cut))
    ends = starts[1:] + [max(float(duration_s), starts[-1])]
    return list(zip(starts, ends))


def assign_frames(t_s: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """Shot index of each frame time: (N,) int64. Frames past the last end belong to the last shot."""
    if not spans:
        return np.zeros(len(t_s), dtype=np.int64)
    starts = np.asarray([s for s, _ in spans])
    return np.clip(np.searchsorted(starts, t_s, side="right") - 1, 0, len(spans) - 1).astype(np.int64)


def build_shots(t_s: np.ndarray, cut_t_s: Sequence[float], duration_s: float, min_shot_s: float = 0.5
                ) -> tuple[list[Shot], np.ndarray]:
    """Shots with a representative frame each (the one nearest the shot's middle), and the shot of each frame."""
    spans = shot_spans(cut_t_s, duration_s, min_shot_s)
    frame_shot = assign_frames(t_s, spans)
    shots = []
    for i, (start, end) in enumerate(spans):
        members = np.flatnonzero(frame_shot == i)
        rep = None
        if members.size:
            rep = int(members[np.argmin(np.abs(t_s[members] - (start + end) / 2))])
        shots.append(Shot(start_s=start, end_s=end, representative=rep))
    return shots, frame_shot
