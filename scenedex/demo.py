"""The sample library the quick start indexes: short generated programmes with narration (espeak-ng), on-screen
captions, a subtitle file and scene cuts, plus the bad files a real library holds, so the summary shows both
sides; and the commands the demo ends with, for the user's own folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scenedex.samples import Segment, make_bad_files, make_clip
from scenedex.speech_samples import SpokenLine, mux, write_speech_track


@dataclass(frozen=True)
class Programme:
    segments: list[Segment]
    narration: list[SpokenLine]
    subtitles: bool = False  # also write the narration as a sidecar .srt


PROGRAMMES = {
    "launch_briefing.mp4": Programme(
        [Segment("blue", 6, "LAUNCH BRIEFING"), Segment("mandelbrot", 5, "Telemetry"), Segment("red", 5, "Questions")],
        [SpokenLine(0.5, "Good morning. This is the launch briefing."),
         SpokenLine(6.5, "Telemetry from the booster looks nominal."),
         SpokenLine(11.5, "We will now take questions from the press.")]),
    "field_report.mp4": Programme(
        [Segment("green", 7, "Field report: the colony grows"), Segment("blue", 7, "HARVEST SEASON")],
        [SpokenLine(0.5, "Our field report comes from the bee colony."),
         SpokenLine(7.5, "The harvest season has started early this year.")], subtitles=True),
    "archive/interview_1998.mp4": Programme(
        [Segment("red", 6, "Interview, 1998"), Segment("green", 6, "ARCHIVE FOOTAGE")],
        [SpokenLine(0.5, "In nineteen ninety eight we recorded this interview."),
         SpokenLine(6.5, "The archive footage shows the old observatory.")]),
}


NEXT_STEPS = """
Next, on your own videos:
  scenedex index ~/Videos                 index a folder (run it again after adding files: only new work is done)
  scenedex search "what you remember"     moments by what is said, subtitled, shown on screen or seen
  scenedex ask "your question?"           an answer that cites the moments it comes from, with their times
(`scenedex --help` lists every command; `scenedex serve` opens the web page.)"""


def _srt(lines: list[SpokenLine], end_s: float) -> str:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    ends = [line.start_s for line in lines[1:]] + [end_s]
    return "\n".join(f"{i}\n{ts(line.start_s)} --> {ts(end - 0.5)}\n{line.text}\n"
                     for i, (line, end) in enumerate(zip(lines, ends), 1))


def make_programme(target: Path, programme: Programme) -> None:
    duration_s = sum(s.duration_s for s in programme.segments)
    target.parent.mkdir(parents=True, exist_ok=True)
    silent = target.with_name(f".{target.stem}.video.mp4")
    make_clip(silent, programme.segments, size=(640, 360), fps=25, frame_code=False, clock=False)
    if shutil.which("espeak-ng") is None:  # no speech synthesiser: a silent programme still has captions
        silent.rename(target)
        return
    speech = target.with_name(f".{target.stem}.speech.wav")
    write_speech_track(speech, programme.narration, duration_s)
    mux(silent, speech, target, "aac")
    for leftover in target.parent.glob(f".{target.stem}.*"):
        leftover.unlink()
    if programme.subtitles:
        target.with_suffix(".en.srt").write_text(_srt(programme.narration, duration_s))


def ensure_sample_library(folder: Path, progress: Callable[[str], None] = lambda _: None) -> Path:
    """Create the sample library once; later calls reuse it."""
    for name, programme in PROGRAMMES.items():
        target = folder / name
        if not target.exists():
            progress(f"generating {target} …")
            make_programme(target, programme)
    broken = folder / "broken"
    if not broken.exists():
        make_bad_files(broken, folder / "launch_briefing.mp4")
    return folder
