"""Chunk rules (issue 15): on-screen figures (a burnt-in timecode, a counter) are not embedded with the
caption they share frames with, and a library chunked by older rules is chunked again from its stored text by
the next `scenedex index`, without speech or OCR, with nothing lost."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.models import Channel
from db.repositories import library as library_repo
from db.repositories import search as search_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer import text_chunks
from indexer.text_chunks import CHUNK_RULE, TimedText, has_words, make_chunks
from workers.layout import DataLayout

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _ocr(start_s: float, end_s: float, text: str) -> TimedText:
    return TimedText("ocr", start_s, end_s, text)


def test_a_caption_is_chunked_apart_from_the_timecode_and_counter_on_screen_with_it() -> None:
    items = [_ocr(64.0, 76.0, "00:00:00.000"), _ocr(64.0, 76.0, "Compare energy tariffs"),
             *(_ocr(68.0 + i, 69.0 + i, str(100 + 25 * i)) for i in range(8))]
    chunks = make_chunks(items)
    assert [c.text for c in chunks if has_words(c.text)] == ["Compare energy tariffs"]
    assert [(c.start_s, c.end_s) for c in chunks if has_words(c.text)] == [(64.0, 76.0)]
    figures = " ".join(c.text for c in chunks if not has_words(c.text))
    assert figures == "00:00:00.000 100 125 150 175 200 225 250 275"  # still searchable, apart


def test_short_worded_items_still_join_and_channels_never_mix() -> None:
    items = [TimedText("speech", 0.0, 1.0, "Hello"),
             TimedText("speech", 1.2, 4.0, "and welcome to the launch"),
             TimedText("subtitles", 0.5, 1.5, "♪ ♪"), TimedText("subtitles", 1.6, 3.0, "Hi there"),
             _ocr(0.0, 3.0, "Item 2: bus lanes"), _ocr(2.0, 3.0, "12:05")]
    assert sorted((c.channel, c.text) for c in make_chunks(items)) == [
        ("ocr", "12:05"), ("ocr", "Item 2: bus lanes"), ("speech", "Hello and welcome to the launch"),
        ("subtitles", "Hi there"), ("subtitles", "♪ ♪")]


@pytest.mark.parametrize(("text", "worded"), [("Item 2", True), ("21:05", False), ("3.2 %", False),
                                              ("Ök", True), ("天气", True), ("x 4", False), ("4K", False),
                                              ("", False)])
def test_what_counts_as_words(text: str, worded: bool) -> None:
    assert has_words(text) is worded


_TEXTS = st.sampled_from(["Water at dusk", "00:00:00.000", "100", "Hello", "and welcome to the launch",
                          "21:05", "Item 2", "♪", "The sofa problem was solved at last"])
_ITEMS = st.lists(st.builds(lambda ch, start, dur, text: TimedText(ch, start, start + dur, text),
                            st.sampled_from(["speech", "ocr", "subtitles"]),
                            st.floats(0, 60, allow_nan=False).map(lambda x: round(x, 2)),
                            st.floats(0.1, 8, allow_nan=False).map(lambda x: round(x, 2)), _TEXTS),
                  max_size=25)


@settings(max_examples=200, deadline=None)
@given(_ITEMS)
def test_chunks_lose_no_text_and_never_join_figures_to_words(items: list[TimedText]) -> None:
    chunks = make_chunks(items)
    for channel in ("speech", "ocr", "subtitles"):
        for worded in (True, False):
            mine = sorted(w for i in items if i.channel == channel and has_words(i.text) is worded
                          for w in i.text.split())
            got = sorted(w for c in chunks if c.channel == channel and has_words(c.text) is worded
                         for w in c.text.split())
            assert got == mine
    for c in chunks:  # every chunk spans exactly the items it joined
        assert any(i.start_s == c.start_s and i.channel == c.channel for i in items)
        assert c.end_s - c.start_s <= max(20.0, max(i.end_s - i.start_s for i in items))


def _captioned_clip(path: Path) -> None:
    """14 s: a 3-word caption from 2 to 12 s over a gray frame, a running timecode in a corner throughout."""
    caption = (f"drawtext=fontfile={FONT}:text='Water at dusk':fontsize=44:fontcolor=white:box=1:"
               "boxcolor=black@0.8:x=(w-tw)/2:y=h*0.7:enable='between(t,2,12)'")
    clock = (f"drawtext=fontfile={FONT}:timecode='00\\:00\\:00\\:00':rate=25:fontsize=28:fontcolor=yellow:"
             "box=1:boxcolor=black@0.8:x=20:y=20")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=640x360:r=25:d=14",
                    "-vf", f"{caption},{clock}", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True)


@pytest.mark.e2e
def test_a_library_chunked_by_older_rules_is_chunked_again_without_reading_it_again(db: Database,
                                                                                     tmp_path: Path,
                                                                                     monkeypatch) -> None:
    from indexer.sampling import SamplingPolicy
    from scenedex.search_service import SearchConfig, SearchService
    from search.request import SearchRequest
    from workers.index_run import TextChannels, index_paths
    from workers.ingest import IngestConfig

    library = tmp_path / "lib"
    library.mkdir()
    _captioned_clip(library / "garden.mp4")
    config = IngestConfig(layout=DataLayout(tmp_path / "data"), sampling=SamplingPolicy(size_px=32))
    channels = TextChannels(subtitles=False, speech=False)
    first = index_paths(db, [library], config, (".mp4",), None, text=channels)
    assert len(first.indexed) == 1
    with db.session() as session:
        (media,) = library_repo.list_media(session)
        segments = [(s.text, s.start_s, s.end_s) for s in text_repo.segments_of(session, media.id)]
        _, chunks = text_repo.chunk_spans(session, media.id)
        key, model_id = media.channels_key, media.text_model_id
    caption = [s for s in segments if "dusk" in s[0].lower()]
    assert len(caption) == 1 and any(not has_words(s[0]) for s in segments)  # and the timecode, as figures
    assert [c[3] for c in chunks if "dusk" in c[3].lower()] == [caption[0][0]]  # the caption alone
    assert key.endswith(f"/{CHUNK_RULE}")

    # The library as the release before this rule left it: the caption and the figures in one chunk.
    monkeypatch.setattr(text_chunks, "has_words", lambda text: True)
    from workers.reembed import current_chunks

    with db.session() as session:
        old_rows = current_chunks(text_repo.segments_of(session, media.id))
    monkeypatch.undo()
    joined = [r["text"] for r in old_rows if "dusk" in r["text"].lower()]
    assert len(joined) == 1 and joined[0] != caption[0][0]  # the old rule joined the timecode to it
    from workers.models import RunModels

    encoder = RunModels(None, channels).text_encoder()
    with db.session() as session:
        old_vectors = encoder.encode([r["text"] for r in old_rows])
        text_repo.replace_chunks(session, media.id, model_id, old_rows, old_vectors)
        library_repo.get_media(session, media.id).channels_key = key.removesuffix(f"/{CHUNK_RULE}")
    second = index_paths(db, [library], config, (".mp4",), None, text=channels)
    assert second.indexed == [] and second.unchanged == 1 and second.reembedded == 1  # OCR not run again
    from scenedex.report import summary_text

    assert "1 unchanged file(s): text re-embedded with" in summary_text(second)  # the user is told why
    assert "1 of them cut into chunks again" in summary_text(second)
    with db.session() as session:
        (media,) = library_repo.list_media(session)
        ids, again = text_repo.chunk_spans(session, media.id)
        assert [(s.text, s.start_s, s.end_s) for s in text_repo.segments_of(session, media.id)] == segments
        assert media.channels_key == key
    assert again == chunks  # the chunks the current rules cut, nothing lost
    manifest = json.loads((DataLayout(tmp_path / "data").index_dir(model_id) / "manifest.json").read_text())
    assert manifest["count"] == len(ids)
    service = SearchService(db, DataLayout(tmp_path / "data"), SearchConfig())
    found = service.search(SearchRequest(text="watering the garden in the evening", page_size=3)).moments
    assert found is not None and found.items
    best = found.items[0]
    assert best.start_s <= caption[0][1] + 1.0 and best.end_s >= caption[0][2] - 1.0
    assert any(e.text == caption[0][0] for e in best.evidence)
    third = index_paths(db, [library], config, (".mp4",), None, text=channels)
    assert third.reembedded == 0 and third.unchanged == 1
    with db.session() as session:
        assert search_repo.text_segment_count(session) == len(segments)
        assert np.array_equal(text_repo.chunk_spans(session, media.id)[0], ids)  # no work, same ids
