"""A generated library for measuring search quality, with exact ground truth and a file of queries.

By default twenty "archive reels" of 2 to 2.5 minutes (640x360, 25 fps), each a run of scenes of 8 to 15 s
joined by hard cuts. A scene is one STILL background (a flat colour or still SMPTE bars) with one caption
burnt in for the whole scene, and one or two narrated lines (espeak-ng) placed inside it, never across a cut.
Still pictures, and no clock or frame code, keep indexing cheap: the OCR channel's change detection reads
about one frame per scene, and every caption is on screen from its scene's first frame to its last, so its
true span is the scene.

Content is a newsroom archive built from four banks: subjects ("the pilot"), actions ("caught a big fish"),
places ("near the lighthouse") and spoken openers ("During the storm"). Every caption and every narrated line
states one *fact*, a (subject, action, place) triple, and no triple is used twice in the library. A few facts
per reel are *needles*, the targets of the queries: two spoken and two captioned per reel, in four different
scenes, so a query's channel is never ambiguous; needles share at most one part with each other. Each needle
gets at least two *hard distractors*, facts that share two of its three parts ("the pilot caught a big fish at
the airport"), and the other facts are drawn at random from the same banks, so every word and most pairs of
words of a needle appear many times in the library, but never its whole combination. Neighbouring scenes never
get captions that read alike, or OCR would join them into one caption spanning the cut.

Queries come in two kinds, half of each per channel and reel: *exact* (the needle's own words without
articles, "pilot caught big fish near lighthouse") and *paraphrase* (the same fact in other words, from a
synonym kept with each bank entry: "the aircraft flyer hooked a large trout near the seaside beacon tower");
no word of a paraphrase is said or shown anywhere in the library, so only meaning can match it. Bank entries
were kept only if tiny.en transcribes them from espeak-ng's voice in several contexts, PP-OCRv4 reads them in
DejaVu Sans, and all-MiniLM-L6-v2 puts each paraphrase nearest its own entry: common English, no names, no
numbers.

Ground truth: a caption's span is its scene, [cut before, cut after] (exact: scene lengths are whole frames);
a line's span runs from its first to just past its last sample louder than 500/32767 in the synthesised audio
(``scenedex.speech_samples.speech_bounds_s``), so espeak's ~0.3 s of trailing silence is not counted.

Everything follows from the seed: the same seed gives the same files, texts and times (on one espeak-ng
version). ``library.json`` records what each reel holds (texts, facts, spans) with a digest of its plan, so a
second build reuses the reels that are already there.

The plan (banks, facts, which scene says what) lives in ``scenedex.search_plan``; this module builds it.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scenedex.samples import Segment, make_clip
from scenedex.search_plan import (
    FORMAT_VERSION,
    FPS,
    SIZE,
    Fact,
    PlannedLine,
    PlannedScene,
    PlannedVideo,
    QualityQuery,
    plan_library,
)
from scenedex.speech_samples import mux, synthesize, write_placed_speech

MANIFEST = "library.json"
QUERIES = "queries.jsonl"
LEAD_S = 1.0  # silence from a cut to the first line of a scene, at least
TAIL_S = 1.0  # silence from the end of a line's samples to the next cut, at least
GAP_S = 1.5  # silence between two lines' samples (espeak's own ~0.3 s trailing pad comes on top)
FFMPEG_JOBS = 2


# --- the record: what a built reel holds, with times --------------------------------------------------------

@dataclass(frozen=True)
class SceneRecord:
    start_s: float
    end_s: float
    source: str
    caption: str
    fact: tuple[int, int, int]
    needle: str | None


@dataclass(frozen=True)
class LineRecord:
    start_s: float  # speech onset (first loud sample)
    end_s: float  # speech end (just past the last loud sample)
    scene: int
    text: str
    fact: tuple[int, int, int]
    needle: str | None


@dataclass(frozen=True)
class VideoRecord:
    media: str
    digest: str
    duration_s: float
    scenes: tuple[SceneRecord, ...]
    lines: tuple[LineRecord, ...]

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> VideoRecord:
        scenes = tuple(SceneRecord(**{**s, "fact": tuple(s["fact"])}) for s in raw["scenes"])
        lines = tuple(LineRecord(**{**line, "fact": tuple(line["fact"])}) for line in raw["lines"])
        return VideoRecord(raw["media"], raw["digest"], raw["duration_s"], scenes, lines)

    def queries(self) -> Iterator[QualityQuery]:
        for scene in self.scenes:
            if scene.needle:
                yield _query(Fact(*scene.fact), "ocr", scene.needle, self.media, scene.start_s, scene.end_s)
        for line in self.lines:
            if line.needle:
                yield _query(Fact(*line.fact), "speech", line.needle, self.media, line.start_s, line.end_s)


def _query(fact: Fact, channel: str, kind: str, media: str, start_s: float, end_s: float) -> QualityQuery:
    text = fact.exact_query(channel) if kind == "exact" else fact.paraphrase()
    return QualityQuery(text, media, round(start_s, 3), round(end_s, 3), channel, kind)


def read_library(folder: Path) -> list[VideoRecord]:
    """The records of ``folder/library.json``: every reel's scenes and lines with their spans."""
    raw = json.loads((folder / MANIFEST).read_text())
    return [VideoRecord.from_dict(v) for v in raw["videos"]]


# --- building -----------------------------------------------------------------------------------------------

Synthesised = tuple[np.ndarray, int]  # ((n,) int16 mono, sample rate)


def _synthesise_all(texts: Sequence[str], workdir: Path) -> dict[str, Synthesised]:
    """espeak-ng on every text, a process per core at a time."""
    def one(indexed: tuple[int, str]) -> tuple[str, Synthesised]:
        i, text = indexed
        return text, synthesize(text, workdir / f"line_{i:04d}.wav")

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(one, enumerate(texts)))


