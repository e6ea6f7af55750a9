"""Generated speech with exact ground truth, for the speech tests and the speech benchmark.

Each line is synthesised by espeak-ng and placed over silence at a known offset (``SpokenLine.start_s``);
``write_speech_track`` returns when each line's speech really starts (its first sample above 500 of 32767,
a few ms after the offset), which is what a recogniser's word times are compared against.
``write_placed_speech`` does the same for lines synthesised beforehand (so callers can synthesise in parallel
and place lines knowing their lengths) and also returns where each line's speech ends. ``mux`` joins the
track to a video from ``scenedex.samples`` in the container and audio codec asked for.
"""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SpokenLine:
    start_s: float  # where the synthesised line is placed; its speech starts a few ms later (measured)
    text: str


def synthesize(text: str, path: Path, voice_args: Sequence[str] = ()) -> tuple[np.ndarray, int]:
    """espeak-ng speech as ((n,) int16 mono, sample rate); ``voice_args`` e.g. ("-v", "en-gb", "-s", "160")."""
    subprocess.run(["espeak-ng", *voice_args, "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16), wav.getframerate()


def speech_bounds_s(samples: np.ndarray, rate: int) -> tuple[float, float]:
    """Where the speech of a synthesised line starts and ends, in s from its first sample: the first and just
    past the last sample above 500 of 32767 (espeak-ng pads a line with a few ms before and ~0.3 s after)."""
    loud = np.flatnonzero(np.abs(samples) > 500)
    if loud.size == 0:
        return 0.0, 0.0
    return int(loud[0]) / rate, (int(loud[-1]) + 1) / rate


def write_placed_speech(path: Path, placed: Sequence[tuple[float, np.ndarray]], rate: int,
                        duration_s: float) -> list[tuple[float, float]]:
    """A wav of ``duration_s`` with each already synthesised line ``(start_s, (n,) int16 samples)`` placed
    over silence; returns each line's speech ``(start_s, end_s)`` on the track's clock (speech_bounds_s)."""
    track = np.zeros(round(duration_s * rate), dtype=np.int16)  # (n,) int16 at espeak's rate
    spans = []
    for i, (start_s, samples) in enumerate(placed):
        at = round(start_s * rate)
        assert at + len(samples) <= len(track), f"line {i} does not fit in {duration_s} s"
        track[at:at + len(samples)] = samples
        speech_start_s, speech_end_s = speech_bounds_s(samples, rate)
        spans.append((start_s + speech_start_s, start_s + speech_end_s))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(track.tobytes())
    return spans


def write_speech_track(path: Path, lines: Sequence[SpokenLine], duration_s: float) -> list[float]:
    """A wav with each line placed at its start over silence; returns when each line's speech starts."""
    assert lines, "a speech track needs at least one line"
    synthesised = [synthesize(line.text, path.with_suffix(f".{i}.wav")) for i, line in enumerate(lines)]
    placed = [(line.start_s, samples) for line, (samples, _) in zip(lines, synthesised)]
    return [start_s for start_s, _ in write_placed_speech(path, placed, synthesised[0][1], duration_s)]


def mux(video: Path, audio: Path, out: Path, audio_codec: str) -> Path:
    """``out``: the video stream of ``video`` copied, the audio of ``audio`` encoded with ``audio_codec``."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-i", str(audio),
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", audio_codec, "-shortest", str(out)],
                   check=True)
    return out
