"""One file's on-screen text read in segments at once (``indexer.screen_text_segments``): the same spans as one
reader, lines crossing a seam one span, a reader's error raised in the caller, no thread left behind."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from indexer.ocr import OcrEngine, OcrError, TextBox, load_ocr_engine
from indexer.probe import choose_video_stream, probe
from indexer.sampling import FrameSampler, SamplingPolicy
from indexer.screen_text import ScreenTextStats
from indexer.screen_text_segments import SegmentedScreenText, join_segments
from indexer.text_spans import TextSpan, normalise_text
from tests.test_screen_text import CREDITS, fragments, scrolling_credits, sliding_caption, spans_of


def rect(x: float, y: float, w: float = 200, h: float = 30) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


@dataclass
class FakeReader:
    """What a segment's reader hands back: every frame's time and shot, and its readings."""

    t_s: list[float]
    read: dict[int, list[TextBox]]
    stats: ScreenTextStats = field(default_factory=ScreenTextStats)

    @property
    def readings(self) -> tuple[list[float], list[int], dict[int, list[TextBox]]]:
        return self.t_s, [0] * len(self.t_s), self.read


def test_a_line_at_the_seam_keeps_the_earlier_track_and_a_line_new_there_gets_its_own() -> None:
    credit = TextBox("Music by Jan Morgenstern", 0.9, rect(100, 300), track=0)
    early = FakeReader([0.0, 1.0, 2.0], {0: [credit], 1: [credit], 2: [credit]})
    # the later reader finds the credit again at the seam frame (its own track 0) and a second line the earlier
    # reader had not read yet, then both a second later, the credit moved up by a scroll
    moved = TextBox("Music by Jan Morgenstern", 0.9, rect(100, 240), track=0)
    other = TextBox("Sound by Sacha Goedegebure", 0.9, rect(100, 400), track=1)
    late = FakeReader([2.0, 3.0, 4.0], {0: [credit, other], 1: [moved, other], 2: [moved]})
    t_s, shots, read = join_segments([(0, early), (2, late)])  # type: ignore[list-item]
    assert t_s == [0.0, 1.0, 2.0, 3.0, 4.0] and len(shots) == 5
    assert read[2] == [credit]  # the seam frame: the earlier reader's readings
    assert read[3][0].track == credit.track  # the credit continues its track across the seam
    assert read[3][1].track not in (credit.track, -1)  # the new line has a track of its own ...
    assert read[4][0].track == credit.track


def test_lines_that_read_differently_or_stand_elsewhere_at_the_seam_are_not_joined() -> None:
    clock = TextBox("10:41:07", 0.9, rect(20, 20, 120), track=5)
    caption = TextBox("Harbor lights at midnight", 0.9, rect(100, 400), track=6)
    early = FakeReader([0.0, 1.0], {0: [clock, caption], 1: [clock, caption]})
    later_clock = TextBox("10:41:08", 0.9, rect(20, 20, 120), track=0)  # the same place, another second
    elsewhere = TextBox("Harbor lights at midnight", 0.9, rect(400, 100), track=1)  # the same text, elsewhere
    late = FakeReader([1.0, 2.0], {0: [later_clock, elsewhere], 1: [later_clock, elsewhere]})
    _, _, read = join_segments([(0, early), (1, late)])  # type: ignore[list-item]
    tracks = {b.text: b.track for b in read[2]}
    assert tracks["10:41:08"] not in (clock.track, caption.track)
    assert tracks["Harbor lights at midnight"] not in (clock.track, caption.track)
    assert len(set(tracks.values())) == 2


def test_tracks_are_unique_to_the_file_when_segments_number_them_alike() -> None:
    a = FakeReader([0.0, 1.0], {0: [TextBox("First", 0.9, rect(0, 0), 0)], 1: []})
    b = FakeReader([1.0, 2.0], {0: [], 1: [TextBox("Second", 0.9, rect(0, 200), 0)]})
    c = FakeReader([2.0, 3.0], {0: [TextBox("Second", 0.9, rect(0, 200), 0)],
                                1: [TextBox("Third", 0.9, rect(0, 400), 1)]})
    _, _, read = join_segments([(0, a), (1, b), (2, c)])  # type: ignore[list-item]
    assert read[0][0].track != read[2][0].track  # both were track 0 in their own reader
    assert read[3][0].track not in (read[0][0].track, read[2][0].track)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return load_ocr_engine()


def read_in_segments(engine: OcrEngine, path: Path, workers: int,
                     segment_frames: int) -> tuple[list[TextSpan], ScreenTextStats]:
    info = probe(path)
    reader = SegmentedScreenText(engine, workers, segment_frames)
    frames = 0
    for batch in FrameSampler(info, choose_video_stream(info),
                              SamplingPolicy(size_px=960, resize_mode="fit_width", batch_frames=3)).batches():
        reader.feed(batch.frames, batch.t_s, np.zeros(len(batch.t_s), np.int64))
        frames += len(batch.t_s)
    spans = reader.finish(1.0, info.duration_s)
    assert reader.stats.frames_given == frames  # a seam frame counts once
    return spans, reader.stats


def seg_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("scenedex-ocr-seg")]


def test_scrolling_credits_read_in_segments_are_one_span_a_line_as_read_by_one_reader(engine: OcrEngine,
                                                                                     tmp_path: Path) -> None:
    path = scrolling_credits(tmp_path / "credits.mp4")
    one, _ = read_in_segments(engine, path, 1, 4)
    spans, stats = read_in_segments(engine, path, 2, 4)  # 14 frames: seams at 3, 6, 9, 12
    for line in CREDITS:
        [found] = spans_of(spans, line)
        [alone] = spans_of(one, line)
        assert abs(found.start_s - alone.start_s) <= 1.0 and abs(found.end_s - alone.end_s) <= 1.0, (found, alone)
    assert not fragments(spans), fragments(spans)
    assert {normalise_text(s.text) for s in spans} == {normalise_text(s.text) for s in one}
    assert stats.lines_followed >= len(CREDITS), stats  # still followed inside each segment
    assert not seg_threads()


def test_a_caption_moving_over_moving_footage_stays_one_span_across_seams(engine: OcrEngine, tmp_path: Path) -> None:
    spans, _ = read_in_segments(engine, sliding_caption(tmp_path / "caption.mp4"), 3, 3)
    [caption] = spans_of(spans, "Harbor lights at midnight")
    assert caption.start_s <= 2.0 and caption.end_s >= 8.0, caption


class FailingEngine:
    """The real engine, except that detection fails from the ``after``-th call on (a model that broke)."""

    def __init__(self, engine: OcrEngine, after: int) -> None:
        self.engine, self.after, self.calls = engine, after, 0
        self._lock = threading.Lock()

    def detect(self, frame: np.ndarray, width_px: int = 640) -> list:
        with self._lock:
            self.calls += 1
            if self.calls > self.after:
                raise OcrError("credits.mp4", "the detector failed")
        return self.engine.detect(frame, width_px)

    def recognise_boxes(self, frame: np.ndarray, boxes: list) -> list:
        return self.engine.recognise_boxes(frame, boxes)


def test_a_segment_readers_error_reaches_the_caller_and_leaves_no_thread(engine: OcrEngine, tmp_path: Path) -> None:
    path = scrolling_credits(tmp_path / "credits.mp4")
    with pytest.raises(OcrError, match="the detector failed"):
        read_in_segments(FailingEngine(engine, after=3), path, 2, 2)  # type: ignore[arg-type]
    assert not seg_threads()


def test_closing_early_stops_the_segment_readers(engine: OcrEngine, tmp_path: Path) -> None:
    frames = np.zeros((6, 270, 480, 3), np.uint8)
    reader = SegmentedScreenText(engine, 2, 2)
    reader.feed(frames, np.arange(6, dtype=float), np.zeros(6, np.int64))  # three segments, the last still open
    reader.close()
    assert not seg_threads()


def test_readers_sharing_the_engine_each_bring_a_thread_to_recognition(engine: OcrEngine) -> None:
    """A caller runs recognitions itself beside the engine's helper, so one reader has rec_workers at once
    and two readers one more each; a helper queued behind the other reader's work is not waited for."""
    active, peak, lock = [0], [0], threading.Lock()

    def run(idx: list[int]) -> list[tuple[str, float]]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return [(str(i), 1.0) for i in idx]

    groups = [[i] for i in range(8)]
    assert engine._run_groups(run, groups) == [[(str(i), 1.0)] for i in range(8)]
    assert peak[0] == engine.rec_workers == 2
    peak[0] = 0
    callers = [threading.Thread(target=engine._run_groups, args=(run, groups)) for _ in range(2)]
    t0 = time.perf_counter()
    for c in callers:
        c.start()
    for c in callers:
        c.join()
    assert peak[0] == 3, peak  # two callers and the one helper
    assert time.perf_counter() - t0 < 16 * 0.05 * 0.8  # well under one at a time


