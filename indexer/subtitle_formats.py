"""Subtitle text formats: SubRip, WebVTT and ASS/SSA text to cues (bytes to text: ``indexer.subtitle_encoding``).

Pure functions on text; no ffmpeg here. ``indexer.subtitles`` finds the tracks and converts embedded ones to
one of these formats first, so sidecar files and embedded tracks go through the same parser.

A bad cue (a malformed or reversed time range, an ASS line without its fields) is skipped and counted with its
line; the file's other cues are kept. Only a file with no readable cue at all is refused. Cues that repeat the
text of the cue before them without a gap (ASS typesetting and karaoke write one event per frame or syllable)
are joined into one, so parsing and everything after it stay linear in the number of distinct lines.

Times are seconds from the start of the media, rounded to the millisecond (ASS itself has centiseconds).
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from indexer.subtitle_encoding import SubtitleError, decode_subtitle_bytes

logger = logging.getLogger(__name__)

SIDECAR_MAX_BYTES = 64 * 1024 * 1024  # the largest subtitle file read; real ones are rarely over 5 MB
REPEAT_JOIN_GAP_S = 0.05  # a cue repeating the text of one that ended at most this long before joins it
PROBLEMS_SHOWN = 3  # skipped cues named in a note; the rest are counted

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


@dataclass(frozen=True)
class CueProblem:
    """A cue that was skipped, and why: ``line 14: the cue ends before it starts``."""

    line: int  # 1-based line of the text
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.why}"


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str  # plain text: markup (<i>, {\an8}, ASS override tags) stripped, lines joined with "\n"
    language: str | None  # ISO code when known: a stream tag ("eng") or the sidecar's name ("name.en.srt")
    source: str  # "embedded:<stream index>" or "sidecar:<file name>"


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str | None) -> float | None:
    """Seconds of a parsed time, or None when minutes or seconds are above 59."""
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    frac = int(fraction) / 10 ** len(fraction) if fraction else 0.0
    return round(int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + frac, 3)


def _span(start: float | None, end: float | None) -> tuple[float, float] | str:
    """The cue's (start_s, end_s), or why it has none."""
    if start is None or end is None:
        return "minutes or seconds above 59"
    if end < start:
        return "the cue ends before it starts"
    return start, end


@dataclass(frozen=True)
class ParsedSubtitles:
    """The cues of one file or track, sorted by start time, and what was skipped or repaired on the way."""

    cues: tuple[Cue, ...]
    problems: tuple[CueProblem, ...] = ()  # cues skipped, with their lines
    replaced: int = 0  # undecodable bytes or stray control characters replaced
    joined: int = 0  # cues joined into the cue before them (same text, no gap)

    def note(self) -> str | None:
        """What a user should know about this track, e.g. ``2 cues skipped (line 14: the cue ends before it
        starts; line 30: malformed time range)``; None when it was read whole."""
        parts = []
        if self.problems:
            n = len(self.problems)
            named = "; ".join(str(p) for p in self.problems[:PROBLEMS_SHOWN])
            more = f"; and {n - PROBLEMS_SHOWN} more" if n > PROBLEMS_SHOWN else ""
            parts.append(f"{n} {'cue' if n == 1 else 'cues'} skipped ({named}{more})")
        if self.replaced:
            parts.append(f"{self.replaced} undecodable {'byte' if self.replaced == 1 else 'bytes'} replaced")
        return ", ".join(parts) or None


def _clean_lines(lines: list[str]) -> str:
    return "\n".join(s for s in (" ".join(line.split()) for line in lines) if s)


def _timed_text_cue(lines: list[str], span: tuple[float, float], webvtt: bool, language: str | None,
                    source: str) -> Cue | None:
    plain = [SRT_OVERRIDE.sub("", HTML_TAG.sub("", line)) for line in lines]
    text = _clean_lines([html.unescape(line) for line in plain] if webvtt else plain)
    return Cue(span[0], span[1], text, language, source) if text else None


def parse_timed_text(text: str, *, language: str | None, source: str) -> tuple[list[Cue], list[CueProblem]]:
    """Cues of SubRip or WebVTT text in file order, and the cues skipped with their lines.

    A cue is a timing line and the text lines after it up to a blank line; the line before a timing line (a
    SubRip number or a WebVTT identifier) is not text, and neither are WebVTT NOTE/STYLE/REGION blocks. A
    blank line inside a SubRip cue therefore ends its text, and a number right before a timing line is taken
    as that cue's number even without a blank line. A timing line that does not parse, times whose minutes or
    seconds pass 59, or a cue that ends before it starts skip that cue (its text lines with it).
    """
    webvtt = text.lstrip().startswith("WEBVTT")
    cues: list[Cue] = []
    problems: list[CueProblem] = []
    span: tuple[float, float] | None = None  # the cue being read
    body: list[str] = []
    skipping = False

    def flush() -> None:
        if span is not None and (cue := _timed_text_cue(body, span, webvtt, language, source)):
            cues.append(cue)

    for line_no, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        timing = TIMING_LINE.match(line)
        if timing or ("-->" in line and not skipping) or (span is None and not skipping and TIME_LIKE.match(line)):
            if body and body[-1].strip().isdigit():
                body.pop()  # the number of this cue, in a SubRip file that lacks the blank line before it
            flush()
            g = timing.groups() if timing else None
            found = _span(_seconds(*g[:4]), _seconds(*g[4:])) if g else "malformed time range"
            if isinstance(found, str):
                problems.append(CueProblem(line_no, found))
                span, body, skipping = None, [], True  # the bad cue's text lines go with it
            else:
                span, body, skipping = found, [], False
        elif not line.strip():
            flush()
            span, body, skipping = None, [], False
        elif span is not None:
            body.append(line)
        elif skipping or line.startswith(SKIPPED_BLOCKS):
            skipping = True
    flush()
    return cues, problems


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


