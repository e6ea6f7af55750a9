"""Subtitles: embedded text tracks (converted by ffmpeg) and sidecar files come back as plain-text cues with
their times; bad encodings and malformed times are explained; bitmap and broken tracks are skipped."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from indexer import subtitles
from indexer.probe import MediaInfo, StreamInfo, probe
from indexer.subtitle_formats import ass_plain_text, parse_subtitle_text
from indexer.subtitles import (Cue, SubtitleError, SubtitleResult, extract_subtitles, find_sidecars,
                               parse_subtitle_file, sidecar_language)
from scenedex.samples import Segment, make_clip

SRT = """1
00:00:00,500 --> 00:00:01,500
<i>Hello</i> {\\an8}there

2
00:00:02,000 --> 00:00:03,250
Second line
<font color="#ffff00">and more</font>
"""
SRT_CUES = [(0.5, 1.5, "Hello there"), (2.0, 3.25, "Second line\nand more")]

# Events out of order, a vector drawing that is not text, a positioned sign, a comment that is not shown.
ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:02.00,0:00:03.50,Default,,0,0,0,,{\\p1}m 0 0 l 100 0 100 100{\\p0}{\\pos(10,10)}Airlock
Comment: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,a note for the typesetter
Dialogue: 0,0:00:00.25,0:00:01.75,Default,Ann,0,0,0,,{\\i1}Welcome{\\i0} aboard,\\Nthe ship
"""
ASS_CUES = [(0.25, 1.75, "Welcome aboard,\nthe ship"), (2.0, 3.5, "Airlock")]

VTT = """WEBVTT

NOTE a comment block,
not a cue

intro
00:00.750 --> 00:01.250 align:start position:10%
<v Bob>Mind the &amp; gap</v>

00:02.500 --> 00:03.000
<c.yellow>Good<00:02.750>bye</c>
"""
VTT_CUES = [(0.75, 1.25, "Mind the & gap"), (2.5, 3.0, "Goodbye")]

