"""Subtitle text formats: bytes to text (encoding policy), and SubRip, WebVTT and ASS/SSA text to cues.

Pure functions on text; no ffmpeg here. ``indexer.subtitles`` finds the tracks and converts embedded ones to
one of these formats first, so sidecar files and embedded tracks go through the same parser.

Times are seconds from the start of the media, rounded to the millisecond (ASS itself has centiseconds).
"""

from __future__ import annotations

import codecs
import html
import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import IndexerError

logger = logging.getLogger(__name__)

# Checked in this order: the UTF-32 marks begin with the UTF-16 ones.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 and C1 except tab, newline, CR

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"  # [H+:]MM:SS[,mmm] (SubRip ",", WebVTT ".")
TIMING_LINE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s.*)?$")  # WebVTT cue settings may follow
TIME_LIKE = re.compile(r"^\s*\d+:\d{2}")  # a line that starts like a time: a timing line gone wrong
SKIPPED_BLOCKS = ("WEBVTT", "NOTE", "STYLE", "REGION")  # WebVTT header and blocks that are not cues
HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")  # <i>, </font>, <c.yellow>, <v Bob>, <00:01.000>
SRT_OVERRIDE = re.compile(r"\{\\[^}]*\}")  # ASS override blocks SubRip files carry, e.g. {\an8}
ASS_TIME = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")  # H:MM:SS.cc
ASS_BLOCK = re.compile(r"(\{[^}]*\})")
ASS_DRAWING = re.compile(r"\\p(\d+)")  # \p1 starts vector drawing commands, \p0 ends them
ASS_DEFAULT_FORMAT = ("layer", "start", "end", "style", "name", "marginl", "marginr", "marginv", "effect",
                      "text")


class SubtitleError(IndexerError):
    """A subtitle file or track cannot be read: bad encoding, malformed times, or ffmpeg failed on it.

    ``line`` is the 1-based line of the text where the problem is, when there is one.
    """

    def __init__(self, path: Path | str, reason: str, hint: str = "", detail: str = "",
                 line: int | None = None) -> None:
        super().__init__(path, reason, hint, detail)
        self.line = line


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str  # plain text: markup (<i>, {\an8}, ASS override tags) stripped, lines joined with "\n"
    language: str | None  # ISO code when known: a stream tag ("eng") or the sidecar's name ("name.en.srt")
    source: str  # "embedded:<stream index>" or "sidecar:<file name>"


def decode_subtitle_bytes(data: bytes, path: Path) -> str:
    """Text of a subtitle file: UTF-8 (BOM or not), UTF-16/32 with a BOM, else cp1252 if that is clean.

    cp1252 is a guess (old Western European files); it is taken only when every byte decodes and the text has
    no control characters besides tab and newlines, which random bytes and most other encodings fail.
    """
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return _without_controls(data.decode(encoding), path, encoding)
            except UnicodeDecodeError as exc:
                raise _encoding_error(path, f"starts with a {encoding} byte-order mark but is not valid "
                                            f"{encoding} text (offset {exc.start})") from exc
    try:
        return _without_controls(data.decode("utf-8"), path, "UTF-8")
    except UnicodeDecodeError as exc:
        utf8_failure = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise _encoding_error(path, f"is not UTF-8 text ({utf8_failure}) and not cp1252 either") from None
    if CONTROL_CHARS.search(text):
        raise _encoding_error(path, f"is not UTF-8 text ({utf8_failure}; as cp1252 it holds control "
                                    "characters, so it is binary or in another encoding)")
    logger.warning("%s is not UTF-8; read it as cp1252", path)
    return text


def _without_controls(text: str, path: Path, encoding: str) -> str:
    found = CONTROL_CHARS.search(text)
    if found:
        what = "is not UTF-8 text: it" if encoding == "UTF-8" else f"read as {encoding}"
        raise _encoding_error(path, f"{what} holds the control character U+{ord(found.group()):04X} at "
                                    f"character {found.start()} (a UTF-16 file without a byte-order mark, or "
                                    "not a subtitle file)")
    return text


def _encoding_error(path: Path, what: str) -> SubtitleError:
    quoted = shlex.quote(str(path))
    return SubtitleError(path, f"{path.name} {what}",
                         f"find its encoding (`file -i {quoted}`) and convert it: "
                         f"iconv -f <encoding> -t UTF-8 {quoted} -o {shlex.quote(str(path) + '.utf8')}")


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str | None) -> float | None:
    """Seconds of a parsed time, or None when minutes or seconds are above 59."""
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    frac = int(fraction) / 10 ** len(fraction) if fraction else 0.0
    return round(int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + frac, 3)


def _malformed(path: Path, line_no: int, line: str, why: str = "malformed time range") -> SubtitleError:
    return SubtitleError(path, f"{why} on line {line_no}: {line.strip()!r}",
                         f"fix line {line_no} of {path.name} or remove the file (SubRip and WebVTT times "
                         "look like 00:01:02,500 --> 00:01:04,000, ASS times like 0:01:02.50)", line=line_no)


def _span(path: Path, line_no: int, line: str, start: float | None, end: float | None) -> tuple[float, float]:
    if start is None or end is None:
        raise _malformed(path, line_no, line, "minutes or seconds above 59")
    if end < start:
        raise _malformed(path, line_no, line, "the cue ends before it starts")
    return start, end


def _clean_lines(lines: list[str]) -> str:
    return "\n".join(s for s in (" ".join(line.split()) for line in lines) if s)


def _timed_text_cue(lines: list[str], span: tuple[float, float], webvtt: bool, language: str | None,
                    source: str) -> Cue | None:
    plain = [SRT_OVERRIDE.sub("", HTML_TAG.sub("", line)) for line in lines]
    text = _clean_lines([html.unescape(line) for line in plain] if webvtt else plain)
    return Cue(span[0], span[1], text, language, source) if text else None


