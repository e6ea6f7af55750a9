"""Text lines as the OCR sees them in a frame: a box's corners, the line cut out and straightened for the
recogniser, and the detector's word boxes joined into lines. Pure geometry on arrays (``indexer.ocr`` runs
the models)."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[tuple[float, float], ...]  # 4 corner points (x, y) in pixels, clockwise from top-left


def box_of(points: np.ndarray) -> Box:
    """(4, 2) corner points -> Box of floats.

    >>> box_of(np.array([[0, 0], [9, 0], [9, 4], [0, 4]]))
    ((0.0, 0.0), (9.0, 0.0), (9.0, 4.0), (0.0, 4.0))
    """
    return tuple((float(x), float(y)) for x, y in points)


def crop_box(frame: np.ndarray, box: Box) -> np.ndarray:
    """The box's text line cut out of ``frame`` (H, W, C) and straightened: (h, w, C), w >= h unless the line
    is vertical, which is turned a quarter so it reads left to right."""
    pts = np.asarray(box, dtype=np.float32)  # (4, 2)
    w = max(1, int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3]))))
    h = max(1, int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    crop = cv2.warpPerspective(frame, cv2.getPerspectiveTransform(pts, target), (w, h),
                               borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(crop) if h >= 1.5 * w else crop


WORD_GAP = 1.0  # of the line height: boxes closer than this on one line are one line (a space, not a column)


def _rect(box: Box) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)


def join_words(boxes: list[Box]) -> list[Box]:
    """Boxes of one line of text joined into one: on a busy background the detector splits a caption at its
    spaces in some frames and not in others ("Science fair" + "report 129"), which would read as other lines.
    Two boxes join when they overlap vertically by 60 % of the lower one, their heights differ by under 30 %,
    and the gap between them is under WORD_GAP line heights (credit columns are further apart).

    >>> join_words([((0, 0), (50, 0), (50, 20), (0, 20)), ((58, 1), (90, 1), (90, 21), (58, 21))])
    [((0.0, 0.0), (90.0, 0.0), (90.0, 21.0), (0.0, 21.0))]
    """
    rects = [_rect(b) for b in boxes]
    joined = True
    while joined:
        joined = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                ha, hb = a[3] - a[1], b[3] - b[1]
                overlap = min(a[3], b[3]) - max(a[1], b[1])
                gap = max(a[0], b[0]) - min(a[2], b[2])
                if (overlap >= 0.6 * min(ha, hb) and abs(ha - hb) < 0.3 * max(ha, hb)
                        and gap < WORD_GAP * min(ha, hb)):
                    rects[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del rects[j]
                    joined = True
                    break
            if joined:
                break
    kept = {_rect(b): b for b in boxes}  # a box that joined nothing keeps its exact corners
    return [kept.get(r) or tuple((float(x), float(y)) for x, y in
                                 ((r[0], r[1]), (r[2], r[1]), (r[2], r[3]), (r[0], r[3]))) for r in rects]
