"""Moment edges and shots: a moment seen in frames only grows to its shot, and any moment's edges move to a
shot cut close by (a shot is what a viewer calls a moment; a cut is where playback should start)."""

from __future__ import annotations

import numpy as np


def shot_span(t_s: float, shot_starts_s: np.ndarray, duration_s: float) -> tuple[float, float]:
    """(start_s, end_s) of the shot that holds ``t_s``; ``shot_starts_s`` (S,) ascending, the last shot runs
    to ``duration_s``.

    >>> shot_span(7.0, np.array([0.0, 5.0, 9.0]), 12.0)
    (5.0, 9.0)
    """
    i = int(np.searchsorted(shot_starts_s, t_s, side="right")) - 1
    start = float(shot_starts_s[i]) if i >= 0 else 0.0
    end = float(shot_starts_s[i + 1]) if i + 1 < len(shot_starts_s) else duration_s
    return start, end


def grow_to_shot(start_s: float, end_s: float, shot_starts_s: np.ndarray, duration_s: float,
                 frame_interval_s: float, max_s: float) -> tuple[float, float]:
    """A moment seen in frames only covers the shot (or shots) its frames fall in, within ``max_s``; with no
    shots known, at least one sampling interval."""
    if len(shot_starts_s) == 0:
        return start_s, max(end_s, start_s + frame_interval_s)
    shot_start, _ = shot_span(start_s, shot_starts_s, duration_s)
    _, shot_end = shot_span(max(end_s - 1e-6, start_s), shot_starts_s, duration_s)
    if shot_end - shot_start <= max_s:
        return shot_start, shot_end
    centre = (start_s + end_s) / 2
    return max(shot_start, centre - max_s / 2), min(shot_end, centre + max_s / 2)


def snap_to_cuts(start_s: float, end_s: float, cuts_s: np.ndarray, tolerance_s: float) -> tuple[float, float]:
    """Move each boundary to a cut within ``tolerance_s`` when the span keeps at least half its length.

    >>> snap_to_cuts(4.6, 9.3, np.array([0.0, 5.0, 9.0]), 1.0)
    (5.0, 9.0)
    """
    if len(cuts_s) == 0:
        return start_s, end_s
    near_start = cuts_s[np.abs(cuts_s - start_s) <= tolerance_s]
    near_end = cuts_s[np.abs(cuts_s - end_s) <= tolerance_s]
    new_start = float(near_start[np.argmin(np.abs(near_start - start_s))]) if near_start.size else start_s
    new_end = float(near_end[np.argmin(np.abs(near_end - end_s))]) if near_end.size else end_s
    if new_end - new_start >= 0.5 * (end_s - start_s) and new_end > new_start:
        return new_start, new_end
    return start_s, end_s
