"""Frame sampling: one ffmpeg process decodes the file once and yields frames at encoder resolution.

The filter graph has two branches fed by one decode:

* frames: keeps the first frame at or after each tick of a ``1/fps`` grid (never seeks), scales and crops it
  to the encoder's square input in ffmpeg, and writes raw RGB to a pipe;
* cuts: a nearest-neighbour thumbnail of every frame feeds ffmpeg's scene-change score; frames above the
  threshold are shot cuts.

Each branch ends in a ``showinfo`` filter whose log lines carry the exact presentation time of every frame
that passed, so timestamps are the source frame's own, not ``k / fps``. Frames that no other frame refers to are
not decoded where the reference frames lie close together (``indexer.nonref``): "every frame" is then every
decoded one.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, TypeVar

import numpy as np

from indexer.errors import DecodeError
from indexer.nonref import skip_nonref
from indexer.probe import MediaInfo, StreamInfo

# center_crop / squash: a size_px square for an encoder; fit_width: size_px wide, the display aspect kept (OCR).
ResizeMode = Literal["center_crop", "squash", "fit_width"]
# A showinfo line's log prefix names the filter instance: "[showinfo@frame @ 0x…]" up to ffmpeg 5.1, "[frame @ 0x…]"
# from 6.0 on (the instance name alone). Both are read; a frame whose line is not read fails the decode.
SHOWINFO_PREFIX = re.compile(r"^\[(?:showinfo@)?(frame|cut) @ [^\]]+\] ")
SHOWINFO_LINE = re.compile(SHOWINFO_PREFIX.pattern + r"n:\s*\d+\s+pts:\s*-?\d+\s+pts_time:(\S+)")
CUT_THUMB = "64:36"  # scene scores on a tiny nearest-neighbour thumbnail: ~free next to decoding
# A decode that shares the machine with OCR runs ffmpeg's decoder on one thread on up to this many cores: its frame
# threads cost CPU of their own, and the cores are already busy (OCR beside the decode, two files indexed at once).
# Both Big Buck Bunny excerpts through the shared decode (960 px frames + cut branch), 2 cores at load ~10,
# ffmpeg's CPU s, alternated 4x: ffmpeg's own threads 16.3-17.4, one thread 15.7-15.9; the same frames (byte for
# byte) and cuts. A decode nothing CPU-heavy waits beside (the frames channel alone, an encoder on a GPU) keeps
# ffmpeg's own threads: one thread there made `bench/sampling.py` 0.53x plain ffmpeg instead of 0.95x (session 11).
FEW_CORES = 4


@dataclass(frozen=True)
class SamplingPolicy:
    fps: float = 1.0  # frames per second of media time
    mode: Literal["uniform", "keyframes"] = "uniform"
    max_frames: int = 20_000  # longer media is sampled at a lower rate to stay under this
    shot_threshold: float = 0.3  # ffmpeg scene score (0..1) that starts a new shot
    size_px: int = 224  # side of the square frames handed to the encoder
    resize_mode: ResizeMode = "center_crop"
    batch_frames: int = 32
    decoder_threads: int = 0  # ffmpeg's decoder threads; 0: ffmpeg's own choice (see busy_decoder_threads)
    skip_nonref: bool = True  # uniform mode: decode reference frames only where they lie close (indexer.nonref)

    def __post_init__(self) -> None:
        assert self.fps > 0, f"fps must be positive, got {self.fps}"
        assert self.max_frames > 0, f"max_frames must be positive, got {self.max_frames}"
        assert 0 < self.shot_threshold < 1, f"shot_threshold must be in (0, 1), got {self.shot_threshold}"
        assert self.size_px >= 8, f"size_px too small: {self.size_px}"
        assert self.decoder_threads >= 0, f"decoder_threads: 0 (ffmpeg's choice) or more, got {self.decoder_threads}"


def effective_fps(policy: SamplingPolicy, duration_s: float) -> float:
    """The sampling rate actually used: ``policy.fps`` unless that would exceed ``policy.max_frames``.

    >>> effective_fps(SamplingPolicy(fps=1.0, max_frames=100), 50.0)
    1.0
    >>> effective_fps(SamplingPolicy(fps=1.0, max_frames=100), 1000.0)
    0.1
    """
    if duration_s <= 0:
        return policy.fps
    return min(policy.fps, policy.max_frames / duration_s)


@dataclass(frozen=True)
class FrameBatch:
    frames: np.ndarray  # (B, H, W, 3) uint8 RGB; H = W = size_px unless resize_mode is fit_width
    t_s: np.ndarray  # (B,) float64, seconds from the start of the media


@dataclass
class SampleResult:
    """Filled while the sampler runs; complete once its batches are exhausted."""

    fps: float
    cut_t_s: list[float] = field(default_factory=list)
    frame_count: int = 0
    skipped_nonref: bool = False  # frames nothing refers to were not decoded (indexer.nonref)


def ffmpeg_binary() -> str:
    path = shutil.which("ffmpeg")
    if not path:
        raise RuntimeError("ffmpeg is not on PATH: run `make setup` (it installs ffmpeg) or install it yourself")
    return path


def frame_shape(stream: StreamInfo, policy: SamplingPolicy) -> tuple[int, int]:
    """(height, width) of the frames handed over, after ffmpeg's autorotation."""
    s = policy.size_px
    if policy.resize_mode != "fit_width":
        return s, s
    w, h = stream.width or s, stream.height or s
    if stream.rotation_deg in (90, 270):
        w, h = h, w
    return max(2, round(s * h / w / 2) * 2), s


