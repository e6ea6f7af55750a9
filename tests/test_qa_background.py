"""The worker thread an answer model generates on: the reader hears of its deadline while the model is busy,
gets every piece in order, gets the model's error in its own thread, and stops the model by closing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from qa.background import BackgroundStream
from qa.errors import AnswerModelError


def _slow_then_fast(first_delay_s: float, pieces: list[str], log: list[str]) -> Iterator[str]:
    try:
        time.sleep(first_delay_s)  # a long prompt being read
        for piece in pieces:
            log.append(piece)
            yield piece
            time.sleep(0.01)
    finally:
        log.append("closed")


def test_the_reader_hears_the_timeout_while_the_model_is_still_busy() -> None:
    log: list[str] = []
    stream = BackgroundStream(lambda: _slow_then_fast(1.0, ["a", "b", "c"], log))
    t0 = time.perf_counter()
    assert stream.get(0.2) == ("timeout", None)
    assert 0.15 < time.perf_counter() - t0 < 0.6, "the timeout is kept, not the model's pace"
    got = []
    while (outcome := stream.get(5.0))[0] == "piece":
        got.append(outcome[1])
    assert got == ["a", "b", "c"] and outcome == ("end", None) and stream.get(0.0) == ("end", None)
    assert stream.join(2.0) and log[-1] == "closed"


def test_a_model_error_is_raised_in_the_reader() -> None:
    def failing() -> Iterator[str]:
        yield "first"
        raise AnswerModelError("out of memory", "try fewer moments")

    stream = BackgroundStream(failing)
    assert stream.get(5.0) == ("piece", "first")
    with pytest.raises(AnswerModelError, match="out of memory"):
        stream.get(5.0)
    assert stream.get(0.0) == ("end", None)


def test_closing_stops_the_model_after_its_current_piece() -> None:
    log: list[str] = []

    def endless() -> Iterator[str]:
        try:
            n = 0
            while True:
                n += 1
                log.append(str(n))
                yield str(n)
                time.sleep(0.02)
        finally:
            log.append("closed")

    stream = BackgroundStream(endless)
    assert stream.get(5.0) == ("piece", "1")
    stream.close()
    assert stream.join(2.0), "the worker ended"
    assert log[-1] == "closed" and len(log) <= 4, log


@pytest.mark.parametrize("chosen, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_wait_passively_unless_the_user_chose(chosen: str | None, expected: str) -> None:
    """The answer model's worker thread and the sentence model run torch at once: their OpenMP threads must
    sleep, not spin, while they wait (qa/threads.py). libgomp reads the policy when torch loads, so importing qa
    first is enough; a policy the user set is kept."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if chosen is not None:
        env["OMP_WAIT_POLICY"] = chosen
    code = "import os, qa, torch; print(os.environ['OMP_WAIT_POLICY'], qa.threads.prefer_passive_openmp())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [expected, str(expected == "PASSIVE")]
