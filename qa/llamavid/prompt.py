"""Prompt assembly: text pieces and frame slots in the order the LLM reads them, in Vicuna v1's chat template.

A prompt is a tuple of pieces: ``Text`` (tokenised by the LLM's tokenizer) and ``Frame`` (the frame's
tokens, 2 per frame in video modes). In long-video mode each frame is followed by the subtitle lines that
belong to it: a line goes after the last frame that starts before the line ends.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
MOVIE_START = "Below is a movie. Memorize the content and answer my question after watching this movie."
MOVIE_END = "Now the movie end."


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Frame:
    index: int  # row of the frame-token tensor


Piece = Text | Frame


@dataclass(frozen=True)
class SubtitleLine:
    start_s: float
    end_s: float
    text: str


def place_subtitles(frame_times_s: Sequence[float], lines: Sequence[SubtitleLine]) -> list[list[str]]:
    """Which lines follow which frame: ``placed[i + 1]`` holds the lines after frame i, ``placed[0]`` those
    that end before any frame starts. Each line goes after the last frame whose time is before the line's
    end.

    >>> place_subtitles([0.0, 1.0, 2.0], [SubtitleLine(0.2, 1.5, "a"), SubtitleLine(2.0, 2.5, "b"),
    ...                                   SubtitleLine(0.0, 1.0, "c")])
    [[], ['c'], ['a'], ['b']]
    """
    assert list(frame_times_s) == sorted(frame_times_s), "frames must be in time order"
    placed: list[list[str]] = [[] for _ in range(len(frame_times_s) + 1)]
    for line in sorted(lines, key=lambda line: (line.end_s, line.start_s)):
        placed[bisect.bisect_left(frame_times_s, line.end_s)].append(line.text)
    return placed


def interleaved_frames(first_frame: int, frame_times_s: Sequence[float],
                       lines: Sequence[SubtitleLine]) -> list[Piece]:
    """Frames ``first_frame``, ``first_frame + 1``, … each followed by its subtitle lines (long-video
    layout)."""
    placed = place_subtitles(frame_times_s, lines)
    pieces: list[Piece] = [Text(" ".join(placed[0]))] if placed[0] else []
    for i in range(len(frame_times_s)):
        pieces.append(Frame(first_frame + i))
        if placed[i + 1]:
            pieces.append(Text(" ".join(placed[i + 1])))
    return pieces


def vicuna_chat(user: Sequence[Piece], system: str = SYSTEM) -> tuple[Piece, ...]:
    """``{system} USER: {user} ASSISTANT:`` with the user's pieces in order; adjacent texts are merged."""
    pieces: list[Piece] = [Text(f"{system} USER: "), *user, Text(" ASSISTANT:")]
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1].text + piece.text)
        elif not (isinstance(piece, Text) and not piece.text):
            merged.append(piece)
    return tuple(merged)


def frame_count(prompt: Sequence[Piece]) -> int:
    return sum(isinstance(piece, Frame) for piece in prompt)
