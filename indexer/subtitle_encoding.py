"""Bytes of a subtitle file to text: the encoding policy, tolerant of a few stray bytes.

UTF-8 (with or without a byte-order mark), UTF-16/32 with a mark, else cp1252 when that decodes cleanly, else
UTF-8 with its stray bytes replaced, as long as they are few (``stray_limit``): a bad copy or a hand edit leaves
a few, a binary file or another encoding has them everywhere and is refused with a conversion hint.
"""

from __future__ import annotations

import codecs
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
STRAY_MIN = 8  # undecodable bytes or control characters any file may hold and still be read (then replaced)
STRAY_FRACTION_DIVISOR = 1000  # ... or one per thousand characters, whichever is more


class SubtitleError(IndexerError):
    """A subtitle file or track cannot be read: bad encoding, no readable cue, or ffmpeg failed on it.

    ``line`` is the 1-based line of the text where the problem is, when there is one.
    """

    def __init__(self, path: Path | str, reason: str, hint: str = "", detail: str = "",
                 line: int | None = None) -> None:
        super().__init__(path, reason, hint, detail)
        self.line = line


@dataclass(frozen=True)
class DecodedText:
    text: str
    replaced: int  # undecodable bytes and stray control characters replaced by U+FFFD or dropped


def stray_limit(n_chars: int) -> int:
    """How many undecodable bytes or control characters a text file may hold and still be read as text: a few
    stray bytes from a bad copy or a hand edit are replaced, while a binary file or a file in another encoding
    (where they are everywhere) is refused.

    >>> stray_limit(100), stray_limit(100_000)
    (8, 100)
    """
    return max(STRAY_MIN, n_chars // STRAY_FRACTION_DIVISOR)


def decode_subtitle_bytes(data: bytes, path: Path) -> DecodedText:
    """Text of a subtitle file: UTF-8 (BOM or not), UTF-16/32 with a BOM, else cp1252 if that is clean, else
    UTF-8 with its few stray bytes replaced (counted in ``replaced``).

    cp1252 is a guess (old Western European files); it is taken only when every byte decodes and the text has
    no control characters besides tab and newlines, which random bytes and most other encodings fail. Up to
    ``stray_limit`` undecodable bytes or control characters are replaced; more than that is not text.
    """
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            decoded = _decode_replacing(data, encoding)
            if decoded.replaced > stray_limit(len(decoded.text)):
                raise _encoding_error(path, f"starts with a {encoding} byte-order mark but is not valid "
                                            f"{encoding} text ({decoded.replaced} undecodable characters)")
            return _without_controls(decoded, path, encoding)
    try:
        return _without_controls(DecodedText(data.decode("utf-8"), 0), path, "UTF-8")
    except UnicodeDecodeError as exc:
        utf8_failure = f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None and not CONTROL_CHARS.search(text):
        logger.warning("%s is not UTF-8; read it as cp1252", path)
        return DecodedText(text, 0)
    decoded = _decode_replacing(data, "utf-8")
    if decoded.replaced > stray_limit(len(decoded.text)):
        raise _encoding_error(path, f"is not UTF-8 text ({utf8_failure}; {decoded.replaced} bytes in all are "
                                    "not UTF-8, and it is not clean cp1252 either)")
    logger.warning("%s: %d bytes are not UTF-8; replaced", path, decoded.replaced)
    return _without_controls(decoded, path, "UTF-8")


def _decode_replacing(data: bytes, encoding: str) -> DecodedText:
    """``data`` decoded with undecodable bytes replaced by U+FFFD, and how many were (U+FFFD written in the
    file itself is not counted)."""
    text = data.decode(encoding, errors="replace")
    written = data.count("\ufffd".encode("utf-8")) if encoding.startswith("utf-8") else 0
    return DecodedText(text, max(0, text.count("\ufffd") - written))


def _without_controls(decoded: DecodedText, path: Path, encoding: str) -> DecodedText:
    """The text with a few stray control characters dropped (counted); many of them mean it is not text."""
    found = CONTROL_CHARS.findall(decoded.text)
    if not found:
        return decoded
    if decoded.replaced + len(found) > stray_limit(len(decoded.text)):
        first = CONTROL_CHARS.search(decoded.text)
        assert first is not None
        what = "is not UTF-8 text: it" if encoding == "UTF-8" else f"read as {encoding}"
        raise _encoding_error(path, f"{what} holds the control character U+{ord(first.group()):04X} at "
                                    f"character {first.start()} and {len(found) - 1} more (a UTF-16 file "
                                    "without a byte-order mark, or not a subtitle file)")
    return DecodedText(CONTROL_CHARS.sub("", decoded.text), decoded.replaced + len(found))


def _encoding_error(path: Path, what: str) -> SubtitleError:
    quoted = shlex.quote(str(path))
    return SubtitleError(path, f"{path.name} {what}",
                         f"find its encoding (`file -i {quoted}`) and convert it: "
                         f"iconv -f <encoding> -t UTF-8 {quoted} -o {shlex.quote(str(path) + '.utf8')}")