# nasa_webb_cleanroom.mp4, both programs. The track writes NASA’s with U+2019 and it is kept as written.
WEBB_CUES = [
    (0.21, 4.26, "NAR: This is the optical and science segment of the Webb"),
    (4.26, 8.35, "space telescope in one of the largest cleanrooms in the world"),
    (8.35, 12.47, "at NASA\u2019s Goddard Space Flight Center in Greenbelt, Maryland."),
    (12.47, 16.57, "This half of the observatory element successfully"),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s video without subtitles, alone in its folder."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_clip(path, [Segment("bars", 4.0, "caption")], fps=25)
    return path


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _mux(out: Path, video: Path, subtitles: Sequence[Path], codec: str,
         languages: Sequence[str] = ()) -> MediaInfo:
    """Mux subtitle files into a copy of ``video`` and probe it; subtitle k becomes stream k + 1."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(video)]
    for sub in subtitles:
        cmd += ["-i", str(sub)]
    cmd += ["-map", "0:v"]
    for k in range(len(subtitles)):
        cmd += ["-map", f"{k + 1}:0"]
    for k, language in enumerate(languages):
        cmd += [f"-metadata:s:s:{k}", f"language={language}"]
    subprocess.run([*cmd, "-c:v", "copy", "-c:s", codec, str(out)], check=True, capture_output=True)
    return probe(out)


def _assert_cues(cues: Sequence[Cue], expected: Sequence[tuple[float, float, str]], tol_s: float) -> None:
    assert [c.text for c in cues] == [text for _, _, text in expected]
    for cue, (start_s, end_s, _) in zip(cues, expected):
        assert abs(cue.start_s - start_s) <= tol_s and abs(cue.end_s - end_s) <= tol_s, (cue, start_s, end_s)


def _by_source(result: SubtitleResult) -> dict[str, list[Cue]]:
    out: dict[str, list[Cue]] = {}
    for cue in result.cues:
        out.setdefault(cue.source, []).append(cue)
    return out


def test_webb_clip_gives_its_four_cues_once_although_both_programs_carry_them(shared_media: Path) -> None:
    result = extract_subtitles(probe(shared_media / "nasa_webb_cleanroom.mp4"))
    assert [(round(c.start_s, 2), round(c.end_s, 2), c.text) for c in result.cues] == WEBB_CUES
    # Stream 5 (the second program) repeats stream 2: kept once, under the lower index.
    assert {(c.source, c.language) for c in result.cues} == {("embedded:2", "eng")}
    assert result.skipped == ()


def test_srt_muxed_into_mp4_comes_back_from_its_mov_text_track(clip: Path, tmp_path: Path) -> None:
    info = _mux(tmp_path / "film.mp4", clip, [_write(tmp_path / "in.srt", SRT)], "mov_text", ["eng"])
    assert [s.codec for s in info.streams if s.kind == "subtitle"] == ["mov_text"]
    result = extract_subtitles(info)
    _assert_cues(result.cues, SRT_CUES, tol_s=0.01)
    assert {(c.source, c.language) for c in result.cues} == {("embedded:1", "eng")}


def test_subrip_ass_and_webvtt_tracks_in_mkv_come_back_with_their_text_and_times(clip: Path,
                                                                                 tmp_path: Path) -> None:
    subs = [_write(tmp_path / f"in.{ext}", text) for ext, text in (("srt", SRT), ("ass", ASS), ("vtt", VTT))]
    info = _mux(tmp_path / "film.mkv", clip, subs, "copy", ["eng", "fre", "und"])
    assert [s.codec for s in info.streams if s.kind == "subtitle"] == ["subrip", "ass", "webvtt"]
    result = extract_subtitles(info)
    tracks = _by_source(result)
    _assert_cues(tracks["embedded:1"], SRT_CUES, tol_s=0.05)  # muxing into mkv may move times by ~20 ms
    _assert_cues(tracks["embedded:2"], ASS_CUES, tol_s=0.05)
    _assert_cues(tracks["embedded:3"], VTT_CUES, tol_s=0.05)
    assert [tracks[f"embedded:{k}"][0].language for k in (1, 2, 3)] == ["eng", "fre", None]
    assert [c.start_s for c in result.cues] == sorted(c.start_s for c in result.cues)
    assert result.skipped == ()


def test_identical_tracks_are_kept_once_under_the_lowest_stream_index(clip: Path, tmp_path: Path) -> None:
    srt = _write(tmp_path / "in.srt", SRT)
    info = _mux(tmp_path / "film.mp4", clip, [srt, srt], "mov_text")
    shutil.copy(srt, tmp_path / "film.srt")  # a sidecar copy of the embedded track
    result = extract_subtitles(info)
    _assert_cues(result.cues, SRT_CUES, tol_s=0.01)
    assert {c.source for c in result.cues} == {"embedded:1"}


def test_sidecar_language_comes_from_the_file_name_and_markup_is_stripped(clip: Path, tmp_path: Path) -> None:
    media = Path(shutil.copy(clip, tmp_path / "film.mp4"))
    _write(tmp_path / "film.srt", SRT)
    _write(tmp_path / "film.vtt", VTT)
    _write(tmp_path / "film.en.ass", ASS)
    tracks = _by_source(extract_subtitles(probe(media)))
    assert sorted(tracks) == ["sidecar:film.en.ass", "sidecar:film.srt", "sidecar:film.vtt"]
    _assert_cues(tracks["sidecar:film.srt"], SRT_CUES, tol_s=0.0)
    _assert_cues(tracks["sidecar:film.vtt"], VTT_CUES, tol_s=0.0)
    _assert_cues(tracks["sidecar:film.en.ass"], ASS_CUES, tol_s=0.0)
    assert {c.language for c in tracks["sidecar:film.en.ass"]} == {"en"}
    assert {c.language for c in tracks["sidecar:film.srt"] + tracks["sidecar:film.vtt"]} == {None}


def test_sidecars_match_any_case_of_extension_and_leave_other_videos_their_own(tmp_path: Path) -> None:
    names = ["film.mp4", "film.SRT", "film.de.Vtt", "film.en.ass", "film.part2.mp4", "film.part2.srt",
             "film.part2.en.srt", "filmography.srt", "film.txt", "film.srt.bak", "other.srt"]
    for name in names:
        (tmp_path / name).write_text("")
    part1, part2 = find_sidecars(tmp_path / "film.mp4"), find_sidecars(tmp_path / "film.part2.mp4")
    assert [p.name for p in part1] == ["film.SRT", "film.de.Vtt", "film.en.ass"]
    assert [p.name for p in part2] == ["film.part2.en.srt", "film.part2.srt"]


@pytest.mark.parametrize("name, language", [
    ("film.srt", None), ("film.en.srt", "en"), ("film.eng.forced.srt", "eng"), ("film.sdh.en.srt", "en"),
    ("film.pt_BR.vtt", "pt-br"), ("film.director.srt", None), ("film.mkv.srt", None), ("film.und.srt", None),
])
def test_sidecar_language_is_the_first_name_tag_that_looks_like_a_language_code(name: str,
                                                                              language: str | None) -> None:
    assert sidecar_language(Path("/videos/film.mkv"), Path("/videos") / name) == language


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_sidecar_text_is_decoded_from_utf8_utf16_with_bom_and_clean_cp1252(
        tmp_path: Path, encoding: str, caplog: pytest.LogCaptureFixture) -> None:
    text = "Café déjà vu – naïve façade"  # the en dash is byte 0x96 in cp1252
    path = _write(tmp_path / "film.srt", f"1\r\n00:00:01,000 --> 00:00:02,000\r\n{text}\r\n", encoding)
    assert parse_subtitle_file(path).cues == (Cue(1.0, 2.0, text, None, "sidecar:film.srt"),)
    assert ("read it as cp1252" in caplog.text) == (encoding == "cp1252")


def test_random_bytes_are_refused_as_not_utf8_with_a_conversion_hint(tmp_path: Path) -> None:
    path = tmp_path / "film.srt"
    path.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(SubtitleError, match="is not UTF-8 text") as err:
        parse_subtitle_file(path)
    assert "iconv -f" in err.value.hint and str(path) in err.value.hint


def test_utf16_without_a_byte_order_mark_is_refused_for_its_control_characters(tmp_path: Path) -> None:
    path = _write(tmp_path / "film.srt", "1\n00:00:01,000 --> 00:00:02,000\nHello\n", "utf-16-le")
    with pytest.raises(SubtitleError, match="control character U\\+0000"):
        parse_subtitle_file(path)


@pytest.mark.parametrize("bad_line, why", [
    ("00:00:0x,000 --> 00:00:04,000", "malformed time range"),
    ("00:00:05,000 --> 00:00:04,000", "the cue ends before it starts"),
    ("00:00:75,000 --> 00:01:20,000", "minutes or seconds above 59"),
    ("00:00:05,000 00:00:06,000", "malformed time range"),
])
def test_a_malformed_cue_is_skipped_naming_its_line_and_the_good_cues_are_kept(tmp_path: Path, bad_line: str,
                                                                            why: str) -> None:
    path = _write(tmp_path / "film.srt", f"1\n00:00:01,000 --> 00:00:02,000\nFine\n\n2\n{bad_line}\nBroken\n\n"
                                         "3\n00:00:07,000 --> 00:00:08,000\nAlso fine\n")
    parsed = parse_subtitle_file(path)
    assert [(c.start_s, c.end_s, c.text) for c in parsed.cues] == [(1.0, 2.0, "Fine"), (7.0, 8.0, "Also fine")]
    assert [(p.line, p.why) for p in parsed.problems] == [(6, why)]
    assert parsed.note() == f"1 cue skipped (line 6: {why})"


def test_a_file_whose_every_cue_is_malformed_is_refused_naming_the_first_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "film.srt", "1\n00:00:05,000 --> 00:00:04,000\nBroken\n\n"
                                         "2\n00:00:0x,000 --> 00:00:09,000\nAlso broken\n")
    with pytest.raises(SubtitleError, match="no readable cue: the cue ends before it starts on line 2") as err:
        parse_subtitle_file(path)
    assert err.value.line == 2 and "1 more" in err.value.reason and "line 2 of film.srt" in err.value.hint


def test_a_malformed_ass_line_is_skipped_and_the_other_events_kept(tmp_path: Path) -> None:
    path = _write(tmp_path / "film.ass", ASS.replace("0:00:02.00,", "0:00:0x.00,"))
    parsed = parse_subtitle_file(path)
    assert [(c.start_s, c.end_s, c.text) for c in parsed.cues] == [ASS_CUES[0]]
    assert [(p.line, p.why) for p in parsed.problems] == [(10, "malformed time range")]


def test_many_problems_are_counted_and_the_first_three_named() -> None:
    good = "".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},500\nLine {i}\n\n" for i in range(1, 4))
    bad = "".join(f"9\n00:00:{i:02d},000 --> 00:00:0{i % 10},000\nX\n\n" for i in range(20, 25))
    parsed = parse_subtitle_text(good + bad, Path("film.srt"), language=None, source="sidecar:film.srt")
    assert len(parsed.cues) == 3 and len(parsed.problems) == 5
    assert parsed.note() is not None and parsed.note().startswith("5 cues skipped (line 14: the cue ends")
    assert parsed.note().endswith("; and 2 more)")


def test_a_few_stray_bytes_are_replaced_and_counted_not_fatal(tmp_path: Path) -> None:
    data = "1\n00:00:01,000 --> 00:00:02,000\nCaf\u00e9 au lait\n\n2\n00:00:03,000 --> 00:00:04,000\nEnd\n"
    raw = data.encode("utf-8").replace(b"au", b"a\xff\xfe") + b"\x01"  # two stray bytes, one control character
    path = tmp_path / "film.srt"
    path.write_bytes(raw)
    parsed = parse_subtitle_file(path)
    assert [c.text for c in parsed.cues] == ["Caf\u00e9 a\ufffd\ufffd lait", "End"]
    assert parsed.replaced == 3 and parsed.note() == "3 undecodable bytes replaced"


def test_a_subtitle_file_over_the_size_limit_is_refused_without_reading_it_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("indexer.subtitle_formats.SIDECAR_MAX_BYTES", 1000)
    path = _write(tmp_path / "film.srt", SRT * 100)
    with pytest.raises(SubtitleError, match="is over 0 MiB"):
        parse_subtitle_file(path)


def test_cues_repeating_their_text_without_a_gap_are_joined_in_linear_time(tmp_path: Path) -> None:
    """ASS typesetting writes one event per frame: 150,000 events of 150 signs become 150 cues, in seconds."""
    events = []
    for i in range(150_000):
        start_cs = i * 4  # 25 events a second, each lasting one event
        events.append(f"Dialogue: 0,{_ass_time(start_cs)},{_ass_time(start_cs + 4)},Default,,0,0,0,,"
                      f"{{\\pos({i % 500},{i % 300})}}Sign number {i // 1000}")
    header = ASS[:ASS.index("Dialogue:")]
    path = _write(tmp_path / "signs.ass", header + "\n".join(events) + "\n")
    t0 = time.perf_counter()
    parsed = parse_subtitle_file(path)
    elapsed_s = time.perf_counter() - t0
    assert len(parsed.cues) == 150 and parsed.joined == 149_850 and parsed.problems == ()
    assert parsed.cues[1].start_s == 40.0 and parsed.cues[1].end_s == 80.0
    assert elapsed_s < 30, f"parsing took {elapsed_s:.1f} s"


def _ass_time(cs: int) -> str:
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def test_a_track_keeps_at_most_ten_cues_a_second_and_says_how_many_it_dropped(clip: Path,
                                                                             tmp_path: Path) -> None:
    info = probe(clip)
    limit = subtitles.max_cues(info.duration_s)
    many = "".join(f"{i}\n00:00:00,000 --> 00:00:01,000\nLine {i}\n\n" for i in range(limit + 7))
    shutil.copy(clip, tmp_path / "film.mp4")
    _write(tmp_path / "film.srt", many)
    result = extract_subtitles(probe(tmp_path / "film.mp4"))
    assert len(result.cues) == limit
    assert [(n.source, n.note) for n in result.notes] == [
        ("sidecar:film.srt", f"7 cues past the limit of {limit} for a file this long were dropped")]


def test_text_without_any_cue_is_not_a_subtitle_file(tmp_path: Path) -> None:
    with pytest.raises(SubtitleError, match="holds no subtitle cues"):
        parse_subtitle_file(_write(tmp_path / "film.srt", "just some notes\nabout the film\n"))
    assert parse_subtitle_file(_write(tmp_path / "empty.srt", "\n")).cues == ()


def test_subrip_cues_without_blank_lines_between_them_are_still_split() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nHello\n2\n00:00:03,000 --> 00:00:04,000\nWorld\n"
    cues = parse_subtitle_text(text, Path("film.srt"), language="en", source="sidecar:film.srt").cues
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [(1.0, 2.0, "Hello"), (3.0, 4.0, "World")]


def test_ass_override_blocks_and_drawings_are_not_text() -> None:
    assert ass_plain_text(r"{\i1}Hello{\i0},\Nworld{\p1}m 0 0 l 10 0{\p0}") == "Hello,\nworld"
    assert ass_plain_text(r"{\pos(1,2)\fad(100,100)}Sign\hhere") == "Sign here"


def test_bad_sidecars_are_skipped_while_good_tracks_still_come_back(clip: Path, tmp_path: Path) -> None:
    info = _mux(tmp_path / "film.mp4", clip, [_write(tmp_path / "in.srt", SRT)], "mov_text")
    _write(tmp_path / "film.en.vtt", VTT)
    (tmp_path / "film.de.srt").write_bytes(random.Random(1).randbytes(2048))
    _write(tmp_path / "film.fr.srt", "1\n00:00:0x,000 --> 00:00:04,000\nCassé\n")  # no readable cue
    result = extract_subtitles(info)
    assert sorted(_by_source(result)) == ["embedded:1", "sidecar:film.en.vtt"]
    assert [t.source for t in result.skipped] == ["sidecar:film.de.srt", "sidecar:film.fr.srt"]
    assert "is not UTF-8 text" in result.skipped[0].reason and "iconv" in result.skipped[0].hint
    assert "on line 2" in result.skipped[1].reason and result.skipped[1].hint


def test_bitmap_and_unknown_subtitle_tracks_are_skipped_with_a_reason(tmp_path: Path) -> None:
    streams = (StreamInfo(0, "video", "h264"), StreamInfo(1, "subtitle", "hdmv_pgs_subtitle", language="ger"),
               StreamInfo(2, "subtitle", "dvd_subtitle"), StreamInfo(3, "subtitle", "arib_caption"))
    info = MediaInfo(tmp_path / "film.mkv", "matroska,webm", 60.0, 0.0, streams)  # no file: none is converted
    result = extract_subtitles(info)
    assert result.cues == ()
    assert [(t.source, t.reason) for t in result.skipped] == [
        ("embedded:1", "bitmap subtitles (hdmv_pgs_subtitle) cannot be read as text"),
        ("embedded:2", "bitmap subtitles (dvd_subtitle) cannot be read as text"),
        ("embedded:3", "subtitle codec arib_caption is not a text format scenedex reads"),
    ]
    assert "film.ger.srt" in result.skipped[0].hint and "film.en.srt" in result.skipped[1].hint


def test_a_track_ffmpeg_cannot_convert_is_skipped_and_the_others_still_come_back(clip: Path,
                                                                                 tmp_path: Path) -> None:
    info = _mux(tmp_path / "film.mp4", clip, [_write(tmp_path / "in.srt", SRT)], "mov_text")
    # Stream 0 is the video: claimed to be SubRip, ffmpeg refuses to convert it, as it would a damaged track.
    broken = replace(info, streams=(StreamInfo(0, "subtitle", "subrip"), *info.streams[1:]))
    result = extract_subtitles(broken)
    _assert_cues(result.cues, SRT_CUES, tol_s=0.01)
    assert [t.source for t in result.skipped] == ["embedded:0"]
    assert "ffmpeg could not convert subtitle stream(s) 0 " in result.skipped[0].reason
    assert "-map 0:0" in result.skipped[0].hint


def test_a_track_whose_converted_text_does_not_parse_is_skipped(clip: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    info = _mux(tmp_path / "film.mp4", clip, [_write(tmp_path / "in.srt", SRT)], "mov_text")
    garbled = {1: b"1\n00:00:01,000 --> 00:00:0x,000\nHello\n"}  # what a damaged track could convert to
    monkeypatch.setattr(subtitles, "_convert", lambda info, streams, timeout_s: garbled)
    result = extract_subtitles(info)
    assert result.cues == ()
    assert [t.source for t in result.skipped] == ["embedded:1"]
    assert "on line 2" in result.skipped[0].reason and "-map 0:1 -f srt" in result.skipped[0].hint


def test_a_track_ffmpeg_does_not_convert_in_time_is_skipped(clip: Path, tmp_path: Path) -> None:
    info = _mux(tmp_path / "film.mp4", clip, [_write(tmp_path / "in.srt", SRT)], "mov_text")
    result = extract_subtitles(info, timeout_s=0.001)
    assert result.cues == ()
    assert [t.source for t in result.skipped] == ["embedded:1"]
    assert "took longer than" in result.skipped[0].reason


def test_video_without_subtitles_gives_an_empty_result(clip: Path) -> None:
    assert extract_subtitles(probe(clip)) == SubtitleResult(cues=(), skipped=())

