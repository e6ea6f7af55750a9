"""Subtitles of a media file as timed text: its embedded text tracks and the sidecar files beside it.

Embedded text tracks are converted by ffmpeg (one pass over the file for all of them) to SubRip, or to ASS
for ASS/SSA tracks, and parsed by the same parser as sidecar files (``indexer.subtitle_formats``). Times are
seconds from the start of the media, the clock of sampled frames; sidecar times are taken as written.

Nothing here stops at a bad track: bitmap tracks (pictures of text), tracks ffmpeg cannot convert, and
sidecar files with a bad encoding or malformed times are returned in ``SubtitleResult.skipped`` with a reason
and a hint, and the other tracks still come back.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.probe import MediaInfo, StreamInfo
from indexer.sampling import ffmpeg_binary
from indexer.subtitle_encoding import SubtitleError
from indexer.subtitle_formats import Cue, ParsedSubtitles, parse_subtitle_file, parse_subtitle_text

__all__ = ["Cue", "SkippedTrack", "SubtitleError", "SubtitleResult", "TrackNote", "extract_subtitles",
           "find_sidecars", "max_cues", "parse_subtitle_file", "sidecar_language"]

logger = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa")  # matched in any case
# Codecs ffmpeg decodes to text; ASS/SSA are kept as ASS (SubRip would keep vector drawings as text).
TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "webvtt", "text", "eia_608", "jacosub", "microdvd",
                         "mpl2", "pjs", "realtext", "sami", "stl", "subviewer", "subviewer1", "vplayer",
                         "ass", "ssa"})
ASS_CODECS = frozenset({"ass", "ssa"})
BITMAP_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"})
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*$", re.IGNORECASE)  # en, eng, pt-BR, zh_Hans
NOT_LANGUAGES = frozenset({"sdh", "cc", "sub", "und"})  # name tags that look like language codes
# A track keeps at most this many cues: 10 a second of media (speech subtitles have one every 2-4 s), at least
# 5,000. Typesetting that writes one event per frame is joined first (``join_repeats``); what passes this is
# machine-made noise whose embedding and storage would cost minutes per file.
CUES_PER_S = 10
MIN_CUE_LIMIT = 5_000


@dataclass(frozen=True)
class SkippedTrack:
    source: str  # "embedded:<stream index>" or "sidecar:<file name>"
    reason: str  # what happened, e.g. "bitmap subtitles (hdmv_pgs_subtitle) cannot be read as text"
    hint: str  # what the user can do about it


@dataclass(frozen=True)
class TrackNote:
    source: str  # as in SkippedTrack
    note: str  # what was skipped or repaired in a track that was read, e.g. "2 cues skipped (line 14: ...)"


@dataclass(frozen=True)
class SubtitleResult:
    cues: tuple[Cue, ...]  # sorted by start_s; a track repeating an earlier one's cues is kept once
    skipped: tuple[SkippedTrack, ...]
    notes: tuple[TrackNote, ...] = ()


def max_cues(duration_s: float) -> int:
    """The most cues one track of a file this long keeps (CUES_PER_S, at least MIN_CUE_LIMIT).

    >>> max_cues(60.0), max_cues(3600.0)
    (5000, 36000)
    """
    return max(MIN_CUE_LIMIT, int(CUES_PER_S * duration_s))


def find_sidecars(media_path: Path) -> list[Path]:
    """Subtitle files beside ``media_path`` that belong to it, sorted by name.

    They are ``<stem>.<ext>`` and ``<stem>.<tags>.<ext>`` (``clip.srt``, ``clip.en.srt``,
    ``clip.en.forced.vtt``) with an extension of SIDECAR_EXTENSIONS in any case; the stem must match exactly.
    A file that belongs to a longer-named file beside it (``clip.part2.srt`` next to ``clip.part2.mp4``) is
    left to that file. A folder that cannot be listed has no sidecars (logged).
    """
    try:
        siblings = [p for p in media_path.parent.iterdir() if p.name != media_path.name]
    except OSError as exc:
        logger.warning("cannot list %s to look for subtitle files: %s", media_path.parent, exc.strerror)
        return []
    other_stems = {p.stem for p in siblings if p.suffix.lower() not in SIDECAR_EXTENSIONS}
    found = []
    for path in siblings:
        if path.suffix.lower() not in SIDECAR_EXTENSIONS or not path.name.startswith(media_path.stem + "."):
            continue
        tags = _name_tags(media_path, path)
        owners = {".".join([media_path.stem, *tags[:k]]) for k in range(1, len(tags) + 1)}
        if not owners & other_stems and path.is_file():
            found.append(path)
    return sorted(found)


def _name_tags(media_path: Path, sidecar: Path) -> list[str]:
    middle = sidecar.name[len(media_path.stem) + 1:-len(sidecar.suffix)]
    return middle.split(".") if middle else []


def sidecar_language(media_path: Path, sidecar: Path) -> str | None:
    """The language a sidecar's name gives: the first tag between the media's stem and the extension that
    looks like an ISO 639 code (``clip.en.srt`` -> "en", ``clip.forced.pt-BR.srt`` -> "pt-br"), else None.

    A guess from the form of the tag: two or three letters, optionally with subtags; "sdh", "cc", "sub" and
    "und" are not languages, and neither is the media's own extension (``clip.mkv.srt``).
    """
    for tag in _name_tags(media_path, sidecar):
        lowered = tag.lower().replace("_", "-")
        is_extension = f".{lowered}" == media_path.suffix.lower()
        if LANGUAGE_TAG.match(tag) and lowered not in NOT_LANGUAGES and not is_extension:
            return lowered
    return None


def _stream_language(stream: StreamInfo) -> str | None:
    tag = (stream.language or "").lower()
    return tag if tag and tag not in NOT_LANGUAGES else None


def _unreadable_track(info: MediaInfo, stream: StreamInfo) -> SkippedTrack | None:
    """Why a subtitle stream cannot be read as text, or None when it can."""
    if stream.codec in TEXT_CODECS:
        return None
    source = f"embedded:{stream.index}"
    sidecar = f"{info.path.stem}.{_stream_language(stream) or 'en'}.srt"
    if stream.codec in BITMAP_CODECS:
        return SkippedTrack(source, f"bitmap subtitles ({stream.codec}) cannot be read as text",
                            "scenedex does not read text from subtitle pictures; to search their words, "
                            "convert the track to SubRip with an OCR tool (e.g. Subtitle Edit) and save it "
                            f"as {sidecar}")
    return SkippedTrack(source, f"subtitle codec {stream.codec} is not a text format scenedex reads",
                        f"convert the track to SubRip if you can and save it as {sidecar}")


def _default_timeout_s(info: MediaInfo) -> float:
    return 60.0 + info.duration_s / 4  # reading a file through takes far less than a quarter of its length


def _command(info: MediaInfo, stream: StreamInfo) -> str:
    """The command that shows a stream's text, for hints."""
    return f"ffmpeg -v error -i {shlex.quote(str(info.path))} -map 0:{stream.index} -f srt -"


