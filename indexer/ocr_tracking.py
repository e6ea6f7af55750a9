"""Text lines followed from one read frame to the next, so a line is recognised once while it stays on screen,
standing or moving (scrolling credits, a sliding caption), and its readings carry one track number.

Each line of the last frame read is looked for in the new frame by its picture: its grayscale rectangle is
template-matched (normalised cross-correlation, so fades and contrast changes do not matter). The frame's
motion is the displacement most of the ``MOTION_LINES`` largest lines agree on, each searched for within
``MAX_MOVE`` at half resolution; a line whose picture matches (``MIN_MATCH``) within ``MOTION_SNAP_PX`` of where that motion
puts it is taken to be there (so of two look-alike lines, "Enrico Valenza" credited twice, each continues
itself), otherwise where it matches best within MAX_MOVE. A line partly hidden (the credits' squirrel passes over
them; the detector then boxes what is left, "pbell Barton") continues when it still matches
``MIN_PARTIAL_MATCH`` where the motion puts it and the new box lies inside where it went. Only a line that
matches ``MIN_MATCH`` with a box of the same width keeps its reading unread; one that matches loosely is read
again (a new caption in the place of the old one looks much like it) and stays the same line only if it reads
about the same (``indexer.screen_text``). A new box that overlaps (``MIN_IOU``) where an old line went
continues that line; so does a box inside where a line that matches ``MIN_MATCH`` went: the detector boxed part
of it, and the line keeps its old box and reading (another box inside it is no line of its own). Any other box
is a new line. With ``indexer.ocr_scroll``, on the 109 sampled frames of the credits excerpt (one process,
2 cores at load ~15): 599 -> 499 recognitions, the OCR's CPU 59.7 -> 43.1 s (the old code with 2 onnxruntime
threads, the new with 1); the caption over the game of life of ``bench/ocr.py`` read as "reopens.report" and
"Museum.reopens.repor" for two seconds is one span again (40/40).

Measured on the scrolling credits (960 px frames, 1 fps, lines ~10 px high moving ~78 px a frame): fixed-size
patch correlation of detector boxes scored true pairs 0.6-0.78 (box edges jitter by a pixel or two on text this
small); template matching scores them above 0.9.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from indexer.ocr import Box, TextBox

MIN_MATCH = 0.8  # normalised cross-correlation of a line's picture where it is found
MIN_IOU = 0.5  # of a new box and where an old line went
MIN_MOTION_MATCH = 0.6  # where the frame's motion puts a line, it needs to match only this well (its
# background may change: a character passing behind it)
MAX_WIDTH_CHANGE = 0.1  # a followed line whose box changed width more than this is read again
MIN_PARTIAL_MATCH, MIN_INSIDE = 0.5, 0.9  # a line partly hidden (a character passing): matches only this well
# where the frame's motion puts it, and its new, shorter box lies inside where it went
MAX_MOVE = 0.3  # of the frame's height and width: farther than this per sampled frame is another line
MOTION_SNAP_PX = 4  # a line within this of where the frame's motion puts it moved with the frame
MOTION_LINES = 8  # lines searched for widely to measure the frame's motion
MIN_PROBE_MATCH = 0.4  # of those, at half resolution
MIN_PART_CONFIDENCE = 0.9  # a line read this surely keeps its reading when the detector boxes part of it; one
# read less surely (the credits' dense paragraphs of names) is read again in the part: more readings, more names
MAX_MISSED = 2  # frames in a row a line the detector misses is carried by its picture alone
# Figures that change in place (a clock, a timecode, a counter, a score): one glyph of a line changes and the
# whole line still matches its picture, so a followed line whose reading holds a digit is read again when a
# glyph-sized window of its picture changed by more than MAX_GLYPH_CHANGE of its contrast (``glyph_change``);
# other lines are not checked (their cost is unchanged). Until session 23 only lines of at most 24 characters
# were: a 45-character scoreboard line with a match clock, over a still picture, kept its first reading for all
# 12 s of a clip. Checking lines of any length costs the credits excerpt 2 recognitions more (475, not 473)
# and changes none of its 376 spans; the other real clips read the same.
MAX_GLYPH_CHANGE = 0.08


def bounds(box: Box) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the axis-aligned rectangle around a box."""
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)