def parse_timed_text(text: str, path: Path, *, language: str | None, source: str) -> list[Cue]:
    """Cues of SubRip or WebVTT text, sorted by start time; ``path`` names the file in errors.

    A cue is a timing line and the text lines after it up to a blank line; the line before a timing line (a
    SubRip number or a WebVTT identifier) is not text, and neither are WebVTT NOTE/STYLE/REGION blocks. A
    blank line inside a SubRip cue therefore ends its text, and a number right before a timing line is taken
    as that cue's number even without a blank line. Raises SubtitleError naming the line for a timing line
    that does not parse, times whose minutes or seconds pass 59, or a cue that ends before it starts.
    """
    webvtt = text.lstrip().startswith("WEBVTT")
    cues: list[Cue] = []
    span: tuple[float, float] | None = None  # the cue being read
    body: list[str] = []
    skipping = False

    def flush() -> None:
        if span is not None and (cue := _timed_text_cue(body, span, webvtt, language, source)):
            cues.append(cue)

    for line_no, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        timing = TIMING_LINE.match(line)
        if timing:
            if body and body[-1].strip().isdigit():
                body.pop()  # the number of this cue, in a SubRip file that lacks the blank line before it
            flush()
            g = timing.groups()
            span, body, skipping = _span(path, line_no, line, _seconds(*g[:4]), _seconds(*g[4:])), [], False
        elif "-->" in line and not skipping:
            raise _malformed(path, line_no, line)
        elif not line.strip():
            flush()
            span, body, skipping = None, [], False
        elif span is not None:
            body.append(line)
        elif skipping or line.startswith(SKIPPED_BLOCKS):
            skipping = True
        elif TIME_LIKE.match(line):
            raise _malformed(path, line_no, line)
    flush()
    return sorted(cues, key=lambda c: (c.start_s, c.end_s))


def ass_plain_text(text: str) -> str:
    r"""Plain text of an ASS event: override blocks and vector drawings dropped, ``\N`` a new line.

    >>> ass_plain_text(r"{\i1}Hello{\i0},\Nworld{\p1}m 0 0 l 10 0{\p0}")
    'Hello,\nworld'
    """
    kept: list[str] = []
    drawing = False
    for piece in ASS_BLOCK.split(text):
        if piece.startswith("{"):
            scales = ASS_DRAWING.findall(piece)
            drawing = int(scales[-1]) > 0 if scales else drawing
        elif not drawing:
            kept.append(piece)
    plain = "".join(kept).replace("\\N", "\n").replace("\\n", " ").replace("\\h", " ")
    return _clean_lines(plain.split("\n"))


def parse_ass(text: str, path: Path, *, language: str | None, source: str) -> list[Cue]:
    """Cues of the Dialogue lines of an ASS/SSA script's [Events] section, sorted by start time.

    Fields are found by the section's Format line (the usual one when it has none). Comment lines, styles and
    effects are ignored: karaoke and positioned signs keep their text, vector drawings are dropped. Raises
    SubtitleError naming the line for a Dialogue line with too few fields or a malformed time.
    """
    cues: list[Cue] = []
    fields = ASS_DEFAULT_FORMAT
    in_events = False
    for line_no, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_events = stripped.lower() == "[events]"
            continue
        key, _, value = stripped.partition(":")
        if not in_events or not value:
            continue
        if key.lower() == "format":
            fields = tuple(f.strip().lower() for f in value.split(","))
        elif key.lower() == "dialogue":
            parts = value.split(",", len(fields) - 1)
            if len(parts) != len(fields) or not {"start", "end", "text"} <= set(fields):
                raise _malformed(path, line_no, line, f"a Dialogue line without the {len(fields)} fields of "
                                                      "its Format line")
            start, end = (ASS_TIME.match(parts[fields.index(k)].strip()) for k in ("start", "end"))
            if not start or not end:
                raise _malformed(path, line_no, line)
            span = _span(path, line_no, line, _seconds(*start.groups()), _seconds(*end.groups()))
            if plain := ass_plain_text(parts[fields.index("text")]):
                cues.append(Cue(span[0], span[1], plain, language, source))
    return sorted(cues, key=lambda c: (c.start_s, c.end_s))


def parse_subtitle_text(text: str, path: Path, *, language: str | None, source: str) -> list[Cue]:
    """Cues of SubRip, WebVTT or ASS/SSA text, told apart by content (not by the file name).

    Empty text has no cues; other text without any cue raises SubtitleError (it is not a subtitle file).
    """
    is_ass = re.search(r"^\s*\[(script info|events)\]", text, re.IGNORECASE | re.MULTILINE)
    cues = (parse_ass if is_ass else parse_timed_text)(text, path, language=language, source=source)
    if not cues and text.strip() and not is_ass and "-->" not in text:
        raise SubtitleError(path, f"{path.name} holds no subtitle cues (no SubRip, WebVTT or ASS timing "
                            "lines)", "check what the file really is; remove or rename it")
    return cues


def parse_subtitle_file(path: Path, language: str | None = None) -> list[Cue]:
    """Cues of a SubRip (.srt), WebVTT (.vtt) or ASS/SSA (.ass, .ssa) file, sorted by start time.

    ``language`` is given to every cue (the file's content does not say it); the source is
    ``sidecar:<file name>``. Raises SubtitleError for a file that cannot be read, undecodable bytes (see
    ``decode_subtitle_bytes``) or malformed times (naming the line).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SubtitleError(path, f"cannot read the subtitle file: {exc.strerror}",
                            "check the file's permissions, or remove it") from exc
    return parse_subtitle_text(decode_subtitle_bytes(data, path), path, language=language,
                               source=f"sidecar:{path.name}")