def _frames_filter(policy: SamplingPolicy, fps: float, shape: tuple[int, int]) -> str:
    s = policy.size_px
    # ffmpeg (without -copyts) already shifts timestamps so the file starts at t = 0: the grid is k / fps.
    select = f"select='isnan(prev_selected_t)+gte(floor(t*{fps:.9f}),floor(prev_selected_t*{fps:.9f})+1)'"
    resize = square_resize_filter(s, policy.resize_mode) if policy.resize_mode != "fit_width" \
        else f"scale={shape[1]}:{shape[0]}:flags=area"
    return f"{select},{resize},format=rgb24,showinfo@frame"


def square_resize_filter(size_px: int, mode: ResizeMode) -> str:
    """ffmpeg filters giving the ``size_px`` square an encoder takes: centre crop (CLIP) or squash (SigLIP)."""
    if mode == "center_crop":
        return f"scale={size_px}:{size_px}:force_original_aspect_ratio=increase:flags=area,crop={size_px}:{size_px}"
    return f"scale={size_px}:{size_px}:flags=area"


def busy_decoder_threads(cores: int | None = None) -> int:
    """``SamplingPolicy.decoder_threads`` for a decode that OCR runs beside, on a machine of ``cores`` cores
    (default: this one's): one thread on FEW_CORES or fewer, ffmpeg's own choice (0) on more.

    >>> busy_decoder_threads(2), busy_decoder_threads(16)
    (1, 0)
    """
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return 1 if cores <= FEW_CORES else 0


