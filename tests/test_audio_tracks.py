"""Which audio track speech reads: the video's program, the speech language, the default track, the first."""

from __future__ import annotations

from pathlib import Path

from indexer.audio import choose_audio_stream
from indexer.probe import MediaInfo, StreamInfo


def _info(*streams: StreamInfo) -> MediaInfo:
    return MediaInfo(Path("x.ts"), "mpegts", 10.0, 0.0, streams)


def test_audio_of_the_chosen_video_program_is_chosen() -> None:
    info = _info(StreamInfo(0, "video", "h264", program_id=1), StreamInfo(1, "audio", "aac", program_id=1),
                 StreamInfo(2, "video", "h264", program_id=2), StreamInfo(3, "audio", "aac", program_id=2))
    assert choose_audio_stream(info, 2).index == 3
    assert choose_audio_stream(info, 0).index == 1


def test_without_programs_the_first_audio_stream_is_chosen() -> None:
    info = _info(StreamInfo(0, "video", "h264"), StreamInfo(1, "subtitle", "mov_text"),
                 StreamInfo(2, "audio", "aac"), StreamInfo(3, "audio", "ac3"))
    assert choose_audio_stream(info, 0).index == 2
    assert choose_audio_stream(info, None).index == 2
    assert choose_audio_stream(_info(StreamInfo(0, "video", "h264")), 0) is None


def test_the_track_in_the_speech_language_wins_then_the_default_track_then_the_first() -> None:
    tone = StreamInfo(1, "audio", "aac", language="und", is_default=True)
    commentary = StreamInfo(2, "audio", "aac", language="ger")
    english = StreamInfo(3, "audio", "aac", language="eng")
    info = _info(StreamInfo(0, "video", "h264"), tone, commentary, english)
    assert choose_audio_stream(info, 0, "en") == english  # "eng" is ISO 639-2 for "en"
    assert choose_audio_stream(info, 0, "de") == commentary
    assert choose_audio_stream(info, 0, "fr") == tone  # no French track: the default one
    assert choose_audio_stream(info, 0, None) == tone
    no_default = _info(StreamInfo(0, "video", "h264"), StreamInfo(4, "audio", "aac"), StreamInfo(2, "audio", "ac3"))
    assert choose_audio_stream(no_default, 0, "en").index == 2  # the first by stream index
