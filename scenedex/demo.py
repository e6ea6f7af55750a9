"""The sample library the quick start indexes: generated clips with known cuts, plus the bad files a real
library holds, so the summary shows both sides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scenedex.samples import Segment, make_bad_files, make_clip

CLIPS = {
    "launch_briefing.mp4": [Segment("bars", 6, "Launch briefing"), Segment("mandelbrot", 5, "Telemetry"),
                            Segment("blue", 4, "Questions")],
    "field_report.mp4": [Segment("life", 8, "Field report: the colony grows"), Segment("green", 4, "Harvest"),
                         Segment("bars", 6, "Back to the studio")],
    "archive/interview_1998.mp4": [Segment("red", 5, "Interview, 1998"), Segment("mandelbrot", 7, "Archive B-roll")],
}


def ensure_sample_library(folder: Path, progress: Callable[[str], None] = lambda _: None) -> Path:
    """Create the sample library once; later calls reuse it."""
    for name, segments in CLIPS.items():
        target = folder / name
        if not target.exists():
            progress(f"generating {target} …")
            make_clip(target, segments, size=(640, 360), fps=25)
    broken = folder / "broken"
    if not broken.exists():
        make_bad_files(broken, folder / "launch_briefing.mp4")
    return folder
