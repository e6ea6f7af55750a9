"""On-screen text of one file's sampled frames, fed in order batch by batch: which frames get which part of the
engine (``indexer.ocr``), and the readings that become spans (``indexer.text_spans.merge_spans``).

Each sampled frame goes down the first of these paths that applies:

1. unchanged: the picture did not change since the last frame looked at (same shot, ``picture_change`` under
   the threshold, no frame waiting for a probe, no line with figures changed in place: a clock on a still
   picture): it shows what that frame showed; nothing runs.
2. read: text was showing at the last frame read: detect at ``read_width_px``, follow each line from the last
   frame read (``indexer.ocr_tracking``), recognise only the lines that are new or look changed, in one batch
   (a line with figures counts as changed when one glyph of it did: a clock, a score).
   While text shows every sampled frame is read, so a span ends within one sampling interval. When the frame
   is the last one scrolled (every line found where the frame's motion puts it), the lines are carried and
   only the strip the scroll uncovered is detected (``indexer.ocr_scroll``).
3. probe: no text showing, and this is every ``probe_every``-th changed frame (or the first of a shot): the
   detector alone at ``probe_width_px`` says whether there is text. If there is, the changed frame skipped
   before it is read first (its start within one sampling interval), then this one.
4. otherwise the frame waits as the one to read if the next probe finds text.

On full-motion footage without text this costs one small detection every ``probe_every`` frames, instead of
detection, orientation and recognition at 960 px on every frame (0.9 s a frame before, 2 cores).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from indexer.ocr import Box, OcrEngine, TextBox
from indexer.ocr_scroll import FULL_EVERY, carried, detect_in_rows, scroll_strip, strip_and_carried
from indexer.ocr_tracking import (MAX_GLYPH_CHANGE, MIN_INSIDE, MIN_PART_CONFIDENCE, Line, LineTracker,
                                  bounds, figures_line, glyph_change, inside, moved, touches_edge)
from indexer.span_gaps import MAX_GAP_FRAMES, join_interrupted
from indexer.text_spans import (DEFAULT_CHANGE_THRESHOLD, MIN_TEXT_SIMILARITY, TextSpan, merge_spans, picture_change,
                                similar_enough, thumbnail)

log = logging.getLogger(__name__)

PROBE_WIDTH_PX = 480  # finds about half the 14 px credit lines of 720p footage: enough to say "text here"
PROBE_EVERY = 2
# Names the rules that decide what is read (the channels' key carries it: a change has each file's on-screen text
# read again once, ``workers.reread_ocr``): "figures" since session 21, a short line of figures read again where
# a glyph of it changed (``indexer.ocr_tracking.glyph_change``); "figures-lookalikes" since session 23, any line
# with figures (a scoreboard's clock beside the team names), and letters read for digits inside a number taken
# as those digits when readings are compared (``indexer.text_spans.figures``: "O0:O0:09" is a new second);
# "figures-as-words" since session 24, a reading with a digit doubled or dropped is another second when the
# rest of its figures changed too (``indexer.text_spans.figures_differ``), and a clock or timecode is stored
# as digits, apart from a word it was read glued to (``indexer.ocr_filters.clean_text``: "UNITEDO0:O0:09.000"
# is stored as "UNITED 00:00:09.000").
READ_RULES = "figures-as-words"
SAME_LINE_TEXT = MIN_TEXT_SIMILARITY  # a line read again continues its span when it reads this alike


@dataclass
class ScreenTextStats:
    frames_given: int = 0
    frames_unchanged: int = 0  # path 1
    frames_read: int = 0  # path 2 (and backfilled frames)
    frames_probed: int = 0  # path 3
    lines_recognised: int = 0
    lines_followed: int = 0  # continued from the frame before: not recognised again
    lines_reread: int = 0  # of those recognised: continued, but matched loosely or changed width
    frames_by_strip: int = 0  # of those read: scrolling, detected only on the strip uncovered (ocr_scroll)
    detect_s: float = 0.0
    recognise_s: float = 0.0

    @property
    def frames_skipped(self) -> int:
        return self.frames_given - self.frames_read - self.frames_probed


@dataclass
class _Pending:
    index: int
    frame: np.ndarray  # (H, W, 3) uint8 RGB


@dataclass
class ScreenTextReader:
    engine: OcrEngine
    probe_width_px: int = PROBE_WIDTH_PX
    read_width_px: int = 640
    probe_every: int = PROBE_EVERY
    change_threshold: float = DEFAULT_CHANGE_THRESHOLD
    scroll_strips: bool = True  # detect only what a scroll uncovered (``indexer.ocr_scroll``)
    read_first: bool = False  # the first frame fed is read, not probed (a segment's first: text may be showing)
    stats: ScreenTextStats = field(default_factory=ScreenTextStats)

    def __post_init__(self) -> None:
        assert self.probe_every >= 1, f"probe_every must be at least 1, got {self.probe_every}"
        self._t_s: list[float] = []
        self._shot: list[int] = []
        self._read: dict[int, list[TextBox]] = {}  # frame index -> readings (frames read or probed)
        self._tracker = LineTracker()
        self._last_thumb: np.ndarray | None = None
        self._last_shot: int | None = None
        self._showing = False  # text showed at the last frame read
        self._since_probe = 0  # changed frames since the last probe or read
        self._pending: _Pending | None = None
        self._since_full = 0  # frames read by strip since the whole frame was last detected

    def feed(self, frames: np.ndarray, t_s: np.ndarray, frame_shot: np.ndarray) -> None:
        """frames: (B, H, W, 3) uint8 RGB, in time order after those fed before; t_s: (B,); frame_shot: (B,)."""
        assert frames.ndim == 4 and frames.shape[3] == 3, f"expected (B, H, W, 3) frames, got {frames.shape}"
        assert t_s.shape == frame_shot.shape == (len(frames),), (
            f"t_s {t_s.shape} and frame_shot {frame_shot.shape} do not match frames {frames.shape}")
        for frame, t, shot in zip(frames, t_s, frame_shot):
            self._step(frame, float(t), int(shot))

    def _step(self, frame: np.ndarray, t: float, shot: int) -> None:
        index = len(self._t_s)
        self._t_s.append(t)
        self._shot.append(shot)
        self.stats.frames_given += 1
        thumb, new_shot = thumbnail(frame), shot != self._last_shot
        self._last_shot = shot
        if (not new_shot and self._pending is None and self._last_thumb is not None
                and picture_change(self._last_thumb, thumb) <= self.change_threshold
                and not self._figures_changed(frame)):
            self.stats.frames_unchanged += 1
            return
        self._last_thumb = thumb
        if self._showing or (index == 0 and self.read_first):
            self._read_frame(index, frame)
            return
        self._since_probe += 1
        if not new_shot and self._since_probe < self.probe_every:
            self._pending = _Pending(index, frame)
            return
        self._since_probe = 0
        if self._probe(frame):
            if self._pending is not None:
                self._read_frame(self._pending.index, self._pending.frame)
            self._read_frame(index, frame)
        else:
            self._read[index] = []
        self._pending = None

    def _figures_changed(self, frame: np.ndarray) -> bool:
        """Whether a line with figures showing at the last frame read changed in place: a clock or a
        timecode on a still picture changes too few pixels for the thumbnail to see (frame: (H, W, 3) RGB)."""
        lines = [line for line in self._tracker.lines if figures_line(line)] if self._showing else []
        if not lines:
            return False
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)  # (H, W) uint8
        return any(glyph_change(line.template, gray, line.corner) > MAX_GLYPH_CHANGE for line in lines)

    def _probe(self, frame: np.ndarray) -> bool:
        self.stats.frames_probed += 1
        t0 = time.perf_counter()
        boxes = self.engine.detect(frame, self.probe_width_px)
        self.stats.detect_s += time.perf_counter() - t0
        h, w = frame.shape[:2]
        return any(not touches_edge(b, w, h) for b in boxes)

    def _detect(self, frame: np.ndarray) -> list[Box]:
        """The text lines of a frame to read (the tracker has located the last frame's lines in it): the whole
        frame detected, or, scrolling, the lines carried where they went and the strip uncovered detected."""
        h, w = frame.shape[:2]
        tracker = self._tracker
        rows = scroll_strip(tracker.lines, tracker.found, tracker.motion, w, h) \
            if self.scroll_strips and self._since_full < FULL_EVERY - 1 else None
        if rows is None:
            self._since_full = 0
            return [b for b in self.engine.detect(frame, self.read_width_px) if not touches_edge(b, w, h)]
        self._since_full += 1
        self.stats.frames_by_strip += 1
        strip = [b for b in detect_in_rows(self.engine, frame, rows, self.read_width_px)
                 if not touches_edge(b, w, h)]
        return strip_and_carried(strip, carried(tracker.lines, tracker.found, rows, w, h))

    def _read_frame(self, index: int, frame: np.ndarray) -> None:
        self.stats.frames_read += 1
        h, w = frame.shape[:2]
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)  # (H, W) uint8
        self._tracker.locate(gray)
        t0 = time.perf_counter()
        boxes = self._detect(frame)
        self.stats.detect_s += time.perf_counter() - t0
        continued = self._tracker.pair(boxes)
        boxes = [continued[i].box if i in continued else b for i, b in enumerate(boxes)]
        kept = [bounds(continued[i].box) for i in continued  # another part of a line followed (sure) is no line
                if (not continued[i].reread or continued[i].figures_changed)
                and (r := continued[i].line.reading) is not None
                and r.confidence >= MIN_PART_CONFIDENCE]
        drop = {i for i, b in enumerate(boxes)
                if i not in continued and any(inside(bounds(b), k) >= MIN_INSIDE for k in kept)}
        if drop:
            continued = {sum(j not in drop for j in range(i)): f for i, f in continued.items()}
            boxes = [b for i, b in enumerate(boxes) if i not in drop]
        fresh = [i for i in range(len(boxes)) if i not in continued or continued[i].reread]
        t0 = time.perf_counter()
        readings = self.engine.recognise_boxes(frame, [boxes[i] for i in fresh])
        self.stats.recognise_s += time.perf_counter() - t0
        self.stats.lines_recognised += len(fresh)
        self.stats.lines_reread += sum(i in continued for i in fresh)
        self.stats.lines_followed += len(boxes) - len(fresh)
        by_box = dict(zip(fresh, readings))
        lines: list[Line] = []
        for i, b in enumerate(boxes):
            old = continued[i].line if i in continued else None
            if i in by_box:
                r = by_box[i]
                same = old is not None and (r is None) == (old.reading is None) and (
                    r is None or old.reading is None
                    or similar_enough(r.text, old.reading.text, SAME_LINE_TEXT) is not None)
                track = old.track if same and old is not None else self._tracker.new_track()
                reading = TextBox(r.text, r.confidence, b, track) if r is not None else None
                if same and old is not None and old.reading is not None and continued[i].figures_changed:
                    # read again only to see whether its figures changed, and they did not: the reading
                    # stands (a second reading of a caption over moving footage is no better, and the
                    # recogniser is surer of "Round 2:music" than of "Round 2: music")
                    reading = moved(old.reading, b)
            else:
                assert old is not None
                track, reading = old.track, moved(old.reading, b) if old.reading is not None else None
            lines.append(self._tracker.line(gray, track, b, reading))
        used = {id(f.line) for f in continued.values()}
        old_used = {o for o, line in enumerate(self._tracker.lines) if id(line) in used}
        for line, b in self._tracker.unfound(old_used, boxes, w, h):  # missed by the detector, still there
            assert line.reading is not None
            self.stats.lines_followed += 1
            lines.append(replace(self._tracker.line(gray, line.track, b, moved(line.reading, b)),
                                 missed=line.missed + 1))
        self._tracker.update(lines)
        self._read[index] = [line.reading for line in lines if line.reading is not None]
        self._showing = bool(self._read[index])

    @property
    def readings(self) -> tuple[list[float], list[int], dict[int, list[TextBox]]]:
        """(time of every frame fed, its shot, frame index -> what was read there: frames read or probed)."""
        return self._t_s, self._shot, self._read

    def finish(self, interval_s: float, duration_s: float, frame_shot: np.ndarray | None = None) -> list[TextSpan]:
        """The spans of everything fed; text still showing at the last frame ends at ``duration_s`` (or one
        interval after the last frame, whichever is later). ``frame_shot`` (N,): the shot of every frame fed,
        when the shots known while feeding were provisional (a decode shared with shot detection)."""
        spans = spans_of_readings(self._t_s, frame_shot if frame_shot is not None else np.asarray(self._shot),
                                  self._read, interval_s, duration_s)
        log_read(self.stats, len(spans))
        return spans


def spans_of_readings(t_s: list[float], frame_shot: np.ndarray, read: dict[int, list[TextBox]], interval_s: float,
                      duration_s: float) -> list[TextSpan]:
    """Spans of the readings of a file's frames: t_s (N,) every frame's time, frame_shot (N,) its shot, ``read``
    frame index -> readings (frames read or probed); text showing at the last frame ends at ``duration_s``, or one
    interval after the last frame when that is later."""
    if not t_s:
        return []
    assert frame_shot.shape == (len(t_s),), f"frame_shot {frame_shot.shape} for {len(t_s)} frames"
    times_s = np.asarray(t_s)  # (N,)
    selected = np.asarray(sorted(read), dtype=np.int64)
    end_s = duration_s if duration_s > float(times_s[-1]) else float(times_s[-1]) + interval_s
    shots = np.asarray(frame_shot, dtype=np.int64)  # (N,)
    return join_interrupted(merge_spans(times_s, read, selected, interval_s, end_s=end_s, frame_shot=shots),
                            times_s, MAX_GAP_FRAMES * interval_s, shots)


def log_read(s: ScreenTextStats, spans: int) -> None:
    log.info("OCR: %d frames, %d unchanged, %d probed, %d read; %d lines recognised, %d followed; "
             "detect %.1f s, recognise %.1f s; %d spans", s.frames_given, s.frames_unchanged, s.frames_probed,
             s.frames_read, s.lines_recognised, s.lines_followed, s.detect_s, s.recognise_s, spans)


def read_screen_text(engine: OcrEngine, frames: np.ndarray, t_s: np.ndarray, frame_shot: np.ndarray,
                     interval_s: float, duration_s: float, **options: float) -> tuple[list[TextSpan], ScreenTextStats]:
    """On-screen text of frames already in memory: (N, H, W, 3) uint8 RGB, t_s (N,), frame_shot (N,).
    ``ScreenTextReader`` does the same batch by batch; ``options`` are its fields."""
    reader = ScreenTextReader(engine, **options)  # type: ignore[arg-type]
    reader.feed(frames, t_s, frame_shot)
    return reader.finish(interval_s, duration_s), reader.stats