def parse_ass(text: str, *, language: str | None, source: str) -> tuple[list[Cue], list[CueProblem]]:
    """Cues of the Dialogue lines of an ASS/SSA script's [Events] section in file order, and the lines skipped.

    Fields are found by the section's Format line (the usual one when it has none). Comment lines, styles and
    effects are ignored: karaoke and positioned signs keep their text, vector drawings are dropped. A Dialogue
    line with too few fields or a malformed or reversed time is skipped.
    """
    cues: list[Cue] = []
    problems: list[CueProblem] = []
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
                problems.append(CueProblem(line_no, f"a Dialogue line without the {len(fields)} fields of its "
                                                    "Format line"))
                continue
            start, end = (ASS_TIME.match(parts[fields.index(k)].strip()) for k in ("start", "end"))
            found = (_span(_seconds(*start.groups()), _seconds(*end.groups())) if start and end
                     else "malformed time range")
            if isinstance(found, str):
                problems.append(CueProblem(line_no, found))
            elif plain := ass_plain_text(parts[fields.index("text")]):
                cues.append(Cue(found[0], found[1], plain, language, source))
    return cues, problems


def join_repeats(cues: list[Cue], max_gap_s: float = REPEAT_JOIN_GAP_S) -> tuple[list[Cue], int]:
    """Cues sorted by start time, each cue that repeats the text of an earlier cue ending at most ``max_gap_s``
    before it joined into that cue; and how many were joined. Linear after the sort.

    >>> a, b, c = (Cue(0.0, 1.0, "Hi", None, "s"), Cue(1.0, 2.0, "Hi", None, "s"), Cue(5.0, 6.0, "Hi", None, "s"))
    >>> [(x.start_s, x.end_s) for x in join_repeats([a, b, c])[0]]
    [(0.0, 2.0), (5.0, 6.0)]
    """
    out: list[Cue] = []
    last_of_text: dict[str, int] = {}
    for cue in sorted(cues, key=lambda c: (c.start_s, c.end_s)):
        i = last_of_text.get(cue.text)
        if i is not None and cue.start_s <= out[i].end_s + max_gap_s:
            if cue.end_s > out[i].end_s:
                prev = out[i]
                out[i] = Cue(prev.start_s, cue.end_s, prev.text, prev.language, prev.source)
            continue
        last_of_text[cue.text] = len(out)
        out.append(cue)
    return out, len(cues) - len(out)


def parse_subtitle_text(text: str, path: Path, *, language: str | None, source: str,
                        replaced: int = 0) -> ParsedSubtitles:
    """Cues of SubRip, WebVTT or ASS/SSA text, told apart by content (not by the file name).

    Empty text has no cues. Raises SubtitleError when the text has no readable cue: naming the first bad line
    when there were cues that could not be read, else saying it is not a subtitle file.
    """
    is_ass = re.search(r"^\s*\[(script info|events)\]", text, re.IGNORECASE | re.MULTILINE)
    cues, problems = (parse_ass if is_ass else parse_timed_text)(text, language=language, source=source)
    if not cues and problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more bad cues)" if len(problems) > 1 else ""
        raise SubtitleError(path, f"no readable cue: {first.why} on line {first.line}{more}",
                            f"fix line {first.line} of {path.name} or remove the file (SubRip and WebVTT times "
                            "look like 00:01:02,500 --> 00:01:04,000, ASS times like 0:01:02.50)",
                            line=first.line)
    if not cues and text.strip() and not is_ass and "-->" not in text:
        raise SubtitleError(path, f"{path.name} holds no subtitle cues (no SubRip, WebVTT or ASS timing "
                            "lines)", "check what the file really is; remove or rename it")
    joined_cues, joined = join_repeats(cues)
    if problems:
        logger.warning("%s: %d cues skipped, first on line %d: %s", path, len(problems), problems[0].line,
                       problems[0].why)
    return ParsedSubtitles(tuple(joined_cues), tuple(problems), replaced, joined)


def parse_subtitle_file(path: Path, language: str | None = None) -> ParsedSubtitles:
    """Cues of a SubRip (.srt), WebVTT (.vtt) or ASS/SSA (.ass, .ssa) file, sorted by start time.

    ``language`` is given to every cue (the file's content does not say it); the source is
    ``sidecar:<file name>``. Files over SIDECAR_MAX_BYTES are refused before they are read. Raises
    SubtitleError for a file that cannot be read, that is not text (``decode_subtitle_bytes``) or that has no
    readable cue.
    """
    try:
        with path.open("rb") as f:
            data = f.read(SIDECAR_MAX_BYTES + 1)
    except OSError as exc:
        raise SubtitleError(path, f"cannot read the subtitle file: {exc.strerror}",
                            "check the file's permissions, or remove it") from exc
    if len(data) > SIDECAR_MAX_BYTES:
        raise SubtitleError(path, f"{path.name} is over {SIDECAR_MAX_BYTES // 2**20} MiB, the most scenedex "
                            "reads from a subtitle file (real ones are rarely over 5 MB)",
                            "check that it really is a subtitle file; split it if it is")
    decoded = decode_subtitle_bytes(data, path)
    return parse_subtitle_text(decoded.text, path, language=language, source=f"sidecar:{path.name}",
                               replaced=decoded.replaced)
