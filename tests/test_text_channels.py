"""Speech, subtitles and on-screen text through a whole index run on the real Postgres: exact times, one
channel failing without the others, full-text search, the text index, and frame alignment."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from db.models import Channel
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.sampling import SamplingPolicy
from indexer.text_embedding import TextEncoder
from scenedex.report import status_text
from scenedex.samples import Segment, make_clip
from scenedex.speech_samples import SpokenLine, mux, write_speech_track
from search.vector_index import load_index
from tests.conftest import create_database, drop_database
from tests.test_speech import damage_audio_packets
from workers.index_run import TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

SPOKEN = [SpokenLine(1.0, "Welcome to the quarterly briefing."),
          SpokenLine(6.5, "The rocket will launch from the northern pad."),
          SpokenLine(12.5, "Thank you and good night.")]
SUBTITLES = [(0.5, 2.5, "Welcome to the quarterly briefing"), (6.0, 9.5, "The rocket launches from the north pad"),
             (12.0, 14.5, "Good night")]
CAPTIONS = [Segment("blue", 5.0, "QUARTERLY REVENUE 2024"), Segment("bars", 6.0, ""),
            Segment("green", 5.0, "LAUNCH WINDOW OPENS AT DAWN")]  # cuts at 5 s and 11 s; 16 s long


# One good cue, one that ends before it starts, a stray byte (not UTF-8, not cp1252), one more good cue.
PART_BROKEN_SRT = (b"1\n00:00:00,500 --> 00:00:01,000\nFirst good cue\n\n2\n00:00:02,000 --> 00:00:01,500\nReversed\n\n"
                   b"3\n00:00:02,000 --> 00:00:02,500\nSecond good \x81 cue\n")


@dataclass(frozen=True)
class TalkLibrary:
    root: Path
    onsets_s: list[float]


def _srt(cues: list[tuple[float, float, str]]) -> str:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"00:00:{ms // 1000:02d},{ms % 1000:03d}"

    return "\n".join(f"{i}\n{ts(a)} --> {ts(b)}\n{t}\n" for i, (a, b, t) in enumerate(cues, 1))


@pytest.fixture(scope="module")
def talk_library(tmp_path_factory: pytest.TempPathFactory) -> TalkLibrary:
    root = tmp_path_factory.mktemp("talks")
    work = tmp_path_factory.mktemp("work")
    video = work / "video.mp4"
    make_clip(video, CAPTIONS, size=(640, 360), fps=25)
    onsets = write_speech_track(work / "speech.wav", SPOKEN, 16.0)
    with_audio = mux(video, work / "speech.wav", work / "with_audio.mp4", "aac")
    (work / "subs.srt").write_text(_srt(SUBTITLES))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(with_audio), "-i", str(work / "subs.srt"),
                    "-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=eng",
                    str(root / "talk.mkv")], check=True)
    damage_audio_packets(with_audio, root / "broken_audio.mp4", fraction=1.0)
    damage_audio_packets(with_audio, root / "damaged_audio.mp4", fraction=0.1)
    make_clip(root / "badsubs.mp4", [Segment("red", 3.0, "")], fps=25)
    (root / "badsubs.srt").write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    make_clip(root / "partsubs.mp4", [Segment("red", 3.0, "")], fps=25)
    (root / "partsubs.srt").write_bytes(PART_BROKEN_SRT)
    return TalkLibrary(root, onsets)


@pytest.fixture(scope="module")
def indexed(template_db: str, talk_library: TalkLibrary, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Database, IngestConfig, str]]:
    """One index run for the whole module (speech and OCR are the slow part); the tests only read."""
    name, url = create_database(template=template_db)
    db = Database(url)
    config = IngestConfig(layout=DataLayout(tmp_path_factory.mktemp("data")), sampling=SamplingPolicy(size_px=64))
    summary = index_paths(db, [talk_library.root], config, (".mp4", ".mkv"), None, text=TextChannels())
    assert sorted(Path(p).name for p in summary.indexed) == ["badsubs.mp4", "broken_audio.mp4",
                                                             "damaged_audio.mp4", "partsubs.mp4", "talk.mkv"]
    yield db, config, url
    db.dispose()
    drop_database(name)


def _media_id(db: Database, path: Path) -> int:
    with db.session() as session:
        media = library_repo.get_media_by_path(session, str(path))
        assert media is not None
        return media.id


def _channels(db: Database, media_id: int) -> dict[str, tuple[str, str | None]]:
    with db.session() as session:
        return {str(c.channel): (str(c.status), c.error_reason) for c in text_repo.channels_of(session, media_id)}


def test_every_channel_of_a_talk_is_indexed_with_exact_times(indexed, talk_library: TalkLibrary) -> None:
    db, _, _ = indexed
    media_id = _media_id(db, talk_library.root / "talk.mkv")
    assert {c: s for c, (s, _) in _channels(db, media_id).items()} == {
        "frames": "done", "subtitles": "done", "speech": "done", "ocr": "done"}
    with db.session() as session:
        subs = text_repo.segments_of(session, media_id, [Channel.SUBTITLES])
        speech = text_repo.segments_of(session, media_id, [Channel.SPEECH])
        ocr = text_repo.segments_of(session, media_id, [Channel.OCR])
        shots = frames_repo.shots_of_media(session, media_id)
    # Subtitles: exactly the cues of the track (mkv muxing shifts times by ~20 ms).
    assert [s.text for s in subs] == [t for _, _, t in SUBTITLES]
    assert np.allclose([(s.start_s, s.end_s) for s in subs], [(a, b) for a, b, _ in SUBTITLES], atol=0.05)
    assert all(s.language == "eng" and s.source == "embedded:2" for s in subs)
    # Speech: each spoken line found within 0.5 s of its true start, with word times.
    for onset, line in zip(talk_library.onsets_s, SPOKEN):
        first_word = line.text.split()[0].lower()
        starts = [s.start_s for s in speech if s.text.lower().startswith(first_word)]
        assert starts and min(abs(t - onset) for t in starts) <= 0.5, (line.text, [(s.start_s, s.text) for s in speech])
    assert all(s.detail and s.detail["words"] for s in speech)
    # On-screen text: each caption read, its span within one sampling interval of the truth.
    truth = {"QUARTERLY REVENUE 2024": (0.0, 5.0), "LAUNCH WINDOW OPENS AT DAWN": (11.0, 16.0)}
    for caption, (start, end) in truth.items():
        spans = [o for o in ocr if caption.lower() in o.text.lower()]
        assert spans, (caption, [o.text for o in ocr])
        # One sampling interval (1 s), plus the ~50 ms the mkv remux shifts the video by against the audio.
        assert abs(spans[0].start_s - start) <= 1.05 and abs(spans[0].end_s - end) <= 1.05, spans[0].__dict__
    # Cuts at 5 s and 11 s of the video, which the mkv remux starts ~46 ms after the audio.
    spans = [t for s in shots for t in (s.start_s, s.end_s)]
    assert spans == pytest.approx([0.0, 5.0, 5.0, 11.0, 11.0, 16.0], abs=0.06)


def test_a_broken_audio_stream_fails_speech_but_the_video_is_indexed(indexed, talk_library: TalkLibrary) -> None:
    db, _, _ = indexed
    channels = _channels(db, _media_id(db, talk_library.root / "broken_audio.mp4"))
    assert channels["speech"][0] == "failed" and channels["speech"][1]
    assert channels["frames"] == ("done", None)


def test_an_unreadable_sidecar_is_recorded_and_the_video_is_indexed(indexed, talk_library: TalkLibrary) -> None:
    db, _, _ = indexed
    channels = _channels(db, _media_id(db, talk_library.root / "badsubs.mp4"))
    assert channels["subtitles"][0] == "failed" and "UTF-8" in channels["subtitles"][1]
    assert channels["frames"] == ("done", None)


def test_a_partly_broken_sidecar_keeps_its_good_cues_and_status_says_what_was_skipped(
        indexed, talk_library: TalkLibrary) -> None:
    db, _, _ = indexed
    media_id = _media_id(db, talk_library.root / "partsubs.mp4")
    status, reason = _channels(db, media_id)["subtitles"]
    assert status == "done"
    assert reason == ("sidecar:partsubs.srt: 1 cue skipped (line 6: the cue ends before it starts), "
                      "1 undecodable byte replaced")
    with db.session() as session:
        cues = text_repo.segments_of(session, media_id, [Channel.SUBTITLES])
        notes = text_repo.channel_notes(session)
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [(0.5, 1.0, "First good cue"),
                                                            (2.0, 2.5, "Second good \ufffd cue")]
    shown = status_text({"files": {}, "runs": [], "problems": [], "channels": {}, "visual": {"enabled": False},
                         "database": "test", "roots": [], "frames": 0, "shots": 0,
                         "channel_notes": [{"path": p, "channel": str(c.channel), "note": c.error_reason}
                                           for p, c in notes]})
    assert "1 cue skipped (line 6: the cue ends before it starts)" in shown and "partsubs.mp4" in shown


def test_concealed_audio_decode_errors_are_counted_in_the_speech_channel(indexed, talk_library: TalkLibrary
                                                                        ) -> None:
    db, _, _ = indexed
    status, note = _channels(db, _media_id(db, talk_library.root / "damaged_audio.mp4"))["speech"]
    assert status == "done" and note is not None
    assert re.fullmatch(r"\d+ audio decode errors concealed \(damaged packets\): the transcript may have gaps", note)


def test_full_text_search_finds_words_in_every_channel(indexed) -> None:
    db, _, _ = indexed
    query = text("SELECT channel, start_s FROM text_segments WHERE tsv @@ plainto_tsquery('english', :q) "
                 "ORDER BY channel")
    with db.session() as session:
        hits = {(str(c), round(t)) for c, t in session.execute(query, {"q": "rockets launching"})}
        revenue = {str(c) for c, _ in session.execute(query, {"q": "quarterly revenue"})}
    assert ("subtitles", 6) in hits and any(c == "speech" for c, _ in hits)  # stemming: launching ~ launches
    assert "ocr" in revenue


def test_text_chunks_are_in_the_text_index_and_the_nearest_is_the_right_moment(indexed) -> None:
    db, config, _ = indexed
    encoder = TextEncoder()
    with db.session() as session:
        model = models_repo.get_model_by_key(session, encoder.info.key)
        ids = text_repo.chunk_ids(session, model.id)
    index, manifest = load_index(config.layout.index_dir(model.id), model.key, model.embed_dim)
    assert sorted(index.ids().tolist()) == ids.tolist() and manifest.count == len(ids) > 0
    _, I = index.search(encoder.encode(["when does the rocket lift off from the pad"]), 1)
    with db.session() as session:
        best = session.get(text_repo.TextChunk, int(I[0, 0]))
    assert 5.5 <= best.start_s <= 9.5, (best.start_s, best.text)


def test_each_frame_gets_the_subtitle_that_ends_after_it(indexed, talk_library: TalkLibrary) -> None:
    db, _, _ = indexed
    media_id = _media_id(db, talk_library.root / "talk.mkv")
    with db.session() as session:
        aligned = text_repo.frame_texts(session, media_id, [Channel.SUBTITLES])
    # Frames at 0, 1, ..., 15 s: a cue goes to the last frame that starts before the cue ends.
    assert [(round(t), txt) for _, t, txt in aligned] == [(2, SUBTITLES[0][2]), (9, SUBTITLES[1][2]),
                                                          (14, SUBTITLES[2][2])]  # cue ends 2.5, 9.5, 14.5 s


def test_transcript_exports_the_subtitles_as_srt(indexed, talk_library: TalkLibrary, tmp_path: Path,
                                                 monkeypatch) -> None:
    from scenedex.cli import main

    _, config, db_url = indexed
    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "none.toml"))
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["transcript", str(talk_library.root / "talk.mkv"), "--channel", "subtitles", "--format", "srt",
                     "--database-url", db_url, "--data-dir", str(config.layout.data_dir)])
    assert code == 0
    assert out.getvalue().count(" --> ") == 3 and "The rocket launches from the north pad" in out.getvalue()


def test_transcript_json_prints_every_line_with_its_channel_times_and_words(indexed, talk_library: TalkLibrary,
                                                                          tmp_path: Path, monkeypatch) -> None:
    import json

    from scenedex.cli import main

    _, config, db_url = indexed
    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "none.toml"))
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["transcript", str(talk_library.root / "talk.mkv"), "--json",
                     "--database-url", db_url, "--data-dir", str(config.layout.data_dir)])
    assert code == 0
    data = json.loads(out.getvalue())
    assert {c["channel"]: c["status"] for c in data["channels"]} == {"subtitles": "done", "speech": "done",
                                                                      "ocr": "done"}
    subs = [(round(x["start_s"], 1), x["text"]) for x in data["lines"] if x["channel"] == "subtitles"]
    assert subs[1] == (6.0, "The rocket launches from the north pad")
    speech = [x for x in data["lines"] if x["channel"] == "speech"]
    assert speech and all(x["detail"]["words"] for x in speech)


def test_retry_failed_runs_a_file_whose_channel_failed_again(indexed, talk_library: TalkLibrary) -> None:
    db, config, _ = indexed
    again = index_paths(db, [talk_library.root / "badsubs.mp4"], config, (".mp4",), None, text=TextChannels())
    assert again.indexed == []  # a failed channel is not retried on its own
    retried = index_paths(db, [talk_library.root / "badsubs.mp4"], config, (".mp4",), None, text=TextChannels(),
                          retry_failed=True)
    assert [Path(p).name for p in retried.indexed] == ["badsubs.mp4"]
    assert _channels(db, _media_id(db, talk_library.root / "badsubs.mp4"))["subtitles"][0] == "failed"  # still bad