def build_command(path: Path, stream: StreamInfo, policy: SamplingPolicy, fps: float,
                  skip_nonref: bool = False) -> list[str]:
    """The ffmpeg command line; stdout carries raw RGB frames, stderr the showinfo lines. ``skip_nonref``: decode
    no frame that other frames do not refer to (``indexer.nonref``; uniform mode)."""
    source = f"[0:{stream.index}]"
    frames = _frames_filter(policy, fps, frame_shape(stream, policy))
    if policy.mode == "keyframes":
        graph = f"{source}{frames}[out]"  # no cut branch: only keyframes are decoded
    else:
        cuts = f"scale={CUT_THUMB}:flags=neighbor,format=rgb24,select='gt(scene,{policy.shot_threshold})',showinfo@cut,nullsink"
        graph = f"{source}split=2[c][f];[c]{cuts};[f]{frames}[out]"
    decode_opts = ["-skip_frame", "nokey"] if policy.mode == "keyframes" else \
        ["-skip_frame", "noref"] if skip_nonref else []
    if policy.decoder_threads:
        decode_opts += ["-threads", str(policy.decoder_threads)]
    return [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        *decode_opts, "-i", str(path),
        "-filter_complex", graph, "-map", "[out]",
        "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]


class _StderrReader(threading.Thread):
    """Parses showinfo lines as ffmpeg writes them; keeps the tail of everything else for error reports."""

    def __init__(self, stream: IO[bytes], result: SampleResult) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._result = result
        self.frame_times: queue.Queue[float] = queue.Queue()
        self.tail: deque[str] = deque(maxlen=40)

    def run(self) -> None:
        for raw in self._stream:
            line = raw.decode("utf-8", "replace").rstrip()
            match = SHOWINFO_LINE.match(line)
            if match is None:
                if SHOWINFO_PREFIX.match(line) is None:  # showinfo's other lines are noise, not errors
                    self.tail.append(line)
                continue
            t_s = max(0.0, float(match.group(2)))  # already relative to the file's start
            if match.group(1) == "frame":
                self.frame_times.put(t_s)
            else:
                self._result.cut_t_s.append(t_s)


STALL_TIMEOUT_S = 300.0


class _StallWatchdog(threading.Thread):
    """Kills ``proc`` when one wait on it (inside ``waiting()``) lasts longer than ``stall_s``."""

    def __init__(self, proc: subprocess.Popen[bytes], stall_s: float, poll_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.proc, self.stall_s, self.poll_s = proc, stall_s, min(poll_s, stall_s / 4)
        self.fired = False
        self._since: float | None = None
        self._stop = threading.Event()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        self._since = time.monotonic()
        try:
            yield
        finally:
            self._since = None

    def run(self) -> None:
        while not self._stop.wait(self.poll_s):
            since = self._since
            if since is not None and time.monotonic() - since > self.stall_s:
                self.fired = True
                self.proc.kill()
                return

    def stop(self) -> None:
        self._stop.set()


class FrameSampler:
    """Iterate over batches of sampled frames of one video stream.

    >>> sampler = FrameSampler(info, stream, policy)          # doctest: +SKIP
    >>> for batch in sampler.batches(): ...                     # doctest: +SKIP
    >>> sampler.result.cut_t_s                                  # doctest: +SKIP
    """

    def __init__(self, info: MediaInfo, stream: StreamInfo, policy: SamplingPolicy,
                 timeout_s: float | None = None) -> None:
        self.info = info
        self.stream = stream
        self.policy = policy
        self.result = SampleResult(fps=effective_fps(policy, info.duration_s))
        # ffmpeg producing no frame for this long is a hang (a stalled mount, a decoder loop). Only the time spent
        # waiting on ffmpeg counts: a slow consumer of the batches (an encoder, OCR) never trips it.
        self.timeout_s = timeout_s if timeout_s is not None else STALL_TIMEOUT_S

    def batches(self) -> Iterator[FrameBatch]:
        p = self.policy
        self.result.skipped_nonref = p.skip_nonref and p.mode == "uniform" and \
            skip_nonref(self.info.path, self.stream, self.result.fps)
        cmd = build_command(self.info.path, self.stream, p, self.result.fps, self.result.skipped_nonref)
        height, width = frame_shape(self.stream, p)
        frame_bytes = height * width * 3
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        reader = _StderrReader(proc.stderr, self.result)
        reader.start()
        watchdog = _StallWatchdog(proc, self.timeout_s)
        watchdog.start()
        frames: list[np.ndarray] = []
        times: list[float] = []
        try:
            while True:
                with watchdog.waiting():
                    buf = proc.stdout.read(frame_bytes)
                if not buf:
                    break
                if len(buf) < frame_bytes:
                    raise DecodeError(self.info.path, "ffmpeg stopped in the middle of a frame", detail=self._tail(reader))
                try:
                    times.append(reader.frame_times.get(timeout=60.0))
                except queue.Empty as exc:
                    raise DecodeError(self.info.path, "ffmpeg wrote a frame without its timestamp",
                                      detail=self._tail(reader)) from exc
                frames.append(np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3))
                if len(frames) == p.batch_frames:
                    yield self._batch(frames, times)
                    frames, times = [], []
            if frames:
                yield self._batch(frames, times)
            returncode = proc.wait()
            reader.join(timeout=10.0)
            if watchdog.fired and returncode != 0:
                raise DecodeError(self.info.path, f"ffmpeg produced no frame for {self.timeout_s:.0f} s and was "
                                  "stopped", "the file may be damaged or on a stalled mount", self._tail(reader))
            if returncode != 0:
                raise DecodeError(self.info.path, f"ffmpeg failed while decoding (exit code {returncode})",
                                  "the file is probably damaged; run `ffmpeg -v error -i PATH -f null -` to see where",
                                  self._tail(reader))
        finally:
            watchdog.stop()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.result.cut_t_s.sort()

    def _batch(self, frames: list[np.ndarray], times: list[float]) -> FrameBatch:
        self.result.frame_count += len(frames)
        return FrameBatch(frames=np.stack(frames), t_s=np.asarray(times, dtype=np.float64))

    @staticmethod
    def _tail(reader: _StderrReader) -> str:
        return "\n".join(reader.tail)


T = TypeVar("T")
PREFETCH_BATCHES = 2  # decoded batches waiting for the consumer: ffmpeg works ahead by this much, no more


class _Prefetcher(threading.Thread):
    """Runs an iterator in its own thread, its items on a bounded queue; then a sentinel, or its exception."""

    END = object()

    def __init__(self, items: Iterator[T], depth: int) -> None:
        super().__init__(daemon=True, name="scenedex-decode")
        self.items = items
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
            self._put(self.END)
        except BaseException as exc:  # noqa: BLE001 - handed over to the consumer's thread, raised there
            self._put(exc)
        finally:
            close = getattr(self.items, "close", None)
            if close is not None:
                close()  # a sampler's generator kills its ffmpeg

    def _put(self, item: object) -> bool:
        while not self.halt.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False


def prefetch(items: Iterator[T], depth: int = PREFETCH_BATCHES) -> Iterator[T]:
    """``items`` produced in a thread of their own, at most ``depth`` ahead of the consumer: decoding overlaps
    what the consumer does with each batch (encoding, OCR), and stops when the consumer is behind. An exception
    of the producer is raised in the consumer; a consumer that stops early stops the producer.

    >>> list(prefetch(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    worker = _Prefetcher(items, depth)
    worker.start()
    try:
        while True:
            item = worker.queue.get()
            if item is _Prefetcher.END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        worker.halt.set()
        worker.join(timeout=30.0)