def touches_edge(box: Box, width: int, height: int, margin_px: float = 1.0) -> bool:
    """Whether the box reaches the frame's border: text cut by the edge (scrolling in or out) is read once
    it is whole.

    >>> touches_edge(((0, 5), (9, 5), (9, 9), (0, 9)), 100, 50), touches_edge(((2, 5), (9, 5), (9, 9), (2, 9)), 100, 50)
    (True, False)
    """
    x0, y0, x1, y1 = bounds(box)
    return x0 <= margin_px or y0 <= margin_px or x1 >= width - 1 - margin_px or y1 >= height - 1 - margin_px


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def inside(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The fraction of rectangle ``a`` that lies inside ``b``."""
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    area = (a[2] - a[0]) * (a[3] - a[1])
    return iw * ih / area if iw > 0 and ih > 0 and area > 0 else 0.0


def template(gray: np.ndarray, box: Box) -> tuple[np.ndarray, tuple[int, int]]:
    """The box's rectangle of the (H, W) uint8 frame, and its top-left corner (x, y)."""
    x0, y0, x1, y1 = (int(round(v)) for v in bounds(box))
    x0, y0 = max(0, x0), max(0, y0)
    return gray[y0:max(y0 + 2, y1 + 1), x0:max(x0 + 2, x1 + 1)], (x0, y0)


def glyph_change(before: np.ndarray, gray: np.ndarray, corner: tuple[int, int]) -> float:
    """How much the most changed glyph-sized window of a line changed: ``before`` (h, w) uint8 is its
    picture when last seen, ``corner`` (x, y) where that rectangle lies in ``gray`` (H, W) uint8 now; the
    mean absolute difference over a window as high as the line and half as wide, in units of the line's
    contrast (5th to 95th percentile of ``before``, at least 32 gray levels). Out of the frame: inf.

    Measured at 1 fps: a clock and a timecode on a still picture (960 x 540, 30 px) whose seconds change
    (one glyph, "7" to "8") 0.10-0.27, unchanged 0-0.02; a clock and frame counter over moving test patterns
    (640 x 360, 20 px) 0.18-0.82, short captions with figures standing over that footage 0-0.43 (median
    0.03: the background shows through their boxes). At 0.08 every change of the still clock is read, and a
    caption over moving footage is read again at about half the frames it is followed in (a short line's
    recognition, 3-7 ms; it reads the same and its span goes on).

    >>> line = np.zeros((20, 60), np.uint8); line[4:16, 10:18] = 255; frame = np.zeros((40, 80), np.uint8)
    >>> frame[10:30, 5:65] = line; round(glyph_change(line, frame, (5, 10)), 2)
    0.0
    >>> frame[14:26, 45:53] = 255; round(glyph_change(line, frame, (5, 10)), 2)  # a glyph appeared
    0.48
    """
    h, w = before.shape
    x, y = corner
    if x < 0 or y < 0 or y + h > gray.shape[0] or x + w > gray.shape[1]:
        return float("inf")
    low, high = np.percentile(before, (5, 95))
    diff = cv2.absdiff(before, gray[y:y + h, x:x + w]).astype(np.float32) / max(32.0, float(high - low))
    return float(cv2.blur(diff, (max(2, min(w, h // 2)), h), borderType=cv2.BORDER_CONSTANT).max())


def figures_line(line: "Line") -> bool:
    """Whether a line's reading holds a digit: what may change in place (``glyph_change``)."""
    r = line.reading
    return r is not None and any(c.isdigit() for c in r.text)


def _best(scores: np.ndarray) -> tuple[int, int, float]:
    iy, ix = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(ix), int(iy), float(scores[iy, ix])


def search_line(gray_half: np.ndarray, line: "Line") -> tuple[float, float, float]:
    """Where ``line`` went: (dx, dy, score) of its best match within MAX_MOVE, searched at half resolution
    (a sixteenth of the work of a full-resolution search)."""
    height, width = gray_half.shape
    th, tw = line.template_half.shape
    x0, y0 = line.corner[0] // 2, line.corner[1] // 2
    mx, my = int(MAX_MOVE * width), int(MAX_MOVE * height)
    wx0, wy0 = max(0, x0 - mx), max(0, y0 - my)
    window = gray_half[wy0:min(height, y0 + th + my), wx0:min(width, x0 + tw + mx)]
    if window.shape[0] < th or window.shape[1] < tw or th < 2 or tw < 2:
        return 0.0, 0.0, 0.0
    ix, iy, score = _best(cv2.matchTemplate(window, line.template_half, cv2.TM_CCOEFF_NORMED))
    return float(2 * (ix + wx0 - x0)), float(2 * (iy + wy0 - y0)), score


def match_near(gray: np.ndarray, line: "Line", dx: float, dy: float) -> tuple[float, float, float]:
    """(dx, dy, score) of ``line``'s best match within MOTION_SNAP_PX of being moved by (dx, dy)."""
    height, width = gray.shape
    th, tw = line.template.shape
    x, y = line.corner[0] + int(round(dx)), line.corner[1] + int(round(dy))
    wx0, wy0 = max(0, x - MOTION_SNAP_PX), max(0, y - MOTION_SNAP_PX)
    window = gray[wy0:min(height, y + th + MOTION_SNAP_PX), wx0:min(width, x + tw + MOTION_SNAP_PX)]
    if window.shape[0] < th or window.shape[1] < tw or th < 2 or tw < 2:
        return dx, dy, 0.0
    ix, iy, score = _best(cv2.matchTemplate(window, line.template, cv2.TM_CCOEFF_NORMED))
    return float(ix + wx0 - line.corner[0]), float(iy + wy0 - line.corner[1]), score


@dataclass(frozen=True)
class Line:
    track: int
    box: Box
    template: np.ndarray  # (h, w) uint8: the line's picture when last seen
    template_half: np.ndarray  # (h // 2, w // 2) uint8: the same at half resolution
    corner: tuple[int, int]  # (x, y) of the template in that frame
    reading: TextBox | None  # None: recognised, and not text (noise is not recognised again either)
    missed: int = 0  # frames in a row the detector did not find it, carried by its picture alone


@dataclass(frozen=True)
class Followed:
    line: Line  # the line of the last frame read that a new box continues
    box: Box  # where the line is now: the new box, or where the old line went when the new box is part of it
    reread: bool  # it matched only loosely or changed width: recognise it again (a new caption in the same
    # place looks much like the old one); it stays the same line if it reads about the same
    figures_changed: bool = False  # read again only because a glyph of its figures changed: otherwise it
    # looks the same, where it went


class LineTracker:
    """The lines of the last frame read; ``follow`` matches a new frame's boxes to them, ``update`` replaces
    them with the new frame's lines."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.found: list[tuple[float, float, float, bool]] = []  # per old line at the last follow: dx, dy, score,
        # partial
        self.changed: list[bool] = []  # per old line at the last follow: figures that changed in place
        self.motion: tuple[float, float] = (0.0, 0.0)  # (dx, dy) px of the frame at the last follow
        self._next_track = 0

    def new_track(self) -> int:
        self._next_track += 1
        return self._next_track - 1

    def follow(self, gray: np.ndarray, boxes: Sequence[Box]) -> dict[int, Followed]:
        """gray: (H, W) uint8 of the new frame; boxes: its text lines -> box index -> the old line it continues,
        and whether it must be read again (it only roughly looks the same: partly hidden, or changed)."""
        self.locate(gray)
        return self.pair(boxes)

    def locate(self, gray: np.ndarray) -> None:
        """Where each old line went in the new frame (gray: (H, W) uint8): sets ``motion`` (the frame's, from
        the lines) and ``found`` (dx, dy, score, partial per old line), before the new frame's boxes are known."""
        self.found, self.motion, self.changed = [], (0.0, 0.0), []
        if not self.lines:
            return
        half = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
        # the frame's motion: the displacement most of a few lines agree on, each found anywhere within
        # MAX_MOVE at half resolution (where small text matches loosely, so agreement counts, not scores)
        probes = sorted(range(len(self.lines)), key=lambda i: -self.lines[i].template.size)[:MOTION_LINES]
        moves = [(dx, dy) for dx, dy, score in (search_line(half, self.lines[i]) for i in probes)
                 if score >= MIN_PROBE_MATCH]
        motion = max(moves, key=lambda m: sum(abs(m[0] - o[0]) + abs(m[1] - o[1]) <= 2 * MOTION_SNAP_PX
                                              for o in moves), default=(0.0, 0.0))
        # each line where that motion puts it; a line that moved otherwise, wherever it matches best
        found = []  # (dx, dy, score, partial) per old line
        height, width = gray.shape
        for line in self.lines:
            if touches_edge(tuple((x + motion[0], y + motion[1]) for x, y in line.box), width, height):
                # moved with the frame to its edge (credits leaving at the top), where its box would not be
                # read: not searched for widely, only where it was (a badge standing over rolling credits)
                dx, dy, score = match_near(gray, line, 0.0, 0.0)
                found.append((dx, dy, score, False) if score >= MIN_MATCH else (*motion, 0.0, True))
                continue
            dx, dy, score = match_near(gray, line, *motion)
            partial = score < MIN_MOTION_MATCH
            if score < MIN_MATCH:  # not where the frame's motion puts it: moved otherwise?
                sdx, sdy, _ = search_line(half, line)
                sdx, sdy, s_score = match_near(gray, line, sdx, sdy)
                if s_score >= MIN_MATCH:
                    dx, dy, score, partial = sdx, sdy, s_score, False
            found.append((dx, dy, score, partial))
        self.found, self.motion = found, motion
        self.changed = [
            figures_line(line) and score >= MIN_MATCH and MAX_GLYPH_CHANGE < glyph_change(
                line.template, gray, (line.corner[0] + int(round(dx)), line.corner[1] + int(round(dy))))
            for line, (dx, dy, score, _) in zip(self.lines, found)]

    def pair(self, boxes: Sequence[Box]) -> dict[int, Followed]:
        """The new frame's boxes -> box index -> the old line it continues (``locate`` ran on that frame)."""
        found = self.found
        new_b = [bounds(b) for b in boxes]
        pairs = []
        for o, ((dx, dy, score, partial), line) in enumerate(zip(found, self.lines)):
            if score < MIN_PARTIAL_MATCH:
                continue
            x0, y0, x1, y1 = bounds(line.box)
            went = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
            for n, nb in enumerate(new_b):
                iou, within = box_iou(went, nb), inside(nb, went)
                # the whole line's picture is where it went and the detector boxed part of it (a caption
                # over the game of life read "reopens.report" for a second, then "Museum.reopens.repor"):
                # the old line and its reading go on, in the old line's box
                part = (score >= MIN_MATCH and within >= MIN_INSIDE and line.reading is not None
                        and line.reading.confidence >= MIN_PART_CONFIDENCE)
                if part or (iou >= MIN_IOU and (not partial or within >= MIN_INSIDE)):
                    same = part or (score >= MIN_MATCH
                                    and abs((nb[2] - nb[0]) - (x1 - x0)) <= MAX_WIDTH_CHANGE * (x1 - x0))
                    pairs.append((max(iou, within) * score, n, o, not same))
        continued: dict[int, Followed] = {}
        used: set[int] = set()
        for _, n, o, looks_changed in sorted(pairs, reverse=True):
            if n not in continued and o not in used:
                reread = looks_changed or self.changed[o]
                figures_only = reread and not looks_changed  # read again for its figures alone
                x0, y0, x1, y1 = bounds(boxes[n])
                dx, dy = found[o][0], found[o][1]
                went_box = tuple((x + dx, y + dy) for x, y in self.lines[o].box)
                went_w = bounds(went_box)[2] - bounds(went_box)[0]
                # a part of the line boxed: the whole line goes on where it went (read again there when its
                # figures changed)
                keep_old = not looks_changed and (x1 - x0) < (1 - MAX_WIDTH_CHANGE) * went_w
                continued[n] = Followed(self.lines[o], went_box if keep_old else boxes[n], reread,
                                        figures_only)
                used.add(o)
        return continued

    def line(self, gray: np.ndarray, track: int, box: Box, reading: TextBox | None) -> Line:
        picture, corner = template(gray, box)
        half = cv2.resize(picture, (max(1, picture.shape[1] // 2), max(1, picture.shape[0] // 2)),
                          interpolation=cv2.INTER_AREA)
        return Line(track, box, picture.copy(), half, corner, reading)

    def unfound(self, used: set[int], boxes: Sequence[Box], width: int, height: int) -> list[tuple[Line, Box]]:
        """Old lines no new box continued whose picture still matches (MIN_MATCH) where they went, with the box
        they would have: the detector misses a line in some frames on a busy background (a caption over the
        game of life: found, missed, found a second apart), which would cut its span. Each is carried at most
        ``MAX_MISSED`` frames in a row; ``used``: indices of the old lines that were continued."""
        carried = []
        taken = [bounds(b) for b in boxes]
        for o, (line, (dx, dy, score, partial)) in enumerate(zip(self.lines, self.found)):
            if (o in used or partial or score < MIN_MATCH or line.reading is None or line.missed >= MAX_MISSED
                    or self.changed[o]):
                continue
            box = tuple((x + dx, y + dy) for x, y in line.box)
            went = bounds(box)
            if touches_edge(box, width, height) or any(box_iou(went, t) > 0 for t in taken):
                continue
            carried.append((line, box))
        return carried

    def update(self, lines: list[Line]) -> None:
        self.lines = lines


def moved(reading: TextBox, box: Box) -> TextBox:
    """The same reading where its line is now."""
    return replace(reading, box=box)