def _place_lines(scene: PlannedScene, start_s: float, speech: dict[str, Synthesised],
                 rng: random.Random) -> list[tuple[PlannedLine, float]]:
    """(line, where its samples start) for the lines that fit in the scene, silence spread at random."""
    lines = list(scene.lines)
    lengths_s = {line.text: len(speech[line.text][0]) / speech[line.text][1] for line in lines}

    def needed_s(chosen: list[PlannedLine]) -> float:
        return LEAD_S + TAIL_S + GAP_S * (len(chosen) - 1) + sum(lengths_s[line.text] for line in chosen)

    while len(lines) > 1 and needed_s(lines) > scene.duration_s:
        lines.remove(next(line for line in reversed(lines) if line.needle is None))
    slack_s = scene.duration_s - needed_s(lines)
    assert slack_s >= 0, f"line {lines[0].text!r} does not fit in a {scene.duration_s} s scene"
    weights = [rng.random() for _ in range(len(lines) + 1)]
    shares = [slack_s * w / sum(weights) for w in weights]
    placed, t = [], start_s + LEAD_S
    for line, share in zip(lines, shares):
        t = round(t + share, 2)
        placed.append((line, t))
        t += lengths_s[line.text] + GAP_S
    return placed


def _record(video: PlannedVideo, speech: dict[str, Synthesised], track: Path) -> VideoRecord:
    """Write the reel's speech track and return its record (scene and line spans)."""
    rng = random.Random(video.placement_seed)
    scenes, placed, t = [], [], 0.0
    for i, scene in enumerate(video.scenes):
        end_s = t + round(scene.duration_s * FPS) / FPS
        scenes.append(SceneRecord(t, end_s, scene.source, scene.caption.caption(), scene.caption.as_tuple(),
                                  scene.caption_needle))
        placed += [(i, line, at_s) for line, at_s in _place_lines(scene, t, speech, rng)]
        t = end_s
    rate = speech[placed[0][1].text][1]
    spans = write_placed_speech(track, [(at_s, speech[line.text][0]) for _, line, at_s in placed], rate, t)
    lines = tuple(LineRecord(round(start_s, 3), round(end_s, 3), i, line.text, line.fact.as_tuple(),
                             line.needle) for (i, line, _), (start_s, end_s) in zip(placed, spans))
    return VideoRecord(video.media, video.digest(), t, tuple(scenes), lines)


def _make_video(folder: Path, video: PlannedVideo, speech: dict[str, Synthesised]) -> VideoRecord:
    target = folder / video.media
    target.parent.mkdir(parents=True, exist_ok=True)
    hidden = target.with_name(f".{target.stem}")
    track, silent, muxed = (Path(f"{hidden}.speech.wav"), Path(f"{hidden}.video.mp4"),
                            Path(f"{hidden}.muxed.mp4"))
    try:
        record = _record(video, speech, track)
        segments = [Segment(s.source, s.duration_s, s.caption.caption()) for s in video.scenes]
        cuts = make_clip(silent, segments, size=SIZE, fps=FPS, frame_code=False, clock=False)
        assert cuts == [s.start_s for s in record.scenes[1:]], "cut times differ from the planned scenes"
        mux(silent, track, muxed, "aac")
        os.replace(muxed, target)  # the reel appears only when complete
    finally:
        for leftover in (track, silent, muxed):
            leftover.unlink(missing_ok=True)
    return record


def _reusable(folder: Path, videos: Sequence[PlannedVideo]) -> dict[str, VideoRecord]:
    """Records of reels already built from the same plan and still on disk."""
    try:
        known = {r.media: r for r in read_library(folder)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {v.media: known[v.media] for v in videos
            if v.media in known and known[v.media].digest == v.digest() and (folder / v.media).is_file()}


def build_search_library(folder: Path, n_videos: int = 20, seed: int = 7,
                         progress: Callable[[str], None] = lambda _: None) -> list[QualityQuery]:
    """Create (once: reuse existing complete files) the library under folder and write folder/queries.jsonl;
    return the queries."""
    folder.mkdir(parents=True, exist_ok=True)
    videos = plan_library(n_videos, seed)
    records = _reusable(folder, videos)
    todo = [v for v in videos if v.media not in records]
    if todo:
        with tempfile.TemporaryDirectory(prefix="scenedex-speech-") as workdir:
            texts = [line.text for v in todo for s in v.scenes for line in s.lines]
            progress(f"synthesising {len(texts)} narrated lines for {len(todo)} reels …")
            speech = _synthesise_all(texts, Path(workdir))

            def build(video: PlannedVideo) -> VideoRecord:
                progress(f"generating {folder / video.media} …")
                return _make_video(folder, video, speech)

            with ThreadPoolExecutor(max_workers=FFMPEG_JOBS) as pool:  # an ffmpeg process per job at a time
                records.update((r.media, r) for r in pool.map(build, todo))
    ordered = [records[v.media] for v in videos]
    manifest = {"format": FORMAT_VERSION, "seed": seed, "n_videos": n_videos,
                "videos": [asdict(r) for r in ordered]}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    queries = [q for r in ordered for q in r.queries()]
    (folder / QUERIES).write_text("".join(q.to_json() + "\n" for q in queries))
    return queries


def read_queries(path: Path) -> list[QualityQuery]:
    """Queries of a JSONL file (one object a line; keys other than QualityQuery's are ignored)."""
    queries = []
    for line in path.read_text().splitlines():
        if line.strip():
            raw = json.loads(line)
            queries.append(QualityQuery(str(raw["query"]), str(raw["media"]), float(raw["start_s"]),
                                        float(raw["end_s"]), str(raw["channel"]), str(raw["kind"])))
    return queries
