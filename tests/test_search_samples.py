"""The search-quality library generator: a 2-reel library built twice (same seed, same queries, spans inside
their reel and scene, reels reused on a second build), and the full 20-reel plan checked without building it
(needles unique in the library, paraphrases sharing no word with the library, enough of each kind)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from indexer.probe import probe
from scenedex.search_plan import (
    ACTIONS,
    MAX_LINE_WORDS,
    OPENERS,
    PLACES,
    SUBJECTS,
    Fact,
    QualityQuery,
    captions_alike,
    content_words,
    plan_library,
)
from scenedex.search_samples import QUERIES, VideoRecord, build_search_library, read_library, read_queries

needs_tools = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("ffmpeg")),
                                 reason="needs espeak-ng and ffmpeg (`make setup`)")


@dataclass(frozen=True)
class Built:
    folder: Path
    queries: list[QualityQuery]
    again: list[QualityQuery]  # a second build into another folder, same seed
    records: list[VideoRecord]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    first, second = tmp_path_factory.mktemp("quality_a"), tmp_path_factory.mktemp("quality_b")
    queries = build_search_library(first, n_videos=2, seed=11)
    again = build_search_library(second, n_videos=2, seed=11)
    return Built(first, queries, again, read_library(first))


def library_texts(records: list[VideoRecord]) -> list[tuple[str, str]]:
    """(where, text) of every caption and narrated line."""
    return ([(f"{r.media} scene {i}", s.caption) for r in records for i, s in enumerate(r.scenes)]
            + [(f"{r.media} {line.start_s}", line.text) for r in records for line in r.lines])


def needle_texts(record: VideoRecord) -> list[tuple[str, str, tuple[int, int, int]]]:
    """(channel, text, fact) of the reel's needles."""
    return ([("ocr", s.caption, s.fact) for s in record.scenes if s.needle]
            + [("speech", line.text, line.fact) for line in record.lines if line.needle])


def assert_needles_unique(records: list[VideoRecord]) -> None:
    texts = library_texts(records)
    for record in records:
        for channel, text, fact in needle_texts(record):
            key = content_words(Fact(*fact).exact_query(channel))
            holders = [where for where, other in texts if key <= content_words(other)]
            assert len(holders) == 1, f"{text!r}: its words {sorted(key)} are also in {holders}"


# --- a built library ----------------------------------------------------------------------------------------

@needs_tools
def test_the_same_seed_gives_the_same_queries(built: Built) -> None:
    assert built.queries == built.again
    assert read_queries(built.folder / QUERIES) == built.queries
    assert {q.channel for q in built.queries} == {"speech", "ocr"}


@needs_tools
def test_the_queries_file_has_one_object_a_line_with_the_eval_keys(built: Built) -> None:
    lines = (built.folder / QUERIES).read_text().splitlines()
    assert len(lines) == len(built.queries) == 8  # 2 reels x 2 channels x 2 needles
    for line in lines:
        raw = json.loads(line)
        assert list(raw) == ["query", "media", "start_s", "end_s", "channel", "kind"]
        assert raw["start_s"] == round(raw["start_s"], 3) and raw["end_s"] == round(raw["end_s"], 3)


@needs_tools
def test_reels_have_video_and_aac_audio_and_every_span_lies_inside_its_reel(built: Built) -> None:
    for record in built.records:
        info = probe(built.folder / record.media)
        assert sorted(s.kind for s in info.streams) == ["audio", "video"]
        assert next(s for s in info.streams if s.kind == "audio").codec == "aac"
        assert info.duration_s == pytest.approx(record.duration_s, abs=0.05)
        assert 120 <= record.duration_s <= 150
    durations = {r.media: r.duration_s for r in built.records}
    for q in built.queries:
        assert 0 <= q.start_s < q.end_s <= durations[q.media], q


@needs_tools
def test_speech_spans_stay_inside_one_scene_with_silence_around_them(built: Built) -> None:
    for record in built.records:
        cuts = [s.start_s for s in record.scenes[1:]]
        for line in record.lines:
            scene = record.scenes[line.scene]
            assert scene.start_s < line.start_s < line.end_s < scene.end_s
            assert not any(line.start_s < cut < line.end_s for cut in cuts)
            assert 5 <= len(line.text.split()) <= MAX_LINE_WORDS
        for a, b in zip(record.lines, record.lines[1:]):
            assert b.start_s - a.end_s >= 1.0, (a.text, b.text)
    for q in built.queries:
        record = next(r for r in built.records if r.media == q.media)
        inside = [s for s in record.scenes if s.start_s <= q.start_s and q.end_s <= s.end_s]
        assert len(inside) == 1, q
        if q.channel == "ocr":
            assert (q.start_s, q.end_s) == (inside[0].start_s, inside[0].end_s)