def test_a_segment_ends_at_a_cut_once_half_full_and_starts_there_without_a_shared_frame(engine: OcrEngine) -> None:
    frames = np.zeros((14, 270, 480, 3), np.uint8)
    shots = np.asarray([0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2], np.int64)
    reader = SegmentedScreenText(engine, 2, segment_frames=6)
    reader.feed(frames[:8], np.arange(8, dtype=float), shots[:8])  # fed in two batches: seams inside batches
    reader.feed(frames[8:], np.arange(8, 14, dtype=float), shots[8:])
    reader.finish(1.0, 14.0)
    # the cut at 2 comes before the first segment is half full (3), which then fills up (0..5); the next starts
    # at its last frame (no cut there) and ends at the cut at 9 (half full); the last starts at the cut
    assert [s.first for s in reader._segments] == [0, 5, 9]
    assert [s.frames for s in reader._segments] == [6, 4, 5]
    assert reader.stats.frames_given == 14


def test_a_segment_that_starts_at_a_cut_shares_no_frame_and_joins_no_track() -> None:
    before = FakeReader([0.0, 1.0], {0: [TextBox("Chapter one", 0.9, rect(100, 300), 0)], 1: []})
    after = FakeReader([2.0, 3.0], {0: [TextBox("Chapter one", 0.9, rect(100, 300), 0)], 1: []})
    t_s, _, read = join_segments([(0, before), (2, after)])  # type: ignore[list-item]
    assert t_s == [0.0, 1.0, 2.0, 3.0]
    assert read[2][0].text == "Chapter one" and read[2][0].track != read[0][0].track


@pytest.mark.parametrize("workers", [1, 2])
def test_the_frames_fed_are_counted_before_the_finish(engine: OcrEngine, workers: int) -> None:
    """The shared pass compares this count with the final shots' length before ``finish`` to hand them over."""
    reader = SegmentedScreenText(engine, workers, segment_frames=4)
    reader.feed(np.zeros((6, 270, 480, 3), np.uint8), np.arange(6, dtype=float), np.zeros(6, np.int64))
    assert reader.stats.frames_given == 6
    reader.finish(1.0, 6.0, frame_shot=np.zeros(6, np.int64))
    assert reader.stats.frames_given == 6
