"""Column types. File names on POSIX are bytes; Postgres text is UTF-8.

Python hands scenedex the names that are not UTF-8 with each stray byte as a lone surrogate (U+DC80-U+DCFF,
``os.fsdecode``), which Postgres cannot store. ``FsPath`` stores each of them as a private-use code point of
plane 16 (U+10FE80-U+10FEFF, one per byte value) and turns it back when it reads the row, so a path comes back
exactly as the file system gave it and opens the same file. The only name this cannot round-trip is one that
really holds one of those 128 private-use code points: it would come back as the byte they stand for.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

_SURROGATE_FIRST = 0xDC80  # os.fsdecode's stand-in for byte 0x80
_STORED_FIRST = 0x10FE80  # what scenedex stores for byte 0x80
_TO_STORED = {_SURROGATE_FIRST + i: _STORED_FIRST + i for i in range(128)}
_FROM_STORED = {v: k for k, v in _TO_STORED.items()}


def to_stored(path: str) -> str:
    r"""A path as Postgres can store it, losslessly.

    >>> to_stored("caf\udce9.mp4") == "caf\U0010fee9.mp4", to_stored("café.mp4")
    (True, 'café.mp4')
    """
    return path.translate(_TO_STORED)


def from_stored(text: str) -> str:
    r"""The path as the file system named it.

    >>> from_stored(to_stored("caf\udce9.mp4")) == "caf\udce9.mp4"
    True
    """
    return text.translate(_FROM_STORED)


def shown(path: str) -> str:
    r"""A path for people: bytes that are not UTF-8 shown as ``\xNN`` (the name itself is kept as it is).

    >>> shown("caf\udce9.mp4"), shown("café.mp4")
    ('caf\\xe9.mp4', 'café.mp4')
    """
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class FsPath(TypeDecorator[str]):
    """Text holding a file-system path, any bytes the file system allows (see the module's docstring)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else to_stored(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else from_stored(value)