@needs_tools
def test_built_needles_are_unique_and_half_the_queries_are_paraphrases(built: Built) -> None:
    assert_needles_unique(built.records)
    assert sum(q.kind == "paraphrase" for q in built.queries) >= 0.4 * len(built.queries)


@needs_tools
def test_a_second_build_reuses_the_reels(built: Built) -> None:
    stamps = {r.media: (built.folder / r.media).stat().st_mtime_ns for r in built.records}
    assert build_search_library(built.folder, n_videos=2, seed=11) == built.queries
    assert {m: (built.folder / m).stat().st_mtime_ns for m in stamps} == stamps


# --- the full plan, without building it ---------------------------------------------------------------------

def test_the_full_plan_has_forty_needles_a_channel_unique_in_the_library() -> None:
    videos = plan_library(20, seed=7)
    assert plan_library(20, seed=7) == videos and plan_library(20, seed=8) != videos
    facts = [s.caption for v in videos for s in v.scenes] + [line.fact for v in videos for s in v.scenes
                                                             for line in s.lines]
    assert len(set(facts)) == len(facts), "a fact is used twice"
    needles = ([("ocr", s.caption, s.caption_needle) for v in videos for s in v.scenes if s.caption_needle]
               + [("speech", line.fact, line.needle) for v in videos for s in v.scenes for line in s.lines
                  if line.needle])
    assert sum(channel == "speech" for channel, _, _ in needles) == 40
    assert sum(channel == "ocr" for channel, _, _ in needles) == 40
    assert sum(kind == "paraphrase" for _, _, kind in needles) >= 0.4 * len(needles)
    for channel, fact, _ in needles:
        hard = [f for f in facts if fact.shared_parts(f) == 2]
        assert len(hard) >= 2, f"{fact.caption()!r} has {len(hard)} distractors sharing two of its parts"
    for v in videos:
        assert 120 <= sum(s.duration_s for s in v.scenes) <= 150
        assert all(8 <= s.duration_s <= 15 and 3 <= len(s.caption.caption().split()) <= 7 for s in v.scenes)
        assert all(a.source != b.source for a, b in zip(v.scenes, v.scenes[1:]))
        assert not any(captions_alike(a.caption, b.caption) for a, b in zip(v.scenes, v.scenes[1:]))


def same_word(a: str, b: str) -> bool:
    return a[:5] == b[:5]  # "rescue" and "rescued", "plant" and "planted" count as one word


def test_paraphrases_share_no_content_word_with_their_needle() -> None:
    videos = plan_library(20, seed=7)
    for fact in {line.fact for v in videos for s in v.scenes for line in s.lines} | {s.caption for v in videos
                                                                                      for s in v.scenes}:
        own = content_words(fact.spoken()) | content_words(fact.caption())
        shared = {p for p in content_words(fact.paraphrase()) for w in own if same_word(p, w)}
        assert not shared, f"{fact.paraphrase()!r} reuses {sorted(shared)} of {fact.spoken()!r}"


def test_no_paraphrase_word_is_said_or_shown_anywhere_in_the_library() -> None:
    """So a paraphrase query can only be matched by meaning, never by a shared word."""
    library = set().union(*(content_words(p.spoken) | content_words(p.caption)
                            for bank in (SUBJECTS, ACTIONS, PLACES) for p in bank),
                          *(content_words(o) for o in OPENERS))
    for bank in (SUBJECTS, ACTIONS, PLACES):
        for phrase in bank:
            shared = {p for p in content_words(phrase.paraphrase) for w in library if same_word(p, w)}
            assert not shared, f"{phrase.paraphrase!r} uses {sorted(shared)}, which the library says or shows"


def test_read_queries_ignores_keys_it_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "q", "media": "a.mp4", "start_s": 1.5, "end_s": 2, "channel": "ocr", '
                    '"kind": "exact", "note": "x"}\n\n')
    assert read_queries(path) == [QualityQuery("q", "a.mp4", 1.5, 2.0, "ocr", "exact")]
