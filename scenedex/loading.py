"""Saying what a command is waiting for: a step that takes longer than a second (loading a model, starting the
embedded database) is named on stderr with its time, e.g. ``loading the text model… 3.2 s``; quick steps say
nothing. Silent unless the command line turned it on (``announcing``): servers and tests that use the services
directly print nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SLOW_S = 1.0  # a step that takes longer than this is named

_on = threading.Event()


@contextmanager
def announcing() -> Iterator[None]:
    """Name slow steps on ``sys.stderr`` while this lasts."""
    was_on = _on.is_set()
    _on.set()
    try:
        yield
    finally:
        if not was_on:
            _on.clear()


@contextmanager
def step(action: str, slow_s: float = SLOW_S) -> Iterator[None]:
    """Run the block; if it takes longer than ``slow_s``, ``action`` ("loading the answer model") is printed when
    that much time has passed and the time taken when it ends."""
    if not _on.is_set():
        yield
        return
    t0 = time.perf_counter()
    lock = threading.Lock()
    state = {"named": False, "done": False}

    def name_it() -> None:
        with lock:
            if not state["done"]:
                state["named"] = True
                _write(f"{action}…")

    timer = threading.Timer(slow_s, name_it)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        elapsed_s = time.perf_counter() - t0
        with lock:
            state["done"] = True
            if state["named"]:
                _write(f" {elapsed_s:.1f} s\n")
            elif elapsed_s >= slow_s:  # the timer had not run yet
                _write(f"{action}… {elapsed_s:.1f} s\n")


def _write(text: str) -> None:
    stream = sys.stderr
    if stream is not None:
        stream.write(text)
        stream.flush()
