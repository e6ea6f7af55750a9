"""Text lines followed from one read frame to the next, so a line is recognised once while it stays on screen,
standing or moving (scrolling credits, a sliding caption), and its readings carry one track number.

Each line of the last frame read is looked for in the new frame by its picture: its grayscale rectangle is
template-matched (normalised cross-correlation, so fades and contrast changes do not matter) within
``MAX_MOVE`` of where it was. The frame's motion is the median displacement of the lines found; a line whose
picture also matches (``MIN_MATCH``) where that motion puts it is taken to be there (so of two look-alike lines,
"Enrico Valenza" credited twice, each continues itself), otherwise where it matches best. A new box that
overlaps (``MIN_IOU``) where an old line went continues that line; any other box is a new line.

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
MAX_MOVE = 0.3  # of the frame's height and width: farther than this per sampled frame is another line
MOTION_SNAP_PX = 4  # a line within this of where the frame's motion puts it moved with the frame


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


def template(gray: np.ndarray, box: Box) -> tuple[np.ndarray, tuple[int, int]]:
    """The box's rectangle of the (H, W) uint8 frame, and its top-left corner (x, y)."""
    x0, y0, x1, y1 = (int(round(v)) for v in bounds(box))
    x0, y0 = max(0, x0), max(0, y0)
    return gray[y0:max(y0 + 2, y1 + 1), x0:max(x0 + 2, x1 + 1)], (x0, y0)


def find_line(gray: np.ndarray, line: "Line", guess: tuple[float, float] | None) -> tuple[float, float, float]:
    """Where ``line`` is in the new frame: (dx, dy, score), searched within MAX_MOVE; with ``guess`` (the
    frame's motion) a match within MOTION_SNAP_PX of it wins over a better one elsewhere."""
    height, width = gray.shape
    th, tw = line.template.shape
    x0, y0 = line.corner
    mx, my = int(MAX_MOVE * width), int(MAX_MOVE * height)
    wx0, wy0 = max(0, x0 - mx), max(0, y0 - my)
    window = gray[wy0:min(height, y0 + th + my), wx0:min(width, x0 + tw + mx)]
    if window.shape[0] < th or window.shape[1] < tw or th < 2 or tw < 2:
        return 0.0, 0.0, 0.0
    scores = cv2.matchTemplate(window, line.template, cv2.TM_CCOEFF_NORMED)  # (wh - th + 1, ww - tw + 1)
    if guess is not None:
        gx, gy = x0 + guess[0] - wx0, y0 + guess[1] - wy0
        ys, xs = slice(max(0, int(gy) - MOTION_SNAP_PX), max(0, int(gy) + MOTION_SNAP_PX + 1)), \
            slice(max(0, int(gx) - MOTION_SNAP_PX), max(0, int(gx) + MOTION_SNAP_PX + 1))
        near = scores[ys, xs]
        if near.size and float(near.max()) >= MIN_MATCH:
            iy, ix = np.unravel_index(int(np.argmax(near)), near.shape)
            return float(ix + xs.start + wx0 - x0), float(iy + ys.start + wy0 - y0), float(near.max())
    iy, ix = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(ix + wx0 - x0), float(iy + wy0 - y0), float(scores[iy, ix])


@dataclass(frozen=True)
class Line:
    track: int
    box: Box
    template: np.ndarray  # (h, w) uint8: the line's picture when last seen
    corner: tuple[int, int]  # (x, y) of the template in that frame
    reading: TextBox | None  # None: recognised, and not text (noise is not recognised again either)


class LineTracker:
    """The lines of the last frame read; ``follow`` matches a new frame's boxes to them, ``update`` replaces
    them with the new frame's lines."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._next_track = 0

    def new_track(self) -> int:
        self._next_track += 1
        return self._next_track - 1

    def follow(self, gray: np.ndarray, boxes: Sequence[Box]) -> dict[int, Line]:
        """gray: (H, W) uint8 of the new frame; boxes: its text lines -> box index -> the old line it continues."""
        if not self.lines or not boxes:
            return {}
        found = [find_line(gray, line, None) for line in self.lines]
        good = [(dx, dy) for dx, dy, score in found if score >= MIN_MATCH]
        if not good:
            return {}
        motion = (float(np.median([d[0] for d in good])), float(np.median([d[1] for d in good])))
        found = [find_line(gray, line, motion) for line in self.lines]
        new_b = [bounds(b) for b in boxes]
        pairs = []
        for o, ((dx, dy, score), line) in enumerate(zip(found, self.lines)):
            if score < MIN_MATCH:
                continue
            x0, y0, x1, y1 = bounds(line.box)
            went = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
            for n, nb in enumerate(new_b):
                iou = box_iou(went, nb)
                if iou >= MIN_IOU:
                    pairs.append((iou * score, n, o))
        continued: dict[int, Line] = {}
        used: set[int] = set()
        for _, n, o in sorted(pairs, reverse=True):
            if n not in continued and o not in used:
                continued[n] = self.lines[o]
                used.add(o)
        return continued

    def line(self, gray: np.ndarray, track: int, box: Box, reading: TextBox | None) -> Line:
        picture, corner = template(gray, box)
        return Line(track, box, picture.copy(), corner, reading)

    def update(self, lines: list[Line]) -> None:
        self.lines = lines


def moved(reading: TextBox, box: Box) -> TextBox:
    """The same reading where its line is now."""
    return replace(reading, box=box)
