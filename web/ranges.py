"""HTTP range requests (RFC 9110 §14) for one byte range, so a browser player can seek in a video."""

from __future__ import annotations

import re

from search.errors import SearchError

RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
BEYOND_ANY_FILE = 10**18  # a position written with more digits than this is past the end of every file


class RangeError(SearchError):
    """A Range header that cannot be served; ``status`` is 400 (malformed) or 416 (outside the file)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


def parse_range(header: str, size: int) -> tuple[int, int]:
    """'bytes=a-b' -> (first, last) byte offsets, inclusive, clipped to the file.

    >>> parse_range("bytes=0-99", 1000), parse_range("bytes=900-", 1000), parse_range("bytes=-100", 1000)
    ((0, 99), (900, 999), (900, 999))
    """
    value = header.strip().replace(" ", "")
    if "," in value:
        raise RangeError(400, "only one byte range per request is supported (e.g. 'bytes=0-1023')")
    match = RANGE.match(value)
    if match is None or match.group(1) == match.group(2) == "":
        raise RangeError(400, f"malformed Range header {header[:80]!r}: expected 'bytes=FIRST-LAST', 'bytes=FIRST-' "
                              "or 'bytes=-SUFFIX_LENGTH'")
    first_s, last_s = match.groups()
    if first_s == "":
        suffix = _position(last_s)
        if suffix == 0:
            raise RangeError(416, "a suffix range of 0 bytes selects nothing")
        return max(0, size - suffix), size - 1
    first = _position(first_s)
    if first >= size:
        raise RangeError(416, f"range starts at byte {first} but the file has {size} bytes")
    last = _position(last_s) if last_s else size - 1
    if last < first:
        raise RangeError(400, f"range {first}-{last} ends before it starts")
    return first, min(last, size - 1)


def _position(digits: str) -> int:
    """A byte position; thousands of digits are not parsed (Python refuses past 4,300), they are past any end.

    >>> _position("0042"), _position("0" * 5000 + "7"), _position("9" * 5000) == BEYOND_ANY_FILE
    (42, 7, True)
    """
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= 18 else BEYOND_ANY_FILE
