"""Audio for speech recognition: choose the audio stream, decode it with ffmpeg to 16 kHz mono float32
through a pipe, and hand it over in overlapping chunks, so a 3-hour file never sits in memory at once.

Times are seconds from the start of the media (``MediaInfo.start_time_s`` is 0), the clock of sampled frames:
ffmpeg keeps the input timestamps (``-copyts``), and ``aresample`` pads or trims the start so that sample 0 is
the media start and fills timestamp gaps with silence, so sample ``i`` lies at ``i / 16000`` s.

Damage: ffmpeg conceals scattered decode errors and exits 0 (logged here as a warning: the transcript may have
gaps); when more than 2/3 of the packets fail (its ``-max_error_rate``) it exits non-zero: SpeechError.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from indexer.errors import SpeechError
from indexer.probe import MediaInfo, StreamInfo
from indexer.sampling import ffmpeg_binary

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16_000  # what Whisper models take
BYTES_PER_SAMPLE = 4  # float32


# ISO 639-2 codes (as containers tag tracks) of common languages, to their ISO 639-1 codes (as Whisper names them).
ISO_639_2_TO_1 = {
    "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "ita": "it", "por": "pt",
    "rus": "ru", "jpn": "ja", "chi": "zh", "zho": "zh", "kor": "ko", "ara": "ar", "hin": "hi", "dut": "nl",
    "nld": "nl", "swe": "sv", "pol": "pl", "tur": "tr", "ukr": "uk", "heb": "he", "gre": "el", "ell": "el",
    "dan": "da", "fin": "fi", "nor": "no", "nob": "no", "cze": "cs", "ces": "cs", "hun": "hu", "rum": "ro",
    "ron": "ro", "vie": "vi", "tha": "th", "ind": "id", "per": "fa", "fas": "fa", "cat": "ca",
}


def language_code(tag: str | None) -> str | None:
    """A track's language tag as an ISO 639-1 code, or None when it names none.

    >>> language_code("eng"), language_code("en-US"), language_code("und"), language_code(None)
    ('en', 'en', None, None)
    """
    if not tag:
        return None
    base = tag.lower().replace("_", "-").split("-")[0]
    code = ISO_639_2_TO_1.get(base, base)
    return code if len(code) == 2 else None


def choose_audio_stream(info: MediaInfo, video_stream_index: int | None,
                        language: str | None = None) -> StreamInfo | None:
    """The audio stream to transcribe, or None when the file has no audio.

    Among the audio of the chosen video's program (MPEG-TS captures, multi-rendition files; all audio when
    there are no programs): the first track tagged with ``language`` (an ISO 639-1 code, the language spoken
    or the one the speech model knows), else the first track marked default, else the first track.
    """
    audio = [s for s in info.streams if s.kind == "audio"]
    if not audio:
        return None
    video = next((s for s in info.streams if s.index == video_stream_index), None)
    if video is not None and video.program_id is not None:
        audio = [s for s in audio if s.program_id == video.program_id] or audio
    audio.sort(key=lambda s: s.index)
    if language is not None:
        wanted = language_code(language)
        if matching := [s for s in audio if language_code(s.language) == wanted]:
            return matching[0]
    return next((s for s in audio if s.is_default), audio[0])


@dataclass(frozen=True)
class AudioChunk:
    """One window of decoded audio. Consecutive chunks overlap by the decoder's ``overlap_s``."""

    samples: np.ndarray  # (n_samples,) float32 mono at 16 kHz, in [-1, 1]
    start_s: float  # media time of samples[0]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE_HZ

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def decode_command(info: MediaInfo, stream: StreamInfo) -> list[str]:
    """ffmpeg writing ``stream`` as raw float32 mono 16 kHz to stdout, sample 0 at the media start."""
    first_sample = round(info.start_time_s * SAMPLE_RATE_HZ)
    graph = (f"aresample={SAMPLE_RATE_HZ},"  # to 16 kHz first: first_pts below counts samples at 16 kHz
             f"aresample=async=1:first_pts={first_sample},"  # pad/trim the start, fill gaps: i at i/16000 s
             f"aformat=sample_fmts=flt:sample_rates={SAMPLE_RATE_HZ}:channel_layouts=mono")
    return [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
        "-copyts", "-i", str(info.path), "-map", f"0:{stream.index}",
        "-af", graph, "-f", "f32le", "pipe:1",
    ]


