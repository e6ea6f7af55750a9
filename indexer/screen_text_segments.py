"""On-screen text of one file read in segments at once, on as many cores as are given to it.

``indexer.screen_text.ScreenTextReader`` reads a file in order, each frame after the one before (it follows lines
from frame to frame), so one file's OCR keeps about one core and a half busy however many the machine has: on
footage with text most of the time (news with its lower thirds and tickers, scrolling credits) it is the file's
critical path. ``SegmentedScreenText`` hands consecutive runs of frames to ``workers`` readers at once, one
reader a segment, and joins what they read into one file's readings:

* a segment ends at the first cut once it holds half of ``segment_frames``, or when it holds them all; the next
  starts at the cut (nothing is followed across a cut, so nothing is lost), or, with no cut, at the last frame
  of the one before, read by both: the lines the later reader found there take the track numbers of the lines
  the earlier one had there (same place, alike text), so a line crossing the seam, scrolling or standing,
  stays one track and one span; that frame keeps the earlier reader's readings, and a line only the later
  reader found there gets a track of its own;
* a segment's reader reads its first frame in full (a probe of a small frame can miss dense text showing).

The cost: a frame read twice at a seam without a cut, and a seam's lines recognised again (a reader starts
knowing no lines); where dense text crosses such a seam a line may split (the credits excerpt: 6 of 250 split
as with one reader at 64 frames a segment, 9 at 32). Frames are fed in order from the one decode; a segment
waits in memory (at most ``segment_frames`` frames, ~1.5 MB each at 960 px) until a reader is free, so at most
``workers + 1`` segments are held. ``workers`` 1 is the plain reader, in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from indexer.ocr import OcrEngine, TextBox
from indexer.screen_text import ScreenTextReader, ScreenTextStats, log_read, spans_of_readings
from indexer.text_spans import MIN_TEXT_SIMILARITY, TextSpan, box_iou, similar_enough

SEGMENT_FRAMES = 64  # at most; a segment ends at a cut once half full (four of the shared decode's batches)
SEAM_MIN_IOU = 0.5  # a line of the later reader is the earlier reader's line at the seam frame when it overlaps it
_BATCHES_HELD = 8  # a segment's queue: a whole segment fits, in 16-frame batches cut at its ends
_WAIT_S = 0.2  # how often a blocked hand-over looks whether the other side failed or stopped


@dataclass
class _Segment:
    first: int  # file frame index of its first frame (the seam frame it shares with the segment before, if any)
    batches: queue.Queue[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = field(
        default_factory=lambda: queue.Queue(_BATCHES_HELD))
    frames: int = 0
    reader: Future[ScreenTextReader] | None = None


@dataclass
class SegmentedScreenText:
    engine: OcrEngine
    workers: int
    segment_frames: int = SEGMENT_FRAMES

    def __post_init__(self) -> None:
        assert self.workers >= 1, f"workers must be at least 1, got {self.workers}"
        assert self.segment_frames >= 2, f"segment_frames must be at least 2, got {self.segment_frames}"
        self._single = ScreenTextReader(self.engine) if self.workers == 1 else None
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="scenedex-ocr-seg") \
            if self._single is None else None
        self._segments: list[_Segment] = []
        self._fed = 0  # frames fed so far
        self._last: tuple[np.ndarray, float, int] | None = None  # the last frame fed: (frame, t_s, shot)
        self._stop = threading.Event()
        self._joined: ScreenTextStats | None = None  # the segments' work added up, once finished

    @property
    def stats(self) -> ScreenTextStats:
        """The reading's counts; ``frames_given`` counts every frame fed so far (a seam frame once), the rest of
        the segments' work is added up when they are finished."""
        if self._single is not None:
            return self._single.stats
        return self._joined or ScreenTextStats(frames_given=self._fed)

    def feed(self, frames: np.ndarray, t_s: np.ndarray, frame_shot: np.ndarray) -> None:
        """frames: (B, H, W, 3) uint8 RGB, in time order after those fed before; t_s: (B,); frame_shot: (B,).
        Raises a segment reader's error as soon as it is seen."""
        if self._single is not None:
            self._single.feed(frames, t_s, frame_shot)
            return
        try:
            self._feed(frames, t_s, frame_shot)
        except BaseException:
            self.close()
            raise

    def _feed(self, frames: np.ndarray, t_s: np.ndarray, frame_shot: np.ndarray) -> None:
        start = 0
        while start < len(frames):
            segment = self._segment_for(int(frame_shot[start]))
            end = start + 1
            while end < len(frames) and self._room(segment.frames + end - start, int(frame_shot[end - 1]),
                                                   int(frame_shot[end])):
                end += 1
            self._hand_over(segment, (frames[start:end], t_s[start:end], frame_shot[start:end]))
            segment.frames += end - start
            self._fed += end - start
            self._last = (frames[end - 1].copy(), float(t_s[end - 1]), int(frame_shot[end - 1]))
            start = end

    def _room(self, frames_in: int, last_shot: int, shot: int) -> bool:
        """Whether a segment holding ``frames_in`` frames, the last of shot ``last_shot``, takes a frame of
        ``shot``: not when full, nor at a cut once it is half full (a seam at a cut joins nothing)."""
        return frames_in < self.segment_frames and (shot == last_shot or frames_in < self.segment_frames // 2)

    def _segment_for(self, shot: int) -> _Segment:
        """The segment the next frame (of ``shot``) goes to: the current one while it has room, else a new one,
        which starts at the current one's last frame unless the new frame starts a shot."""
        current = self._segments[-1] if self._segments else None
        if current is not None and self._last is not None and self._room(current.frames, self._last[2], shot):
            return current
        if current is not None:
            self._hand_over(current, None)  # the segment is whole
        seam = self._last is not None and self._last[2] == shot  # no cut between the segments: share a frame
        segment = _Segment(first=self._fed - 1 if seam else self._fed)
        assert self._pool is not None
        segment.reader = self._pool.submit(self._read_segment, segment)
        self._segments.append(segment)
        if seam and self._last is not None:
            frame, t, last_shot = self._last
            self._hand_over(segment, (frame[None], np.asarray([t]), np.asarray([last_shot], dtype=np.int64)))
            segment.frames += 1
        return segment

    def _hand_over(self, segment: _Segment, batch: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> None:
        """Put a batch (None: the end) on a segment's queue, waiting while it is full; raises the segment reader's
        error if it failed meanwhile."""
        while True:
            try:
                segment.batches.put(batch, timeout=_WAIT_S)
                return
            except queue.Full:
                assert segment.reader is not None
                if segment.reader.done():
                    segment.reader.result()  # raises its error
                    raise RuntimeError("an OCR segment reader stopped before its frames were all handed over")
            self._raise_failed()

    def _raise_failed(self) -> None:
        for segment in self._segments:
            if segment.reader is not None and segment.reader.done() and segment.reader.exception() is not None:
                segment.reader.result()

    def _read_segment(self, segment: _Segment) -> ScreenTextReader:
        # a later segment's seam frame is read in full: a probe (small frame) can miss dense text that shows
        reader = ScreenTextReader(self.engine, read_first=segment.first > 0)
        while not self._stop.is_set():
            try:
                batch = segment.batches.get(timeout=_WAIT_S)
            except queue.Empty:
                continue
            if batch is None:
                return reader
            reader.feed(*batch)
        return reader

    def close(self) -> None:
        """Stop the segment readers (the decode ended early); safe to call more than once."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def finish(self, interval_s: float, duration_s: float, frame_shot: np.ndarray | None = None) -> list[TextSpan]:
        """The file's spans, as ``ScreenTextReader.finish`` gives them; ``frame_shot`` (N,): the final shots."""
        if self._single is not None:
            return self._single.finish(interval_s, duration_s, frame_shot)
        try:
            if self._segments:
                self._hand_over(self._segments[-1], None)
            readers = [s.reader.result() for s in self._segments if s.reader is not None]
        finally:
            self.close()
        t_s, shots, read = join_segments([(s.first, r) for s, r in zip(self._segments, readers)])
        self._joined = summed_stats([r.stats for r in readers], frames=len(t_s))
        spans = spans_of_readings(t_s, frame_shot if frame_shot is not None else np.asarray(shots, dtype=np.int64),
                                  read, interval_s, duration_s)
        log_read(self.stats, len(spans))
        return spans


def join_segments(segments: list[tuple[int, ScreenTextReader]]) -> tuple[list[float], list[int],
                                                                           dict[int, list[TextBox]]]:
    """(t_s, shot, frame index -> readings) of a file from its segments' readers: (file index of the segment's
    first frame, its reader), in order, each after the first starting at a cut after the one before or at its
    last frame (a seam). Track numbers are made unique to the file; at a seam the later segment's lines take the
    earlier reader's tracks."""
    t_s: list[float] = []
    shots: list[int] = []
    read: dict[int, list[TextBox]] = {}
    next_track = 0
    for n, (first, reader) in enumerate(segments):
        seg_t_s, seg_shot, seg_read = reader.readings
        skip = len(t_s) - first  # 1: it starts at the frame the one before ended at (the earlier reader's)
        assert skip in ((1, 0) if n else (0,)), f"segment {n} starts at frame {first}, after {len(t_s)} frames"
        tracks = _seam_tracks(_latest(read, first), seg_read.get(0, [])) if skip else {}
        for local, boxes in sorted(seg_read.items()):
            if local < skip:
                continue
            relabelled = []
            for b in boxes:
                if b.track >= 0 and b.track not in tracks:
                    tracks[b.track] = next_track
                    next_track += 1
                relabelled.append(replace(b, track=tracks[b.track]) if b.track >= 0 else b)
            read[first + local] = relabelled
        t_s.extend(seg_t_s[skip:])
        shots.extend(seg_shot[skip:])
    return t_s, shots, read


def _latest(read: dict[int, list[TextBox]], at: int) -> list[TextBox]:
    """What showed at frame ``at`` as the earlier reader saw it: its readings of the last frame it read up to
    then (a frame it did not read showed what the frame before showed)."""
    earlier = [i for i in read if i <= at]
    return read[max(earlier)] if earlier else []


def _seam_tracks(earlier: list[TextBox], later: list[TextBox]) -> dict[int, int]:
    """Later reader's track -> earlier reader's track, for the lines both found at the seam frame: the pairs
    that overlap most (box IoU >= SEAM_MIN_IOU) and read alike, each line used once."""
    pairs = sorted(((box_iou(a.box, b.box), i, j) for i, a in enumerate(earlier) for j, b in enumerate(later)
                    if a.track >= 0 and b.track >= 0), reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    tracks: dict[int, int] = {}
    for iou, i, j in pairs:
        if iou < SEAM_MIN_IOU or i in used_a or j in used_b:
            continue
        if similar_enough(earlier[i].text, later[j].text, MIN_TEXT_SIMILARITY) is None:
            continue
        used_a.add(i)
        used_b.add(j)
        tracks[later[j].track] = earlier[i].track
    return tracks


def summed_stats(parts: list[ScreenTextStats], frames: int) -> ScreenTextStats:
    """The segments' work added up; ``frames_given`` is the file's frame count (a seam frame counts once)."""
    total: dict[str, Any] = {f.name: sum(getattr(p, f.name) for p in parts) for f in fields(ScreenTextStats)}
    total["frames_given"] = frames
    return ScreenTextStats(**total)
