"""Which frames OCR reads and how readings become spans (indexer.text_spans), on synthetic frames and hand-made
readings: unchanged pictures are read once, shots and small captions are noticed, and a caption read over
consecutive frames is one span with its best reading."""

from __future__ import annotations

import re

import numpy as np

from indexer.ocr import TextBox
from indexer.text_spans import ChangeDetector, merge_spans, select_frames_for_ocr


# --- frame selection on synthetic frames --------------------------------------------------------------------

def still_frames(n: int, seed: int = 0) -> np.ndarray:
    """n copies of one random picture with mild per-frame noise, (n, 90, 160, 3) uint8 RGB."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(90, 160, 3))
    noise = rng.integers(-6, 7, size=(n, 90, 160, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def test_an_unchanged_noisy_picture_is_selected_only_once() -> None:
    frames = still_frames(30)
    assert select_frames_for_ocr(frames, np.zeros(30, np.int64)).tolist() == [0]


def test_the_first_frame_of_a_shot_is_selected_even_when_it_looks_the_same() -> None:
    frames = still_frames(10)
    shots = np.array([0] * 4 + [1] * 6)
    assert select_frames_for_ocr(frames, shots).tolist() == [0, 4]


def test_a_small_caption_appearing_within_a_shot_is_selected_and_so_is_its_disappearance() -> None:
    frames = still_frames(10)
    frames[3:7, 80:84, 20:100] = 255  # a one-line name: 4 x 80 px, 2 % of the picture
    assert select_frames_for_ocr(frames, np.zeros(10, np.int64)).tolist() == [0, 3, 7]


def test_a_slow_drift_is_selected_once_it_adds_up_to_a_change() -> None:
    frames = still_frames(12)
    for i in range(12):
        frames[i, :, : 8 * i] = 0  # a black bar grows 8 px (5 % of the width) per frame
    selected = select_frames_for_ocr(frames, np.zeros(12, np.int64), change_threshold=0.12)
    assert selected.tolist() == [0, 3, 6, 9]  # compared with the last frame selected, not the previous one


def test_selecting_batch_by_batch_picks_the_same_frames_as_all_at_once() -> None:
    frames = still_frames(20)
    frames[5:9, 80:84, 20:100] = 255  # a caption
    frames[12:, :, :40] = 0  # a change that lasts
    shots = np.array([0] * 10 + [1] * 10)
    detector = ChangeDetector()
    in_batches = [int(i) + start for start in range(0, 20, 6)
                  for i in detector.select(frames[start:start + 6], shots[start:start + 6])]
    assert in_batches == select_frames_for_ocr(frames, shots).tolist() == [0, 5, 9, 10, 12]


# --- merging readings into spans, on hand-made readings -----------------------------------------------------

def rect(x: float, y: float, w: float = 400, h: float = 40) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def box(text: str, x: float = 280, y: float = 450, confidence: float = 0.9) -> TextBox:
    return TextBox(text=text, confidence=confidence, box=rect(x, y))


T_S = np.arange(10, dtype=np.float64)  # frames at 0, 1, ..., 9 s


def test_text_read_in_consecutive_selected_frames_is_one_span() -> None:
    reads = {2: [box("Breaking news")], 3: [box("Breaking news")], 5: [box("Breaking news")], 7: []}
    spans = merge_spans(T_S, reads, np.array([2, 3, 5, 7]), 1.0)
    assert [(s.start_s, s.end_s, s.text, s.frame_count) for s in spans] == [(2.0, 7.0, "Breaking news", 3)]


def test_text_still_showing_at_the_last_frame_runs_to_the_end_of_the_media() -> None:
    reads = {0: [box("Credits")], 6: [box("Credits")]}
    selected = np.array([0, 6])
    assert [(s.start_s, s.end_s) for s in merge_spans(T_S, reads, selected, 1.0, end_s=9.6)] == [(0.0, 9.6)]
    assert [(s.start_s, s.end_s) for s in merge_spans(T_S, reads, selected, 1.0)] == [(0.0, 10.0)]


def test_new_text_in_the_same_place_starts_a_new_span() -> None:
    reads = {0: [box("Round one")], 4: [box("Final score 3-2")], 8: []}
    spans = merge_spans(T_S, reads, np.array([0, 4, 8]), 1.0)
    assert [(s.start_s, s.end_s, s.text) for s in spans] == [(0.0, 4.0, "Round one"),
                                                            (4.0, 8.0, "Final score 3-2")]


def test_the_same_text_in_two_places_is_two_spans() -> None:
    reads = {1: [box("LIVE", x=20, y=20), box("LIVE", x=500, y=450)], 3: [box("LIVE", x=20, y=20)]}
    spans = merge_spans(T_S, reads, np.array([1, 3]), 1.0, end_s=10.0)
    assert [(s.start_s, s.end_s, s.box[0]) for s in spans] == [(1.0, 10.0, (20, 20)), (1.0, 3.0, (500, 450))]


def test_small_ocr_noise_does_not_split_a_span_and_the_best_reading_is_kept() -> None:
    reads = {0: [box("QUARTERLYREVENUE 2024", confidence=0.7)],
             1: [box("Quarterly Revenue 2O24", confidence=0.8)],
             2: [box("QUARTERLY REVENUE 2024", x=284, y=452, confidence=0.97)], 3: []}
    [span] = merge_spans(T_S, reads, np.array([0, 1, 2, 3]), 1.0)
    assert (span.start_s, span.end_s, span.text, span.confidence, span.frame_count) == (
        0.0, 3.0, "QUARTERLY REVENUE 2024", 0.97, 3)
    assert span.box == rect(284, 452)


def test_a_doubled_digit_is_reading_noise_unless_the_clock_moved_on_too() -> None:
    """The recogniser doubles a zero of a match clock now and then ("000:00:11.000"): the same second read
    with a doubled digit continues its span; the next second read so starts its own."""
    reads = {i: [box(f"UNITED 00:00:{10 + i // 2:02d}.000")] for i in range(0, 8, 2)}
    reads |= {i: [box(f"UNITED 000:00:{10 + i // 2 + (i == 5):02d}.000")] for i in (1, 3, 5)}
    spans = merge_spans(T_S, reads, np.arange(8), 1.0)
    assert [(s.start_s, s.end_s, s.text[-6:-4]) for s in spans] == [
        (0.0, 2.0, "10"), (2.0, 4.0, "11"), (4.0, 5.0, "12"), (5.0, 10.0, "13")]


def test_a_selected_frame_that_was_not_read_neither_starts_nor_ends_a_span() -> None:
    reads = {0: [box("Weather")], 5: [box("Weather")], 8: []}
    [span] = merge_spans(T_S, reads, np.array([0, 3, 5, 8]), 1.0)
    assert (span.start_s, span.end_s, span.frame_count) == (0.0, 8.0, 2)


def test_only_the_very_same_text_continues_a_span_across_a_cut() -> None:
    box = ((0.0, 0.0), (100.0, 0.0), (100.0, 10.0), (0.0, 10.0))
    logo = ((0.0, 50.0), (20.0, 50.0), (20.0, 60.0), (0.0, 60.0))
    t_s = np.arange(6, dtype=np.float64)
    shot = np.array([0, 0, 0, 1, 1, 1])
    first, second = "Queen opens new library at hotel", "Queen opens new library at hostel"
    reads = {i: [TextBox(first if i < 3 else second, 0.9, box), TextBox("NEWS 24", 0.9, logo)] for i in range(6)}
    spans = merge_spans(t_s, reads, np.arange(6), 1.0, end_s=6.0, frame_shot=shot)
    assert [(s.text, s.start_s, s.end_s) for s in spans] == [(first, 0.0, 3.0), ("NEWS 24", 0.0, 6.0), (second, 3.0, 6.0)]
    without_shots = merge_spans(t_s, reads, np.arange(6), 1.0, end_s=6.0)
    assert len(without_shots) == 2  # alike enough to read as one caption when cuts are not known


# --- matching readings to open spans -------------------------------------------------------------------------

def other_figures(a: str, b: str) -> bool:
    """As many digits in both, not the same (the digits compared as one number); or one digit more in one,
    whose digits do not hold the other's in order (a doubled digit and another second)."""
    da, db = sorted((re.sub(r"\D", "", a), re.sub(r"\D", "", b)), key=len)
    if len(db) == len(da) + 1:
        digits = iter(db)
        return not all(d in digits for d in da)
    return len(da) == len(db) and da != db


