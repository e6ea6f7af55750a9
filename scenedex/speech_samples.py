"""Generated speech with exact ground truth, for the speech tests and the speech benchmark.

Each line is synthesised by espeak-ng and placed over silence at a known offset (``SpokenLine.start_s``);
``write_speech_track`` returns when each line's speech really starts (its first sample above 500 of 32767,
a few ms after the offset), which is what a recogniser's word times are compared against. ``mux`` joins the
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


def synthesize(text: str, path: Path) -> tuple[np.ndarray, int]:
    """espeak-ng speech as ((n,) int16 mono, sample rate)."""
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16), wav.getframerate()


def write_speech_track(path: Path, lines: Sequence[SpokenLine], duration_s: float) -> list[float]:
    """A wav with each line placed at its start over silence; returns when each line's speech starts."""
    track: np.ndarray | None = None
    onsets = []
    for i, line in enumerate(lines):
        samples, rate = synthesize(line.text, path.with_suffix(f".{i}.wav"))
        if track is None:
            track = np.zeros(round(duration_s * rate), dtype=np.int16)  # (n,) int16 at espeak's rate
        at = round(line.start_s * rate)
        assert at + len(samples) <= len(track), f"line {i} does not fit in {duration_s} s"
        track[at:at + len(samples)] = samples
        onsets.append(line.start_s + int(np.argmax(np.abs(samples) > 500)) / rate)
    assert track is not None
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(track.tobytes())
    return onsets


def mux(video: Path, audio: Path, out: Path, audio_codec: str) -> Path:
    """``out``: the video stream of ``video`` copied, the audio of ``audio`` encoded with ``audio_codec``."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-i", str(audio),
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", audio_codec, "-shortest", str(out)],
                   check=True)
    return out
