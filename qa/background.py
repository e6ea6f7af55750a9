"""An answer model's stream run on a worker thread, so that whoever reads it can keep a deadline.

A model's stream gives nothing back until its prompt is read (the prefill: seconds for a long prompt on a busy
CPU), so a reader that checks the clock only between pieces cannot keep "first words within 3 s". Here the model
generates on a daemon thread into a queue, and the reader waits on the queue with a timeout: when the time is up
it hears so at once, whatever the model is doing, and can show the quoted evidence line instead.

Closing the stream (the reader stopped, or a client went away) asks the worker to stop after its current piece.
An error raised by the model is raised again in the reader's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
Outcome = Literal["piece", "end", "timeout"]


class BackgroundStream(Generic[T]):
    """``make()``'s items, produced on a worker thread; read them with ``get``."""

    def __init__(self, make: Callable[[], Iterator[T]], name: str = "scenedex-answer") -> None:
        self._queue: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(make,), name=name, daemon=True)
        self._thread.start()

    def _run(self, make: Callable[[], Iterator[T]]) -> None:
        try:
            items = make()
            try:
                for item in items:
                    self._queue.put((True, item))
                    if self._stop.is_set():
                        break
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()  # a generator's own clean-up (its finally blocks) runs here, on its thread
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
            self._queue.put((False, exc))
            return
        self._queue.put((False, None))

    def get(self, timeout_s: float | None = None) -> tuple[Outcome, T | None]:
        """The next item ("piece", item), the end ("end", None), or ("timeout", None) when ``timeout_s`` seconds
        pass first (None: wait as long as it takes). A model error is raised here."""
        if self._done:
            return "end", None
        try:
            is_item, value = self._queue.get(timeout=None if timeout_s is None else max(0.0, timeout_s))
        except queue.Empty:
            return "timeout", None
        if is_item:
            return "piece", value  # type: ignore[return-value]
        self._done = True
        if isinstance(value, BaseException):
            raise value
        return "end", None

    def close(self) -> None:
        """Ask the worker to stop after the piece it is making (it is not waited for)."""
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the worker to finish; True when it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
