"""Times stay inside the media: every stored span (frames, shots, subtitle cues, speech words, OCR spans, text
chunks) lies within [0, duration]. Properties of the one clipping function, then hostile generated media indexed
end to end: a 0.2 s clip with on-screen text, a variable-frame-rate clip, and a 60 s clip whose sidecar has a cue
at 49,999 s."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.models import Channel, ChannelStatus, TextChunk
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.encoders.base import EncodedFrames
from indexer.sampling import SamplingPolicy
from indexer.shots import Shot
from indexer.text_chunks import TimedText
from indexer.subtitle_formats import Cue
from scenedex.export import to_srt
from scenedex.samples import Segment, make_clip
from workers.bounds import clip_outcome, clip_span, frames_kept
from workers.channels import ChannelOutcome, FramesOutcome
from workers.index_run import index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout
from workers.models import OcrSettings, TextChannels

times = st.floats(allow_nan=True, allow_infinity=True, width=64)
durations = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(start_s=times, end_s=times, duration_s=durations)
def test_a_clipped_span_lies_inside_the_media_and_inside_the_span(start_s: float, end_s: float,
                                                                   duration_s: float) -> None:
    span = clip_span(start_s, end_s, duration_s)
    if span is None:
        return
    a, b = span
    assert 0.0 <= a <= b <= duration_s, (start_s, end_s, duration_s, span)
    if not math.isnan(start_s):
        assert a >= min(max(start_s, 0.0), duration_s)
    if not math.isnan(end_s) and end_s >= start_s:
        assert b <= max(end_s, a)


@given(start_s=st.floats(0, 1e6), length_s=st.floats(0, 1e6), duration_s=durations)
def test_a_span_is_dropped_only_when_nothing_of_it_is_inside(start_s: float, length_s: float,
                                                             duration_s: float) -> None:
    end_s = start_s + length_s
    span = clip_span(start_s, end_s, duration_s)
    assert (span is None) == (start_s >= duration_s)
    if end_s <= duration_s and start_s < duration_s:
        assert span == (start_s, end_s), "a span inside the media is left exactly as it was"
    elif span is not None:
        assert span == (start_s, duration_s), "a span crossing the end is cut at the end"


cues = st.lists(st.tuples(st.floats(-100, 1e5), st.floats(0, 1e4)), max_size=30)


@given(spans=cues, duration_s=durations)
@settings(max_examples=200)
def test_every_item_of_a_channel_is_clipped_and_those_past_the_end_are_counted(
        spans: list[tuple[float, float]], duration_s: float) -> None:
    items = [TimedText("subtitles", s, s + n, f"cue {i}", detail={"words": [[s, s + n / 2, "a"], [s + n / 2, s + n, "b"]]})
             for i, (s, n) in enumerate(spans)]
    outcome = clip_outcome(ChannelOutcome(Channel.SUBTITLES, ChannelStatus.DONE, items=items), duration_s)
    dropped = sum(1 for s, n in spans if s >= duration_s or (s + n < 0) or (s + n == 0 and s < 0))
    assert len(outcome.items) == len(items) - dropped
    for item in outcome.items:
        assert 0.0 <= item.start_s <= item.end_s <= duration_s
        for word in item.detail["words"]:
            assert 0.0 <= word[0] <= word[1] <= duration_s
    assert (f"{dropped} item" in (outcome.reason or "")) == (dropped > 0)


@given(t_s=st.lists(st.floats(-5, 200), max_size=40).map(sorted), duration_s=st.floats(0.1, 100))
@settings(max_examples=200)
def test_frames_past_the_end_collapse_onto_it_and_stay_aligned_with_their_vectors(t_s: list[float],
                                                                                   duration_s: float) -> None:
    n = len(t_s)
    rows = np.arange(n, dtype=np.float32)[:, None]  # (N, 1): each frame's vector remembers its old index
    shots = [Shot(0.0, duration_s / 2, 0 if n else None), Shot(duration_s / 2, duration_s * 3, n - 1 if n else None)]
    outcome = FramesOutcome(Channel.FRAMES, ChannelStatus.DONE, t_s=np.asarray(t_s),
                            encoded=EncodedFrames(rows, rows.copy(), None), shots=shots,
                            frame_shot=np.zeros(n, np.int64), qa_pooled=rows.copy())
    clipped = clip_outcome(outcome, duration_s)
    assert isinstance(clipped, FramesOutcome) and clipped.encoded is not None
    assert np.all((clipped.t_s >= 0) & (clipped.t_s <= duration_s))
    assert len(np.unique(clipped.t_s)) == len(clipped.t_s), "one frame per time (frames are unique per time)"
    kept_old = clipped.encoded.embeddings[:, 0].astype(int)
    np.testing.assert_array_equal(clipped.t_s, np.clip(np.asarray(t_s), 0, duration_s)[kept_old])
    assert len(clipped.frame_shot) == len(clipped.t_s) == len(clipped.qa_pooled)
    for shot in clipped.shots:
        assert 0.0 <= shot.start_s <= shot.end_s <= duration_s
        assert shot.representative is None or 0 <= shot.representative < len(clipped.t_s)
    _, keep = frames_kept(np.asarray(t_s), duration_s)
    assert keep.sum() == len(clipped.t_s)


# --- hostile media, end to end ----------------------------------------------------------------------------------

def _vfr_clip(path: Path, work: Path) -> None:
    """25 fps for 2 s, then frames every 0.3 s: a variable frame rate whose last frame outlasts the stream."""
    steady = work / "steady.mp4"
    make_clip(steady, [Segment("bars", 4.0, "VARIABLE RATE")], size=(320, 240), fps=25, clock=False)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(steady), "-vf",
                    "setpts='if(lt(N,50),N/25,2+(N-50)*0.3)/TB'", "-fps_mode", "vfr", "-an", str(path)], check=True)


def _srt(cues: list[tuple[float, float, str]]) -> str:
    return to_srt([Cue(a, b, t, None, "test") for a, b, t in cues])


@pytest.fixture(scope="module")
def hostile_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    work = tmp_path_factory.mktemp("hostile-work")
    make_clip(root / "short.mp4", [Segment("red", 0.2, "OPEN SESAME")], size=(640, 360), fps=25, clock=False)
    _vfr_clip(root / "vfr.mp4", work)
    make_clip(root / "long.mp4", [Segment("blue", 60.0, "")], size=(96, 64), fps=5, frame_code=False, clock=False)
    (root / "long.srt").write_text(_srt([(1.0, 2.5, "The first line"), (58.0, 61.5, "A line across the end"),
                                         (49_999.0, 50_001.5, "A line from another cut")]))
    return root


@pytest.mark.integration
def test_every_stored_span_of_hostile_media_lies_inside_the_media(db: Database, hostile_library: Path,
                                                                  tmp_path: Path) -> None:
    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=SamplingPolicy(size_px=64, fps=2.0))
    text = TextChannels(speech=False, ocr=OcrSettings(fps=1.0, width_px=640))
    summary = index_paths(db, [hostile_library], config, (".mp4",), None, text=text)
    assert sorted(Path(p).name for p in summary.indexed) == ["long.mp4", "short.mp4", "vfr.mp4"], summary.problems
    spans: dict[str, list[tuple[str, float, float]]] = {}
    with db.session() as session:
        for media in library_repo.list_media(session):
            name, d = Path(media.path).name, media.duration_s
            assert d is not None and d > 0
            rows = [("frame", f.t_s, f.t_s) for f in frames_repo.frames_of_media(session, media.id)]
            rows += [("shot", s.start_s, s.end_s) for s in frames_repo.shots_of_media(session, media.id)]
            for seg in text_repo.segments_of(session, media.id):
                rows.append((str(seg.channel), seg.start_s, seg.end_s))
                rows += [("word", w[0], w[1]) for w in (seg.detail or {}).get("words", [])]
            rows += [("chunk", c.start_s, c.end_s) for c in session.query(TextChunk).filter_by(media_id=media.id)]
            outside = [r for r in rows if not 0.0 <= r[1] <= r[2] <= d]
            assert outside == [], f"{name} ({d:.3f} s): spans outside the media: {outside[:5]}"
            spans[name] = rows
            if name == "long.mp4":
                subtitles = {c.channel: c for c in text_repo.channels_of(session, media.id)}[Channel.SUBTITLES]
                assert subtitles.status == ChannelStatus.DONE and subtitles.item_count == 2
                assert "1 item past the end of the media" in (subtitles.error_reason or "")
    cues = sorted((a, b) for kind, a, b in spans["long.mp4"] if kind == "subtitles")
    assert cues == [(1.0, 2.5), (58.0, pytest.approx(60.0, abs=0.05))], "crossing cut at the end, past dropped"
    assert any(kind == "ocr" for kind, *_ in spans["short.mp4"]), "the short clip's text was read (and clipped)"
    assert [k for k, *_ in spans["vfr.mp4"]].count("frame") >= 4