def _convert(info: MediaInfo, streams: Sequence[StreamInfo], timeout_s: float) -> dict[int, bytes]:
    """Each stream as a SubRip file (ASS for ASS/SSA), from one ffmpeg pass over the file."""
    indexes = ", ".join(str(s.index) for s in streams)
    with tempfile.TemporaryDirectory(prefix="scenedex-subtitles-") as folder:
        outputs = {s.index: Path(folder) / f"{s.index}.{'ass' if s.codec in ASS_CODECS else 'srt'}"
                   for s in streams}
        cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
               "-i", str(info.path)]
        for index, out in outputs.items():
            cmd += ["-map", f"0:{index}", "-c:s", out.suffix[1:], "-f", out.suffix[1:], str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SubtitleError(info.path, f"ffmpeg took longer than {timeout_s:.0f} s to read subtitle "
                                f"stream(s) {indexes} and was stopped",
                                "the file may be on a slow or hung mount, or the track is unusually large: check "
                                "that it can be read (`ffprobe` it); convert a huge track to a sidecar file"
                                ) from exc
        if proc.returncode != 0:
            raise SubtitleError(info.path, f"ffmpeg could not convert subtitle stream(s) {indexes} to text "
                                f"(exit code {proc.returncode})",
                                f"run `{_command(info, streams[0])}` to see why; the track may be damaged",
                                proc.stderr.decode("utf-8", "replace")[-4000:])
        return {index: out.read_bytes() for index, out in outputs.items()}


def _convert_each(info: MediaInfo, streams: Sequence[StreamInfo],
                  timeout_s: float) -> dict[int, bytes | SubtitleError]:
    """Every stream converted, or the error that stopped it.

    One pass for all; if it fails, each stream alone, so one broken track does not hide the others. A
    timeout is not retried: the file itself is slow to read, and every pass would time out again.
    """
    try:
        return dict(_convert(info, streams, timeout_s))
    except SubtitleError as exc:
        if len(streams) == 1 or isinstance(exc.__cause__, subprocess.TimeoutExpired):
            return {s.index: exc for s in streams}
    converted: dict[int, bytes | SubtitleError] = {}
    for stream in streams:
        try:
            converted.update(_convert(info, [stream], timeout_s))
        except SubtitleError as exc:
            converted[stream.index] = exc
    return converted


def _embedded_tracks(info: MediaInfo, streams: Sequence[StreamInfo],
                     timeout_s: float) -> tuple[list[ParsedSubtitles], list[SkippedTrack]]:
    """Cues of each text stream in stream order, and the streams that failed (ffmpeg or the parser)."""
    if not streams:
        return [], []
    converted = _convert_each(info, streams, timeout_s)
    tracks: list[ParsedSubtitles] = []
    skipped: list[SkippedTrack] = []
    for stream in streams:
        source, outcome = f"embedded:{stream.index}", converted[stream.index]
        if isinstance(outcome, bytes):
            text = outcome.decode("utf-8", "replace")  # ffmpeg writes UTF-8
            try:
                tracks.append(parse_subtitle_text(text, info.path, language=_stream_language(stream),
                                                  source=source))
                continue
            except SubtitleError as exc:
                outcome = SubtitleError(info.path, f"{exc.reason}, in ffmpeg's conversion of the track",
                                        f"run `{_command(info, stream)}` to see it; the track may be damaged")
        skipped.append(SkippedTrack(source, outcome.reason, outcome.hint))
    return tracks, skipped


def _sidecar_tracks(media_path: Path) -> tuple[list[ParsedSubtitles], list[SkippedTrack]]:
    tracks: list[ParsedSubtitles] = []
    skipped: list[SkippedTrack] = []
    for path in find_sidecars(media_path):
        try:
            tracks.append(parse_subtitle_file(path, sidecar_language(media_path, path)))
        except SubtitleError as exc:
            skipped.append(SkippedTrack(f"sidecar:{path.name}", exc.reason, exc.hint))
    return tracks, skipped


def _limited(track: ParsedSubtitles, limit: int) -> tuple[tuple[Cue, ...], list[TrackNote]]:
    """The track's cues, the first ``limit`` of them, and notes on what was skipped, repaired or cut."""
    if not track.cues:
        return (), []
    source = track.cues[0].source
    notes = [TrackNote(source, note)] if (note := track.note()) else []
    if len(track.cues) > limit:
        notes.append(TrackNote(source, f"{len(track.cues) - limit} cues past the limit of {limit} for a file "
                                       "this long were dropped"))
        logger.warning("%s: %d cues; the first %d kept", source, len(track.cues), limit)
    return track.cues[:limit], notes


def _merge(tracks: Sequence[Sequence[Cue]]) -> tuple[Cue, ...]:
    """All cues sorted by start time; a track whose cues (times, text) repeat an earlier one's is dropped."""
    first_source: dict[tuple[tuple[float, float, str], ...], str] = {}
    kept: list[Cue] = []
    for cues in tracks:
        if not cues:
            continue
        key = tuple((c.start_s, c.end_s, c.text) for c in cues)
        if key in first_source:
            logger.info("%s repeats the cues of %s; kept once", cues[0].source, first_source[key])
            continue
        first_source[key] = cues[0].source
        kept.extend(cues)
    return tuple(sorted(kept, key=lambda c: (c.start_s, c.end_s)))


def extract_subtitles(info: MediaInfo, *, timeout_s: float | None = None) -> SubtitleResult:
    """Cues of every embedded text track and sidecar file of a probed media file, and the tracks skipped.

    Tracks are taken in order (embedded by stream index, then sidecars by name) and a track with the same
    cues as an earlier one is kept once, under the earlier source: files with several programs repeat their
    subtitles, and a sidecar is often a copy of an embedded track. Bitmap and unknown-codec tracks, tracks
    ffmpeg cannot convert, and unreadable or malformed sidecars are skipped with a reason (logged), never
    raised. Within a readable track, bad cues are skipped and stray bytes replaced (``notes`` says so), and at
    most ``max_cues`` cues are kept. ``timeout_s`` bounds each ffmpeg run (default: 60 s plus a quarter of the
    media's duration).
    """
    timeout = timeout_s if timeout_s is not None else _default_timeout_s(info)
    subtitle_streams = [s for s in info.streams if s.kind == "subtitle"]
    unreadable = [t for s in subtitle_streams if (t := _unreadable_track(info, s))]
    text_streams = [s for s in subtitle_streams if s.codec in TEXT_CODECS]
    embedded, failed = _embedded_tracks(info, text_streams, timeout)
    sidecars, bad_sidecars = _sidecar_tracks(info.path)
    for track in unreadable:
        logger.info("%s: subtitles of %s skipped: %s", info.path, track.source, track.reason)
    for track in (*failed, *bad_sidecars):
        logger.warning("%s: subtitles of %s skipped: %s", info.path, track.source, track.reason)
    skipped = sorted((*unreadable, *failed, *bad_sidecars), key=_order)
    limit = max_cues(info.duration_s)
    kept: list[tuple[Cue, ...]] = []
    notes: list[TrackNote] = []
    for track in (*embedded, *sidecars):
        cues, track_notes = _limited(track, limit)
        kept.append(cues)
        notes.extend(track_notes)
    return SubtitleResult(cues=_merge(kept), skipped=tuple(skipped), notes=tuple(notes))


def _order(track: SkippedTrack) -> tuple[int, int, str]:
    kind, _, name = track.source.partition(":")
    return (0, int(name), "") if kind == "embedded" else (1, 0, name)