class _StderrTail(threading.Thread):
    """Drains ffmpeg's stderr (so it never blocks on a full pipe), counting errors and keeping the tail."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self.lines: deque[str] = deque(maxlen=40)
        self.count = 0

    def run(self) -> None:
        for raw in self._stream:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())
            self.count += 1

    def text(self) -> str:
        return "\n".join(self.lines)


class AudioDecoder:
    """Decode one audio stream in overlapping chunks of ``chunk_s`` seconds (memory: one chunk).

    >>> for chunk in AudioDecoder(info, stream, chunk_s=600, overlap_s=5).chunks(): ...   # doctest: +SKIP

    A read that waits longer than ``stall_timeout_s`` for ffmpeg (a stalled mount, a decoder loop) kills it
    and raises SpeechError. Time the consumer spends between chunks does not count.
    """

    def __init__(self, info: MediaInfo, stream: StreamInfo, chunk_s: float = 600.0, overlap_s: float = 5.0,
                 stall_timeout_s: float = 300.0) -> None:
        assert chunk_s > 0, f"chunk_s must be positive, got {chunk_s}"
        assert 0 <= overlap_s < chunk_s, f"overlap_s must be in [0, chunk_s={chunk_s}), got {overlap_s}"
        self.info = info
        self.stream = stream
        self.chunk_n = round(chunk_s * SAMPLE_RATE_HZ)
        self.overlap_n = round(overlap_s * SAMPLE_RATE_HZ)
        self.stall_timeout_s = stall_timeout_s
        self.samples_decoded = 0  # complete once chunks() is exhausted
        self.decode_error_lines = 0  # lines ffmpeg logged at level error: concealed damage if it exits 0

    def chunks(self) -> Iterator[AudioChunk]:
        proc = subprocess.Popen(decode_command(self.info, self.stream), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        tail = _StderrTail(proc.stderr)
        tail.start()
        try:
            yield from self._windows(proc, proc.stdout)
            returncode = proc.wait()
            tail.join(timeout=10.0)
            self.decode_error_lines = tail.count
            self._check(returncode, tail)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def _windows(self, proc: subprocess.Popen[bytes], pipe: IO[bytes]) -> Iterator[AudioChunk]:
        step_n = self.chunk_n - self.overlap_n
        buf = self._read(proc, pipe, self.chunk_n)  # (n,) float32
        start_n = 0
        while len(buf):
            # read ahead before handing the chunk over: a chunk that reaches the end of the stream is not
            # followed by one that holds only its overlap
            more = self._read(proc, pipe, step_n) if len(buf) == self.chunk_n else buf[:0]
            yield AudioChunk(buf, start_n / SAMPLE_RATE_HZ)
            if not len(more):
                break
            buf = np.concatenate([buf[step_n:], more])  # (overlap_n + len(more),) float32
            start_n += step_n

    def _read(self, proc: subprocess.Popen[bytes], pipe: IO[bytes], n_samples: int) -> np.ndarray:
        """Up to ``n_samples`` samples (fewer only at the end of the stream), as (n,) float32."""
        stalled = threading.Event()
        watchdog = threading.Timer(self.stall_timeout_s, lambda: (stalled.set(), proc.kill()))
        watchdog.start()
        try:
            data = pipe.read(n_samples * BYTES_PER_SAMPLE)
        finally:
            watchdog.cancel()
        if stalled.is_set():
            raise SpeechError(self.info.path, f"decoding audio stream #{self.stream.index} stalled for more "
                              f"than {self.stall_timeout_s:.0f} s and was stopped",
                              "the file may be damaged or on a stalled mount")
        usable = len(data) - len(data) % BYTES_PER_SAMPLE
        samples = np.frombuffer(data[:usable], dtype=np.float32)  # (n,) float32
        self.samples_decoded += len(samples)
        return samples

    def _check(self, returncode: int, tail: _StderrTail) -> None:
        where = f"audio stream #{self.stream.index} ({self.stream.codec})"
        see = f"run `ffmpeg -v error -i PATH -map 0:{self.stream.index} -f null -` to see where it breaks"
        if returncode != 0:
            raise SpeechError(self.info.path, f"ffmpeg could not decode {where} (exit code {returncode})",
                              f"the audio is probably damaged; {see}", tail.text())
        if self.samples_decoded == 0 and tail.count:
            raise SpeechError(self.info.path, f"no audio could be decoded from {where}",
                              f"the audio is probably damaged; {see}", tail.text())
        if tail.count:
            log.warning("%s: %d decode errors in %s were concealed; the transcript may have gaps",
                        self.info.path, tail.count, where)
