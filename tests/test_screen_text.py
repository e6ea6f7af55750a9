"""On-screen text of real and moving footage: readings that are not text are dropped, text that scrolls or
slides stays one span per line and is recognised once, and the real Big Buck Bunny and Chaplin excerpts give
the title card, the credit lines and nothing else."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from indexer.ocr import OcrEngine, load_ocr_engine
from indexer.ocr_filters import HAN, LATIN, keep_reading
from indexer.ocr_scroll import FULL_EVERY, scroll_strip
from indexer.ocr_tracking import MAX_GLYPH_CHANGE, Line, glyph_change
from indexer.probe import choose_video_stream, probe
from indexer.sampling import FrameSampler, SamplingPolicy
from indexer.screen_text import ScreenTextReader, ScreenTextStats
from indexer.text_spans import TextSpan, normalise_text, text_similarity
from scenedex.samples import FONT

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


# --- the noise rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, confidence", [
    ("福", 0.98), ("正童布", 0.9), ("BKY福", 0.95),  # another script than the library's
    ("M", 0.99), ("?", 0.99), ("6", 0.97), ("Y.", 0.99),  # too short
    ("BKY", 0.95), ("Oxq", 0.92),  # three letters, and not words
    ("SALE", 0.7),  # short words need more confidence
    ("Quarterly revenue", 0.4),  # under the engine's minimum
])
def test_readings_that_are_not_text_are_dropped(text: str, confidence: float) -> None:
    assert not keep_reading(text, confidence, 0.5, [LATIN])


@pytest.mark.parametrize("text, confidence", [
    ("THE PEACH OPEN MOVIE PROJECT", 0.95), ("PRESENTS", 0.98), ("Sacha Goedegebure", 0.93),
    ("THE END", 0.9), ("2024", 0.9), ("Brecht van Lommel", 0.6), ("Gimp", 0.99), ("Arne", 0.99), ("SUN", 0.9),
])
def test_real_text_is_kept(text: str, confidence: float) -> None:
    assert keep_reading(text, confidence, 0.5, [LATIN])


def test_cjk_text_is_kept_when_the_library_is_configured_for_it() -> None:
    assert keep_reading("会议室", 0.9, 0.5, [LATIN, HAN]) and not keep_reading("会议室", 0.9, 0.5, [LATIN])


def test_an_unknown_script_is_refused_when_the_engine_is_built() -> None:
    with pytest.raises(ValueError, match="unknown OCR scripts"):
        load_ocr_engine(scripts=("klingon",))


# --- generated moving text, with the real engine -------------------------------------------------------------

CREDITS = ["DIRECTED BY", "Harriet Quimby", "MUSIC", "Oskar Fischinger", "SOUND DESIGN", "Delia Derbyshire",
           "EDITING", "Walter Murch"]
LINE_GAP_PX, SCROLL_PX_S = 60, 55


def render(path: Path, duration_s: float, source: str, drawtexts: list[str]) -> Path:
    sep = ":" if "=" in source else "="
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}{sep}size=960x540:rate=10",
                    "-t", str(duration_s), "-vf", ",".join(drawtexts + ["format=yuv420p"]), "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "20", str(path)], check=True)
    return path


def scrolling_credits(path: Path) -> Path:
    """Credit lines scrolling up from below the frame at SCROLL_PX_S, one every LINE_GAP_PX."""
    lines = [f"drawtext=fontfile={FONT}:text='{text}':fontsize=26:fontcolor=white:x=(w-text_w)/2:"
             f"y=h+{20 + k * LINE_GAP_PX}-t*{SCROLL_PX_S}" for k, text in enumerate(CREDITS)]
    return render(path, 14.0, "color=c=#204060", lines)


def sliding_caption(path: Path) -> Path:
    """A caption sliding right and down over a moving picture (a fractal zoom), on screen from 1 s to 9 s."""
    caption = (f"drawtext=fontfile={FONT}:text='Harbor lights at midnight':fontsize=34:fontcolor=white:box=1:"
               f"boxcolor=black@0.7:boxborderw=8:x=60+t*30:y=120+t*20:enable='between(t,1,9)'")
    return render(path, 10.0, "mandelbrot", [caption])


def read_file(engine: OcrEngine, path: Path) -> tuple[list[TextSpan], ScreenTextStats]:
    info = probe(path)
    reader = ScreenTextReader(engine)
    for batch in FrameSampler(info, choose_video_stream(info),
                              SamplingPolicy(size_px=960, resize_mode="fit_width")).batches():
        reader.feed(batch.frames, batch.t_s, np.zeros(len(batch.t_s), np.int64))
    return reader.finish(1.0, info.duration_s), reader.stats


def spans_of(spans: list[TextSpan], text: str) -> list[TextSpan]:
    return [s for s in spans if text_similarity(s.text, text) >= 0.8]


def fragments(spans: list[TextSpan]) -> list[tuple[TextSpan, TextSpan]]:
    """Pairs where a span starts where one with the same text ended: one line read as two spans."""
    return [(a, b) for a in spans for b in spans
            if a is not b and abs(b.start_s - a.end_s) <= 0.5 and text_similarity(a.text, b.text) >= 0.8]


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return load_ocr_engine()


def test_each_scrolling_credit_line_is_one_span_recognised_about_once(engine: OcrEngine, tmp_path: Path) -> None:
    spans, stats = read_file(engine, scrolling_credits(tmp_path / "credits.mp4"))
    for k, line in enumerate(CREDITS):
        found = spans_of(spans, line)
        assert len(found) == 1, (line, spans)
        # whole on screen from when its bottom clears the frame's edge to when its top reaches the top
        enters_s = (20 + k * LINE_GAP_PX + 30) / SCROLL_PX_S
        assert enters_s - 1.0 <= found[0].start_s <= enters_s + 2.0, (line, found[0], enters_s)
        assert found[0].frame_count >= 3, found[0]  # followed over several frames as it moved
    assert not fragments(spans), fragments(spans)
    assert stats.lines_recognised <= 2 * len(CREDITS), stats  # followed, not re-read every second
    assert stats.lines_followed >= 2 * len(CREDITS), stats
    assert stats.frames_by_strip >= 3, stats  # the scroll's new strip detected, not the whole frame


def test_text_that_appears_among_scrolling_lines_is_found_within_a_full_detection(engine: OcrEngine,
                                                                                  tmp_path: Path) -> None:
    lines = [f"drawtext=fontfile={FONT}:text='{text}':fontsize=26:fontcolor=white:x=(w-text_w)/2:"
             f"y=h+{20 + k * LINE_GAP_PX}-t*{SCROLL_PX_S}" for k, text in enumerate(CREDITS)]
    badge = (f"drawtext=fontfile={FONT}:text='Archive copy':fontsize=30:fontcolor=yellow:x=40:y=60:"
             f"enable='gte(t,8)'")  # a corner caption appearing while the credits roll
    spans, stats = read_file(engine, render(tmp_path / "badge.mp4", 14.0, "color=c=#204060", [*lines, badge]))
    [span] = spans_of(spans, "Archive copy")
    assert 8.0 <= span.start_s <= 8.0 + FULL_EVERY - 1, span  # found by the next whole-frame detection
    assert stats.frames_by_strip >= 1, stats


def line_at(y: float) -> Line:
    return Line(0, ((300, y), (600, y), (600, y + 20), (300, y + 20)), np.zeros((20, 300), np.uint8),
                np.zeros((10, 150), np.uint8), (300, int(y)), None)


@pytest.mark.parametrize("scores, motion, strip", [
    ([0.95] * 4, (0.0, -60.0), True),  # every line where the scroll puts it: the strip
    ([0.95, 0.95, 0.4, 0.95], (0.0, -60.0), False),  # one hidden or changed: the whole frame
    ([0.95] * 4, (12.0, -60.0), False),  # sideways too: not a credits roll
    ([0.95] * 4, (0.0, 0.0), False),  # standing still: nothing uncovered, the whole frame (new text anywhere)
    ([0.95] * 2, (0.0, -60.0), False),  # too few lines to trust the motion
])
def test_only_a_clean_scroll_is_detected_by_strip(scores: list[float], motion: tuple[float, float],
                                                  strip: bool) -> None:
    lines = [line_at(100 + 80 * k) for k in range(len(scores))]
    found = [(motion[0], motion[1], s, s < 0.6) for s in scores]
    rows = scroll_strip(lines, found, motion, 960, 540)
    assert (rows is not None) == strip, rows
    if rows is not None:
        assert rows[1] == 540 and 540 - rows[0] >= 60 + 2 * 20, rows  # the new 60 rows and two lines more


def test_a_caption_sliding_over_moving_video_is_one_span(engine: OcrEngine, tmp_path: Path) -> None:
    spans, stats = read_file(engine, sliding_caption(tmp_path / "slide.mp4"))
    [span] = spans_of(spans, "Harbor lights at midnight")
    assert span.start_s == pytest.approx(1.0, abs=1.0) and span.end_s == pytest.approx(9.0, abs=1.0), span
    assert span.frame_count >= 7 and stats.lines_recognised <= 3, (span, stats)  # followed, read once


# --- the real excerpts --------------------------------------------------------------------------------------

def cut(tmp_path: Path, name: str, start_s: float, duration_s: float) -> Path:
    out = tmp_path / f"{Path(name).stem}_{start_s:g}.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(start_s), "-i", str(MEDIA / name), "-t",
                    str(duration_s), "-c", "copy", str(out)], check=True)
    return out


@pytest.mark.parametrize("background", ["mandelbrot", "color=c=#506070"])  # moving, and a still picture
def test_a_running_clock_is_read_again_each_second_and_a_still_score_once(engine: OcrEngine, tmp_path: Path,
                                                                         background: str) -> None:
    """Figures that change in place (a burnt-in clock) match their old picture almost everywhere, so they
    would be followed with their first reading for as long as they show; a short line with a digit is read
    again when a glyph of it changed, and readings with other digits are other spans; on a still picture a
    clock changes too few pixels for the frame to count as changed, so a frame is read when a glyph of the
    figures showing changed. A score that stays put is one span."""
    clock = (f"drawtext=fontfile={FONT}:text='%{{pts\\:hms}}':fontsize=30:fontcolor=yellow:box=1:"
             "boxcolor=black@0.7:x=40:y=40")
    score = (f"drawtext=fontfile={FONT}:text='HOME 2 - 1 AWAY':fontsize=30:fontcolor=white:box=1:"
             "boxcolor=black@0.6:x=300:y=440")
    spans, stats = read_file(engine, render(tmp_path / "clock.mp4", 12.0, background, [clock, score]))
    seconds = {}  # second shown on the clock -> (start_s, end_s) of the span that read it
    for s in spans:
        if (hms := re.search(r"00:?00:?(\d\d)", normalise_text(s.text))) is not None:
            seconds[int(hms.group(1))] = (s.start_s, s.end_s)
    right = [sec for sec, (start_s, end_s) in seconds.items() if start_s <= sec + 0.5 < end_s + 1.0]
    assert len(right) >= 9, seconds  # of the 12 seconds shown, each at its time (within a sampled frame)
    assert len(seconds) == len(right), seconds  # and none read at a time it does not show
    [home] = spans_of(spans, "HOME 2 - 1 AWAY")
    assert home.start_s <= 1.0 and home.end_s >= 11.0


@pytest.mark.parametrize("background", ["mandelbrot", "color=c=#506070"])
def test_a_clock_inside_a_long_scoreboard_line_is_read_where_it_changes(engine: OcrEngine, tmp_path: Path,
                                                                        background: str) -> None:
    """A line of any length with figures in it is read again where a glyph changed: a 45-character scoreboard
    line with a match clock kept its first reading for the whole clip over a still picture while only lines of
    at most 24 characters were checked (the detector may box the clock apart over moving footage). The
    team names stay read."""
    board = (f"drawtext=fontfile={FONT}:text='HARBOR ROVERS 2 - 1 ELM CITY UNITED   %{{pts\\:hms}}':fontsize=30:"
             "fontcolor=yellow:box=1:boxcolor=black@0.7:x=40:y=40")
    spans, _ = read_file(engine, render(tmp_path / "board.mp4", 12.0, background, [board]))
    seconds = {}  # second shown on the clock -> (start_s, end_s) of the span that read it
    for s in spans:
        if (hms := re.search(r"00:?00:?(\d\d)", normalise_text(s.text))) is not None:
            seconds[int(hms.group(1))] = (s.start_s, s.end_s)
    right = [sec for sec, (start_s, end_s) in seconds.items() if start_s <= sec + 0.5 < end_s + 1.0]
    assert len(right) >= 11, seconds  # 12 of 12 over either picture (session 24)
    assert len(seconds) == len(right), seconds
    clocks = [s.text for s in spans if re.search(r"00:?00:?\d\d", normalise_text(s.text))]
    assert all(re.search(r"(?<!\S)0+:00:\d\d\.\d+", t) for t in clocks), clocks  # digits, a word of their own
    names = [s for s in spans if "HARBOR ROVERS" in s.text.upper()]
    assert min(s.start_s for s in names) <= 1.0 and max(s.end_s for s in names) >= 11.0, names


def test_a_glyph_that_changed_is_seen_where_the_rest_of_the_line_matches() -> None:
    rng = np.random.default_rng(3)
    line = np.full((24, 120), 20, np.uint8)
    for x in range(6, 110, 14):  # glyph-like strokes
        line[5:19, x:x + 4] = 230
    frame = np.full((80, 200), 20, np.uint8)
    frame[30:54, 40:160] = line
    noisy = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)  # compression noise
    assert glyph_change(line, noisy, (40, 30)) < MAX_GLYPH_CHANGE
    changed = noisy.copy()
    changed[35:49, 40 + 90:40 + 102] = 230  # one digit became another: a wider glyph in its place
    assert glyph_change(line, changed, (40, 30)) > MAX_GLYPH_CHANGE
    assert glyph_change(line, noisy, (150, 30)) == float("inf")  # reaching out of the frame


def test_the_silent_film_has_no_text(engine: OcrEngine) -> None:
    spans, stats = read_file(engine, MEDIA / "chaplin_street.mp4")
    assert spans == [], spans
    assert stats.lines_recognised <= 2, stats  # probes, not reads


def test_the_opening_gives_the_title_card_and_the_logo_and_nothing_else(engine: OcrEngine,
                                                                         tmp_path: Path) -> None:
    spans, stats = read_file(engine, cut(tmp_path, "bbb_opening_720p.mp4", 16.0, 18.0))
    title = [s for s in spans if "peachopenmovieproject" in normalise_text(s.text)]
    assert len(title) == 1 and spans_of(spans, "PRESENTS"), spans
    t0 = title[0].start_s  # the cut starts at the keyframe before 16 s: compare durations, not times
    assert 3.0 <= title[0].end_s - t0 <= 5.5, title
    others = [s for s in spans if s is not title[0] and text_similarity(s.text, "PRESENTS") < 0.8
              and not s.start_s >= t0 + 4.0]  # the logo follows the title card
    assert others == [], spans
    assert stats.frames_probed >= 4, stats  # the animation before the title was probed, not read


def test_the_scrolling_credits_are_read_one_span_per_line(engine: OcrEngine, tmp_path: Path) -> None:
    spans, stats = read_file(engine, cut(tmp_path, "bbb_credits_720p.mp4", 28.0, 9.0))
    assert len(spans) >= 15, spans
    assert len(spans_of(spans, "Sun Microsystems")) == 1, spans
    assert len(spans_of(spans, "RENDERING PROVIDED BY")) == 1, spans
    assert len(fragments(spans)) <= len(spans) // 5, fragments(spans)  # a squirrel passes over some lines
    assert stats.lines_followed >= stats.lines_recognised, stats


class MissingDetector:
    """The real engine, except that its detector finds nothing on the frames listed (as PP-OCR's detector
    does now and then on a caption over a busy background)."""

    def __init__(self, engine: OcrEngine, blind: set[int]) -> None:
        self.engine, self.blind, self.calls = engine, blind, 0

    def detect(self, frame: np.ndarray, width_px: int = 640) -> list:
        self.calls += 1
        return [] if self.calls - 1 in self.blind else self.engine.detect(frame, width_px)

    def recognise_boxes(self, frame: np.ndarray, boxes: list) -> list:
        return self.engine.recognise_boxes(frame, boxes)


def test_a_caption_the_detector_misses_on_a_frame_stays_one_span_while_its_picture_is_there(
        engine: OcrEngine) -> None:
    import cv2

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, size=(8, 540, 960, 3)).astype(np.uint8)  # a busy picture, new every frame
    for f in frames[1:7]:
        cv2.rectangle(f, (180, 400), (780, 470), (0, 0, 0), -1)
        cv2.putText(f, "Museum reopens report 127", (200, 450), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3)
    reader = ScreenTextReader(MissingDetector(engine, blind={3, 5}), probe_every=1)  # type: ignore[arg-type]
    reader.feed(frames, np.arange(8.0), np.zeros(8, np.int64))
    spans = reader.finish(1.0, 8.0)
    [span] = spans_of(spans, "Museum reopens report 127")
    assert (span.start_s, span.end_s) == (1.0, 7.0), spans
    # and once the caption is gone, its picture no longer matches: it is not carried on
    assert all(s.end_s <= 7.0 for s in spans), spans


class PartDetector(MissingDetector):
    """The real engine, except that on the frames listed its detector boxes only the right part of each line
    (as PP-OCR's detector did on a caption over the game of life: "reopens.report" for a second)."""

    def detect(self, frame: np.ndarray, width_px: int = 640) -> list:
        self.calls += 1
        boxes = self.engine.detect(frame, width_px)
        if self.calls - 1 not in self.blind:
            return boxes
        parts = []
        for b in boxes:
            (x0, y0), (x1, _), (_, y1) = b[0], b[1], b[2]
            cut = x0 + 0.45 * (x1 - x0)
            parts.append(((cut, y0), (x1, y0), (x1, y1), (cut, y1)))
        return parts


def test_a_caption_the_detector_boxes_in_part_keeps_its_whole_reading_and_its_span(engine: OcrEngine) -> None:
    import cv2

    rng = np.random.default_rng(5)
    frames = rng.integers(0, 255, size=(8, 540, 960, 3)).astype(np.uint8)  # a busy picture, new every frame
    for f in frames[1:7]:
        cv2.rectangle(f, (180, 400), (780, 470), (0, 0, 0), -1)
        cv2.putText(f, "Museum reopens report 107", (200, 450), cv2.FONT_HERSHEY_SIMPLEX, 1.4,
                    (255, 255, 255), 3)
    detector = PartDetector(engine, blind={3, 4})
    reader = ScreenTextReader(detector, probe_every=1)  # type: ignore[arg-type]
    reader.feed(frames, np.arange(8.0), np.zeros(8, np.int64))
    spans = reader.finish(1.0, 8.0)
    [span] = spans_of(spans, "Museum reopens report 107")
    assert (span.start_s, span.end_s) == (1.0, 7.0), spans
    assert spans == [span], spans  # the part is not a line of its own ("report 107")
    assert reader.stats.lines_recognised == 1, reader.stats  # read once, followed through the partial boxes