def every_pair_greedy(open_spans: list, boxes: list[TextBox], min_similarity: float,
                      min_iou: float) -> dict[int, int]:
    """The matching as first written: every pair scored (3 for the same track, else similarity + overlap when
    both pass), then taken best first, one to one."""
    from indexer.text_spans import box_iou, text_similarity

    pairs = []
    for s, span in enumerate(open_spans):
        for b, box in enumerate(boxes):
            if box.track >= 0 and box.track == span.last.track:
                pairs.append((3.0, b, s))
                continue
            iou = box_iou(span.last.box, box.box)
            sim = text_similarity(span.last.text, box.text) if iou >= min_iou else 0.0
            if iou >= min_iou and sim >= min_similarity and not other_figures(span.last.text, box.text):
                pairs.append((sim + iou, b, s))
    matched: dict[int, int] = {}
    for _, b, s in sorted(pairs, reverse=True):
        if b not in matched and s not in matched.values():
            matched[b] = s
    return matched


def test_followed_lines_matched_first_give_the_matching_of_every_pair_scored() -> None:
    from indexer.text_spans import MIN_BOX_IOU, MIN_TEXT_SIMILARITY, _match, _OpenSpan

    rng = np.random.default_rng(7)
    words = ["Sacha Goedegebure", "Sacha Goedegebur", "Jan Morgenstern", "Jan Morganstern", "SOUND DESIGN",
             "S0UND DESIGN", "Sun Microsystems", "blender", "00:00:05", "00:00:06", "0O:00:05",
             "Lap 12 of 50", "Lap 13 of 50", "Lap l2 of 50", "000:00:05", "000:00:06", "Lap 112 of 50"]

    def reading() -> TextBox:
        x, y = rng.integers(0, 12, size=2)
        box = ((x, y), (x + 40, y), (x + 40, y + 10), (x, y + 10))
        return TextBox(str(rng.choice(words)), 0.9, box, int(rng.integers(-1, 4)))  # tracks repeat on purpose

    cases_with_both_kinds = 0
    for _ in range(600):
        spans = [_OpenSpan(start_s=0.0, last=(r := reading()), best=r) for _ in range(rng.integers(0, 7))]
        boxes = [reading() for _ in range(rng.integers(0, 7))]
        got = _match(spans, boxes, MIN_TEXT_SIMILARITY, MIN_BOX_IOU)
        assert got == every_pair_greedy(spans, boxes, MIN_TEXT_SIMILARITY, MIN_BOX_IOU)
        tracked = {b for b, s in got.items() if boxes[b].track >= 0 and boxes[b].track == spans[s].last.track}
        cases_with_both_kinds += bool(tracked) and len(tracked) < len(got)
    assert cases_with_both_kinds > 20  # the cases exercised both followed lines and text-and-place pairs
