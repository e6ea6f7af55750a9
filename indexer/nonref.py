"""Decode only the frames that other frames refer to, where that still leaves a frame near every sampling tick.

Most H.264, HEVC and MPEG-2 files carry frames no other frame refers to (x264's B-frames by default): ffmpeg's
``-skip_frame noref`` does not decode them, and nothing else is lost. A sampler that keeps one frame a second
needs them no more than plain frames between ticks: it keeps the first decoded frame at or after each tick, with
that frame's own timestamp, so a sample is at most one gap between kept frames late (a few frames: 0.08 s on
the Big Buck Bunny excerpts), and a cut is found on the first kept frame after it.
Measured (session 14, 2 cores): decoding the Big Buck Bunny excerpts took 45 % less CPU (3.2 -> 1.8 CPU s for
100 s of 720p24); the frames channel of `bench/ingest.py --fps 0.25` went from 0.66x to 0.86-0.89x plain ffmpeg.

Some files hold long runs of frames nothing refers to (16 B-frames in a row; cameras whose P-frames all refer back
to the keyframe): skipping them would leave one picture a second or fewer. So the first ``PROBE_S`` seconds are
decoded that way first (ffprobe, ~0.05 s), and frames are skipped only when no gap between the kept frames
there is longer than ``MAX_GAP_S`` or half a sampling interval.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

from indexer.probe import StreamInfo

log = logging.getLogger(__name__)

PROBE_S = 3.0
MAX_GAP_S = 0.25
TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)", re.MULTILINE)


def largest_gap_s(path: Path, stream: StreamInfo, probe_s: float = PROBE_S) -> float | None:
    """The longest time between consecutive frames of ``stream`` that decoding without non-reference frames
    keeps in the first ``probe_s`` seconds; None where fewer than two frames are kept or ffprobe fails."""
    cmd = ["ffprobe", "-v", "error", "-skip_frame", "noref", "-select_streams", str(stream.index),
           "-show_entries", "frame=best_effort_timestamp_time", "-read_intervals", f"%+{probe_s:g}",
           "-of", "default=noprint_wrappers=1:nokey=1", str(path)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        log.debug("could not probe %s for frames to skip", path, exc_info=True)
        return None
    times_s = sorted(float(t) for t in TIME.findall(out))
    if len(times_s) < 2:
        return None
    return max(b - a for a, b in zip(times_s, times_s[1:]))


def skip_nonref(path: Path, stream: StreamInfo, fps: float) -> bool:
    """Whether sampling ``stream`` at ``fps`` may decode reference frames only (see the module's note)."""
    gap_s = largest_gap_s(path, stream)
    allowed = gap_s is not None and gap_s <= min(MAX_GAP_S, 0.5 / fps)
    log.debug("%s: largest gap between reference frames %s s; skipping the others: %s", path.name, gap_s, allowed)
    return allowed
