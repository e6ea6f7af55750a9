"""Scrolling text detected only where it is new. When every line of the last frame read is found again where the
frame's motion puts it (``indexer.ocr_tracking.LineTracker.locate``) and that motion is a vertical scroll (end
credits rolling up), the new frame is the last one moved: its lines are carried to where they went, and the
detector runs only on the strip the scroll uncovered (plus a margin of two line heights, so a line that was
cut by the frame's edge last time is whole in it).

Any line not found where the motion puts it (hidden by a character passing, changed), too few lines to trust
the motion, sideways motion, or a strip taller than ``MAX_STRIP`` of the frame: the whole frame is detected, as
is every ``FULL_EVERY``-th frame read, so text that appears among scrolling lines is found within
``FULL_EVERY`` - 1 sampled frames.

On the credits excerpt (109 frames at 960 px, 89 read): 49 frames detected by strip, the detector's CPU
9.5 -> 5.5 s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from indexer.ocr import Box, OcrEngine
from indexer.ocr_tracking import MIN_MATCH, Line, bounds, box_iou, inside, touches_edge

MIN_SCROLL_PX = 4  # vertical motion a frame, in pixels of the frames read, that counts as a scroll
MAX_SIDEWAYS_PX = 2  # horizontal motion allowed with it
MIN_LINES = 3  # lines that must agree (found where the motion puts them) before only a strip is detected
MARGIN_LINES, MARGIN_PX = 2, 16  # the strip reaches this many line heights (plus pixels) past what is new
MAX_STRIP = 0.5  # of the frame's height: a taller strip is not worth it, the whole frame is detected
NEAR_EDGE_PX = 4  # a box this close to the edge the scroll uncovers may be a line half in view ("DESIGN" of
# "SOUND DESIGN", its glyphs cut, boxed 2 px above the edge): left to the next frame, where it is whole
FULL_EVERY = 4  # frames read: every this many, the whole frame is detected whatever the motion
# (8 was measured, session 8: the credits' OCR CPU 36.7 -> 33.3 s, 499 -> 475 recognitions, but 128 of 442
# span texts changed: the dense lines of donors' names read differently from other boxes; not taken)

Found = tuple[float, float, float, bool]  # (dx, dy, score, partial) of an old line in the new frame


def moved_box(box: Box, dx: float, dy: float) -> Box:
    return tuple((x + dx, y + dy) for x, y in box)


def scroll_strip(lines: Sequence[Line], found: Sequence[Found], motion: tuple[float, float], width: int,
                 height: int) -> tuple[int, int] | None:
    """Rows (y0, y1) of the new frame that hold its new text, or None when the whole frame must be detected.

    >>> from indexer.ocr_tracking import Line
    >>> line = lambda y: Line(0, ((10, y), (90, y), (90, y + 12), (10, y + 12)), None, None, (10, y), None)
    >>> scroll_strip([line(100), line(200), line(300)], [(0, -40, 0.95, False)] * 3, (0, -40), 960, 540)
    (460, 540)
    """
    dx, dy = motion
    if abs(dx) > MAX_SIDEWAYS_PX or abs(dy) < MIN_SCROLL_PX:
        return None
    staying = [(line, f) for line, f in zip(lines, found)
               if not touches_edge(moved_box(line.box, dx, dy), width, height)]
    if len(staying) < MIN_LINES or any(f[2] < MIN_MATCH for _, f in staying):
        return None
    line_h = max(bounds(line.box)[3] - bounds(line.box)[1] for line, _ in staying)
    reach = int(math.ceil(abs(dy) + MARGIN_LINES * line_h + MARGIN_PX))
    rows = (max(0, height - reach), height) if dy < 0 else (0, min(height, reach))
    return rows if rows[1] - rows[0] <= MAX_STRIP * height else None


def carried(lines: Sequence[Line], found: Sequence[Found], rows: tuple[int, int], width: int,
            height: int) -> list[Box]:
    """The boxes of the old lines where they went (those found there, not at the frame's edge) that the strip
    ``rows`` does not hold whole: a line inside the strip is detected there again, so a line that was only
    partly uncovered last time (read "DESIGN" as "SOUND DESIGN" came up) is seen whole."""
    boxes = []
    for line, (dx, dy, score, _) in zip(lines, found):
        box = moved_box(line.box, dx, dy)
        x0, y0, x1, y1 = bounds(box)
        if score >= MIN_MATCH and not touches_edge(box, width, height) and (y0 < rows[0] + 2 or y1 > rows[1] - 2):
            boxes.append(box)
    return boxes


def detect_in_rows(engine: OcrEngine, frame: np.ndarray, rows: tuple[int, int], width_px: int) -> list[Box]:
    """frame: (H, W, 3) uint8 RGB -> boxes of text lines within rows (y0, y1), in the frame's pixels, at the
    scale the whole frame would be detected at (the strip is as wide as the frame). A box cut by the strip's
    edge inside the frame is dropped: that line is above (or below) the new part, carried; so is one at the
    frame's edge (NEAR_EDGE_PX)."""
    y0, y1 = rows
    strip = np.ascontiguousarray(frame[y0:y1])  # (y1 - y0, W, 3)
    height = frame.shape[0]
    out = []
    for box in engine.detect(strip, width_px):
        bx = bounds(box)
        if (y0 > 0 and bx[1] <= 1) or (y1 < height and bx[3] >= y1 - y0 - 2):
            continue
        if (y1 == height and bx[3] >= y1 - y0 - NEAR_EDGE_PX) or (y0 == 0 and bx[1] <= NEAR_EDGE_PX):
            continue  # at the edge the scroll uncovers: maybe still partly hidden, read whole next frame
        out.append(moved_box(box, 0.0, float(y0)))
    return out


def strip_and_carried(strip_boxes: Sequence[Box], carried_boxes: Sequence[Box]) -> list[Box]:
    """The lines of a frame read by strip: every carried box, and each strip box that is not one of them."""
    kept = [bounds(b) for b in carried_boxes]
    new = [b for b in strip_boxes
           if not any(box_iou(bounds(b), k) > 0.1 or inside(bounds(b), k) > 0.5 for k in kept)]
    return sorted([*carried_boxes, *new], key=lambda b: (b[0][1], b[0][0]))
