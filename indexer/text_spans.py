"""On-screen text over time: which sampled frames changed, and how readings become spans (the pipeline that
decides which frames are read is ``indexer.screen_text``).

A frame is looked at again only when it is

* the first sampled frame of its shot, or
* a frame whose picture changed since the last frame read: more than ``change_threshold`` of the pixels of a
  160-pixel-wide grayscale thumbnail moved by more than ``PIXEL_DELTA`` gray levels. A fraction of changed
  pixels (not a mean difference) ignores compression noise and slow fades, and still sees a one-line
  lower-third name appear (22 px text on 540 lines changes ~0.4 % of the thumbnail). Motion anywhere in the
  picture is read again: a moving shot is read at every sampled frame.

A frame that was not read looked like the last frame read, so its text is taken to be that frame's text: a
span runs from the first frame read that shows it to the next frame read that does not. Readings of one line
followed on screen (the same ``TextBox.track``) continue one span wherever the line moves.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from indexer.ocr import Box, TextBox, TextReader
from indexer.ocr_filters import DIGIT_OF_LETTER

log = logging.getLogger(__name__)

THUMB_WIDTH_PX = 160
PIXEL_DELTA = 24  # gray levels (of 255) a thumbnail pixel must move to count as changed
DEFAULT_CHANGE_THRESHOLD = 0.002  # fraction of thumbnail pixels: ~29 of 160 x 90
MIN_TEXT_SIMILARITY = 0.8  # difflib ratio of normalised texts for two readings to be the same text
MIN_BOX_IOU = 0.3  # overlap of two readings' bounding rectangles for them to be in the same place


@dataclass(frozen=True)
class TextSpan:
    start_s: float
    end_s: float
    text: str  # the reading with the best confidence
    confidence: float  # best over the frames read
    box: Box  # of the best reading, in pixels of the frames read
    frame_count: int  # frames read that showed this text (unread frames in between are not counted)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, THUMB_WIDTH_PX) int16 gray, area-averaged, aspect kept."""
    h, w, _ = frame.shape
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)  # (H, W) uint8
    size = (THUMB_WIDTH_PX, max(1, round(THUMB_WIDTH_PX * h / w)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.int16)


def picture_change(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels of two thumbnails (h, w) that differ by more than PIXEL_DELTA gray levels.

    >>> picture_change(np.zeros((2, 2), np.int16), np.array([[0, 10], [30, 255]], np.int16))
    0.5
    """
    assert a.shape == b.shape, f"thumbnails differ in shape: {a.shape} vs {b.shape}"
    return float(np.mean(np.abs(a - b) > PIXEL_DELTA))


class ChangeDetector:
    """Selects the frames worth reading from batches fed in order; keeps the last selected thumbnail between
    batches, so a long file never has to be held in memory at 960 px (~1.5 MB a frame)."""

    def __init__(self, change_threshold: float = DEFAULT_CHANGE_THRESHOLD) -> None:
        assert 0.0 <= change_threshold < 1.0, f"change_threshold must be in [0, 1), got {change_threshold}"
        self.change_threshold = change_threshold
        self._last_thumb: np.ndarray | None = None  # (h, THUMB_WIDTH_PX) int16 of the last frame selected
        self._last_shot: int | None = None

    def select(self, frames: np.ndarray, frame_shot: np.ndarray) -> np.ndarray:
        """frames: (B, H, W, 3) uint8 RGB; frame_shot: (B,) shot of each -> (K,) int64 indices into the batch.

        A batch passed before its cuts are known (shot ids from cuts found so far) still has the frame after a
        cut selected whenever the two shots look different, which is what a cut is.
        """
        assert frames.ndim == 4 and frames.shape[3] == 3, f"expected (B, H, W, 3) frames, got {frames.shape}"
        assert frame_shot.shape == (len(frames),), (
            f"frame_shot {frame_shot.shape} does not match frames {frames.shape}")
        selected = []
        for i, frame in enumerate(frames):
            thumb, shot = thumbnail(frame), int(frame_shot[i])
            if (self._last_thumb is None or shot != self._last_shot
                    or picture_change(self._last_thumb, thumb) > self.change_threshold):
                selected.append(i)
                self._last_thumb = thumb
            self._last_shot = shot
        return np.asarray(selected, dtype=np.int64)


def select_frames_for_ocr(frames: np.ndarray, frame_shot: np.ndarray,
                          change_threshold: float = DEFAULT_CHANGE_THRESHOLD) -> np.ndarray:
    """Indices (K,) int64, ascending, of the frames worth reading: the first frame of each shot, and each
    frame whose picture changed (``picture_change`` > ``change_threshold``) since the last frame selected.

    frames: (N, H, W, 3) uint8 RGB; frame_shot: (N,) shot index of each frame (``indexer.shots.build_shots``).
    A static video selects its first frame only. ``ChangeDetector`` does the same batch by batch.
    """
    return ChangeDetector(change_threshold).select(frames, frame_shot)


def normalise_text(text: str) -> str:
    """Case- and whitespace-insensitive form (OCR drops and adds spaces).

    >>> normalise_text("  Quarterly REVENUE\\t2024 ")
    'quarterlyrevenue2024'
    """
    return "".join(text.casefold().split())


def text_similarity(a: str, b: str) -> float:
    """difflib ratio (0..1) of the normalised texts.

    >>> round(text_similarity("Launch window opens at dawn", "LAUNCH WlNDOW OPENS AT DAWN"), 2)
    0.96
    """
    return difflib.SequenceMatcher(None, normalise_text(a), normalise_text(b), autojunk=False).ratio()


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of the axis-aligned rectangles around two boxes.

    >>> box_iou(((0, 0), (10, 0), (10, 10), (0, 10)), ((5, 0), (15, 0), (15, 10), (5, 10)))
    0.3333333333333333
    """
    ax, ay = [p[0] for p in a], [p[1] for p in a]
    bx, by = [p[0] for p in b], [p[1] for p in b]
    iw = min(max(ax), max(bx)) - max(min(ax), min(bx))
    ih = min(max(ay), max(by)) - max(min(ay), min(by))
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (max(ax) - min(ax)) * (max(ay) - min(ay)) + (max(bx) - min(bx)) * (max(by) - min(by)) - inter
    return inter / union if union > 0 else 0.0


def better_reading(new: TextBox, best: TextBox) -> bool:
    """Whether ``new`` is a better reading of a span's text than ``best``: clearly longer (the whole of a line
    read partly hidden before), or about as long and more confident.

    >>> better_reading(TextBox("Campbell Barton", 0.9, ()), TextBox("pbell Barton", 0.97, ()))
    True
    """
    n, b = len(normalise_text(new.text)), len(normalise_text(best.text))
    if n > 1.15 * b:
        return True
    return n >= 0.87 * b and new.confidence > best.confidence


@dataclass
class _OpenSpan:
    start_s: float
    last: TextBox  # latest reading: what the next frame's readings are matched against
    best: TextBox
    shot: int = -1  # shot of the latest reading (-1: shots unknown)
    frame_count: int = 1

    def extend(self, box: TextBox) -> None:
        self.last = box
        self.frame_count += 1
        if better_reading(box, self.best):
            self.best = box

    def close(self, end_s: float) -> TextSpan:
        best = self.best
        return TextSpan(start_s=self.start_s, end_s=end_s, text=best.text, confidence=best.confidence,
                        box=best.box, frame_count=self.frame_count)


_NUMBER = re.compile(r"[\dOoIl]*\d[\dOoIl]*")  # a run of digits, and of letters read for digits in it


def figures(text: str) -> str:
    """The digits of a reading, with the letters the recogniser reads for digits inside a number (O for 0, l
    for 1: "O0:O0:09") taken as those digits; letters of words stay letters.

    >>> figures("UNITEDO0:O0:09.000"), figures("HARBOR ROVERS 2-1"), figures("Revenue 2O24")
    ('000009000', '21', '2024')
    """
    return "".join(m.group().translate(DIGIT_OF_LETTER) for m in _NUMBER.finditer(text))


def figures_differ(a: str, b: str) -> bool:
    """Whether two readings' figures differ: a clock, a timecode, a counter or a score that changed. A digit
    read as a look-alike letter (``figures``) is taken as the digit. A digit dropped or doubled is reading
    noise (the one reading is the other with one digit more), unless the rest of the figures changed too
    ("000:00:11" after "00:00:10": a doubled zero and the next second); readings two or more digits apart in
    length are parts of a line read apart, not other figures.

    >>> figures_differ("10:00:00:00", "10:00:00:10"), figures_differ("Revenue 2024", "REVENUE 2O24")
    (True, False)
    >>> figures_differ("ELM CITY UNITED 00:00:08.000", "ELM CITY UNITEDO0:O0:09.000")
    True
    >>> figures_differ("00:00:10.000", "000:00:10.000"), figures_differ("00:00:10.000", "000:00:11.000")
    (False, True)
    >>> figures_differ("Lap 9 of 50", "Lap 10 of 50"), figures_differ("Round 2: music", "Round : music")
    (True, False)
    """
    longer, shorter = sorted((figures(a), figures(b)), key=len, reverse=True)
    if len(longer) == len(shorter):
        return longer != shorter
    return len(longer) == len(shorter) + 1 and shorter not in _one_digit_fewer(longer)


def _one_digit_fewer(digits: str) -> set[str]:
    """Every string of ``digits`` with one digit left out.

    >>> sorted(_one_digit_fewer("100"))
    ['00', '10']
    """
    return {digits[:k] + digits[k + 1:] for k in range(len(digits))}


def similar_enough(a: str, b: str, min_similarity: float) -> float | None:
    """``text_similarity(a, b)`` when it is at least ``min_similarity``, else None; difflib's upper bounds
    (``real_quick_ratio``, ``quick_ratio``) turn most other pairs away before the full comparison.

    Readings whose figures differ (``figures_differ``) are never similar enough: a clock, a timecode, a
    counter or a score that changed on screen is other text however alike the rest reads ("00:00:05" and
    "00:00:06" are 88 % alike).

    >>> similar_enough("Sun Microsystems", "SUN MICROSYSTEMS", 0.8), similar_enough("Sun", "Jan Morgenstern", 0.8)
    (1.0, None)
    >>> similar_enough("Lap 12 of 50", "LAP 13 OF 50", 0.8), round(similar_enough("Rev 2024", "2O24", 0.3), 2)
    (None, 0.55)
    """
    matcher = difflib.SequenceMatcher(None, normalise_text(a), normalise_text(b), autojunk=False)
    if matcher.real_quick_ratio() < min_similarity or matcher.quick_ratio() < min_similarity:
        return None
    ratio = matcher.ratio()
    return ratio if ratio >= min_similarity and not figures_differ(a, b) else None


def _match(open_spans: Sequence[_OpenSpan], boxes: Sequence[TextBox], min_similarity: float,
           min_iou: float) -> dict[int, int]:
    """Greedy one-to-one matching, best first, of the same text in the same place: box index -> span index.

    A box followed on screen (the same ``TextBox.track`` as a span's latest reading) scores 3, above any pair
    of text and place (at most 2), so those pairs are matched first and the boxes and spans they take are not
    compared again: on dense scrolling credits most lines are followed, and difflib on the rest of the pairs
    was 1 % of the OCR's CPU.
    """
    followed = sorted(((3.0, b, s) for s, span in enumerate(open_spans) for b, box in enumerate(boxes)
                       if box.track >= 0 and box.track == span.last.track), reverse=True)
    matched: dict[int, int] = {}
    used_spans: set[int] = set()

    def take(pairs: list[tuple[float, int, int]]) -> None:
        for _, b, s in sorted(pairs, reverse=True):
            if b not in matched and s not in used_spans:
                matched[b] = s
                used_spans.add(s)

    take(followed)
    pairs = []
    for s, span in enumerate(open_spans):
        if s in used_spans:
            continue
        for b, box in enumerate(boxes):
            if b in matched or (box.track >= 0 and box.track == span.last.track):
                continue
            iou = box_iou(span.last.box, box.box)
            if iou < min_iou:  # first the cheap test: difflib on every pair was 14 % of OCR on dense credits
                continue
            sim = similar_enough(span.last.text, box.text, min_similarity)
            if sim is not None:
                pairs.append((sim + iou, b, s))
    take(pairs)
    return matched


def merge_spans(t_s: np.ndarray, read_boxes: dict[int, list[TextBox]], selected: np.ndarray,
                interval_s: float, end_s: float | None = None, min_similarity: float = MIN_TEXT_SIMILARITY,
                min_iou: float = MIN_BOX_IOU, frame_shot: np.ndarray | None = None) -> list[TextSpan]:
    """Readings of the selected frames -> spans of text, sorted by start, then top to bottom, left to right.

    t_s: (N,) time of every sampled frame; selected: (K,) indices into it, ascending; read_boxes: frame
    index -> what was read there (a selected frame missing from it was not read, and neither starts nor ends
    a span). A reading continues a span when its text (``text_similarity`` >= ``min_similarity``) and its
    place (``box_iou`` >= ``min_iou``) match the span's latest reading. A span ends at the time of the next
    frame read without it; spans still showing at the last frame end at ``end_s`` (the media's end; by
    default ``interval_s`` after the last frame). With ``frame_shot`` (N,) given, only the very same text
    continues a span across a cut (a station logo does; "Chef fixes old car" after "Pilot fixes old car" in
    the next shot starts a span of its own, however alike the two read).
    """
    assert interval_s > 0, f"interval_s must be positive, got {interval_s}"
    if len(t_s) == 0:
        return []
    media_end_s = float(t_s[-1]) + interval_s if end_s is None else max(float(end_s), float(t_s[-1]))
    spans: list[TextSpan] = []
    open_spans: list[_OpenSpan] = []
    for i in (int(i) for i in selected):
        boxes = read_boxes.get(i)
        if boxes is None:
            continue
        t = float(t_s[i])
        matched = _match(open_spans, boxes, min_similarity, min_iou)
        if frame_shot is not None:
            shot = int(frame_shot[i])
            matched = {b: sp for b, sp in matched.items() if open_spans[sp].shot == shot
                       or normalise_text(open_spans[sp].last.text) == normalise_text(boxes[b].text)}
            for sp in matched.values():
                open_spans[sp].shot = shot
        for b, s in matched.items():
            open_spans[s].extend(boxes[b])
        still_open = set(matched.values())
        spans += [span.close(t) for s, span in enumerate(open_spans) if s not in still_open]
        open_spans = [span for s, span in enumerate(open_spans) if s in still_open]
        open_spans += [_OpenSpan(start_s=t, last=box, best=box,
                                 shot=int(frame_shot[i]) if frame_shot is not None else -1)
                       for b, box in enumerate(boxes) if b not in matched]
    spans += [span.close(media_end_s) for span in open_spans]
    return sorted(spans, key=lambda s: (s.start_s, min(y for _, y in s.box), min(x for x, _ in s.box)))
