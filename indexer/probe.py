"""What a media file holds, as ffprobe sees it (through ffmpeg-python)."""

from __future__ import annotations

import errno
import os
import shlex
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from indexer.errors import UnreadableMediaError, UnsupportedMediaError


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    codec: str
    program_id: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None  # average frame rate
    is_vfr: bool = False  # average and nominal (r_frame_rate) rates disagree
    rotation_deg: int = 0  # clockwise rotation a player applies (display matrix or rotate tag)
    is_attached_picture: bool = False  # cover art, not a video track
    language: str | None = None
    duration_s: float | None = None
    is_default: bool = False  # the container marks it as the track to play by default

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    container: str
    duration_s: float
    start_time_s: float
    streams: tuple[StreamInfo, ...]

    @property
    def video_streams(self) -> tuple[StreamInfo, ...]:
        return tuple(s for s in self.streams if s.kind == "video" and not s.is_attached_picture)

    @property
    def has_audio(self) -> bool:
        return any(s.kind == "audio" for s in self.streams)


def _rate(text: str | None) -> float | None:
    if not text or text in ("0/0", "0"):
        return None
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _rotation_deg(raw: dict[str, Any]) -> int:
    for side in raw.get("side_data_list", []) or []:
        if "rotation" in side:
            # ffprobe reports the display matrix angle counter-clockwise; players rotate clockwise by -angle.
            return int(round(-float(side["rotation"]))) % 360
    tag = (raw.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag else 0


def _stream(raw: dict[str, Any], program_of: dict[int, int]) -> StreamInfo:
    kind = raw.get("codec_type", "data")
    avg = _rate(raw.get("avg_frame_rate"))
    nominal = _rate(raw.get("r_frame_rate"))
    duration = raw.get("duration")
    return StreamInfo(
        index=int(raw["index"]),
        kind=kind,
        codec=raw.get("codec_name", "unknown"),
        program_id=program_of.get(int(raw["index"])),
        width=raw.get("width"),
        height=raw.get("height"),
        fps=avg or nominal if kind == "video" else None,
        is_vfr=bool(kind == "video" and avg and nominal and abs(avg - nominal) / nominal > 0.01),
        rotation_deg=_rotation_deg(raw) if kind == "video" else 0,
        is_attached_picture=bool((raw.get("disposition") or {}).get("attached_pic")),
        language=(raw.get("tags") or {}).get("language"),
        duration_s=float(duration) if duration not in (None, "N/A") else None,
        is_default=bool((raw.get("disposition") or {}).get("default")),
    )


def check_readable(path: Path) -> int:
    """Return the file's size in bytes, or raise UnreadableMediaError saying why it cannot be read."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise UnreadableMediaError(path, "the file does not exist (a dangling link or a file removed "
                                   "while indexing)", "check the link target or restore the file") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableMediaError(path, "a symbolic link that points to itself (or a loop of links)",
                                       f"fix or remove the link: `ls -l {shlex.quote(str(path))}` shows where "
                                       "it points") from exc
        raise UnreadableMediaError(path, f"cannot stat the file: {exc.strerror}",
                                   "check the permissions of the file and its folders") from exc
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableMediaError(path, "not a regular file (a folder, pipe or device with a media name)",
                                   "rename it or move it out of the library")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise UnreadableMediaError(path, f"cannot read the file: {exc.strerror}",
                                   "give the indexing user read permission (chmod o+r) or fix the mount") from exc
    if st.st_size == 0:
        raise UnsupportedMediaError(path, "the file is empty (0 bytes)",
                                    "the copy or download probably failed: copy the file again")
    return st.st_size


def _explain_ffprobe_failure(path: Path, stderr: str) -> UnsupportedMediaError:
    lowered = stderr.lower()
    if "moov atom not found" in lowered:
        return UnsupportedMediaError(path, "the file is truncated or incomplete (no moov atom: the index of an "
                                     "MP4/MOV is missing)", "copy the file again, or repair it with a tool such "
                                     "as untrunc", stderr)
    if "invalid data found" in lowered:
        return UnsupportedMediaError(path, "not a media file ffmpeg can read (invalid data)",
                                     "check what the file really is (`file PATH`); remove or rename it", stderr)
    return UnsupportedMediaError(path, "ffprobe could not read the file",
                                 "run `ffprobe PATH` to see the details", stderr)


def _refuse_still_image(path: Path, container: str, raw_streams: list[dict[str, Any]]) -> None:
    """Raise for a picture file (PNG, JPEG, WebP... whatever its name says): ffmpeg reads it as a 0 s video."""
    if container == "image2" or container.endswith("_pipe"):
        codec = next((s.get("codec_name", "?") for s in raw_streams if s.get("codec_type") == "video"), "?")
        raise UnsupportedMediaError(path, f"a still image ({codec}), not a video",
                                    "scenedex indexes video and audio files: move the picture out of the "
                                    "library, or rename it if its name says it is something else")


def probe(path: Path) -> MediaInfo:
    """Probe ``path`` with ffprobe. Raises an IndexerError subclass that says what to do."""
    check_readable(path)
    try:
        raw = ffmpeg.probe(str(path), show_programs=None)  # keyword None -> bare flag `-show_programs`
    except ffmpeg.Error as exc:
        stderr = (exc.stderr or b"").decode("utf-8", "replace")[-4000:]
        raise _explain_ffprobe_failure(path, stderr) from exc
    program_of = {
        int(s["index"]): int(p.get("program_id", 0))
        for p in raw.get("programs", []) or []
        for s in p.get("streams", []) or []
    }
    fmt = raw.get("format", {})
    _refuse_still_image(path, fmt.get("format_name", ""), raw.get("streams", []))
    streams = tuple(_stream(s, program_of) for s in raw.get("streams", []))
    durations = [s.duration_s for s in streams if s.duration_s]
    duration = fmt.get("duration")
    duration_s = float(duration) if duration not in (None, "N/A") else max(durations, default=0.0)
    start = fmt.get("start_time")
    return MediaInfo(
        path=path,
        container=fmt.get("format_name", "unknown"),
        duration_s=duration_s,
        start_time_s=float(start) if start not in (None, "N/A") else 0.0,
        streams=streams,
    )


def choose_video_stream(info: MediaInfo) -> StreamInfo:
    """The video stream to index: the largest picture, then the highest frame rate, then the lowest index.

    A file with several programs (broadcast captures, multi-bitrate exports) carries the same scene at several
    sizes; the largest one gives the encoder the most detail.
    """
    candidates = info.video_streams
    if not candidates:
        kinds = ", ".join(sorted({s.kind for s in info.streams})) or "none"
        raise UnsupportedMediaError(info.path, f"no video stream (streams: {kinds})",
                                    "audio-only files are not indexed by the visual channel; nothing to do "
                                    "unless the file should have had video")
    return max(candidates, key=lambda s: ((s.width or 0) * (s.height or 0), s.fps or 0.0, -s.index))
