"""Wall time per ingest stage, measured by wrapping the stage functions for the length of a benchmark run (the
code under test is not changed): decode (the time spent waiting on ffmpeg for each batch of frames: pictures and
shot cuts), the frames channel's encoders, OCR (probe, detect, recognise), speech, subtitles, text embedding,
database writes, model loading. With one decode for every channel (``workers.file_pass``) decode and speech run in
threads of their own, overlapping OCR: their seconds are busy time, not a share of the run's wall time. With several
files at once (``index_paths(jobs=...)``) every stage's seconds are summed over the files' threads too, so they can
add up to more than the run's wall time; ``ocr: wall covered`` is the wall time during which at least one OCR call
ran (the union of their intervals), which cannot."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import indexer.ocr
import indexer.sampling
import indexer.screen_text
import indexer.screen_text_segments
import indexer.text_embedding
import workers.channels
import workers.file_pass
import workers.ingest
import workers.models

STAGES = ("decode (waiting on ffmpeg)", "frames: encoders", "ocr: probe, detect, recognise", "speech", "subtitles",
          "text embedding", "database", "model loading")
OVERLAPPED = ("decode (waiting on ffmpeg)", "speech", "subtitles")  # in threads of their own in the one pass
OCR = "ocr: probe, detect, recognise"


@contextmanager
def stage_timer() -> Iterator[tuple[dict[str, float], dict[str, list[Any]]]]:
    """Yields (seconds per stage, (args, outcome) of each call per kept function) while the stages are wrapped."""
    seconds: dict[str, float] = defaultdict(float)
    outcomes: dict[str, list[Any]] = defaultdict(list)
    patches: list[tuple[Any, str, Any]] = []
    ocr_intervals: list[tuple[float, float]] = []  # (start, end) perf_counter seconds of each OCR call

    def wrap(owner: Any, name: str, stage: str, keep: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                result = original(*args, **kwargs)
            finally:
                t1 = time.perf_counter()
                seconds[stage] += t1 - t0
                seconds[f"cpu {stage}"] += time.thread_time() - c0
                if stage == OCR:
                    ocr_intervals.append((t0, t1))
            if keep:
                outcomes[name].append((args, result))
                seconds[f"{stage}: {args[0].path.name}"] += time.perf_counter() - t0  # args[0]: the MediaInfo
            return result

        patches.append((owner, name, original))
        setattr(owner, name, timed)

    wrap(workers.ingest, "run_ocr", "ocr (own decode)", keep=True)
    wrap(workers.ingest, "run_file_pass", "file pass", keep=True)
    wrap(workers.channels.FramesConsumer, "feed", "frames: encoders")
    wrap(indexer.screen_text.ScreenTextReader, "feed", OCR)
    wrap(indexer.screen_text_segments.SegmentedScreenText, "finish", OCR)  # the segments' readings joined
    for owner in (workers.ingest, workers.file_pass):
        wrap(owner, "run_speech", "speech")
        wrap(owner, "run_subtitles", "subtitles")
    original_batches = indexer.sampling.FrameSampler.batches

    def timed_batches(self: Any) -> Iterator[Any]:
        batches = original_batches(self)
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                seconds["decode (waiting on ffmpeg)"] += time.perf_counter() - t0
                return
            seconds["decode (waiting on ffmpeg)"] += time.perf_counter() - t0
            yield batch

    patches.append((indexer.sampling.FrameSampler, "batches", original_batches))
    indexer.sampling.FrameSampler.batches = timed_batches  # type: ignore[method-assign]
    original_encode = indexer.text_embedding.TextEncoder._encode

    def timed_encode(self: Any, texts: list[str], query: bool) -> Any:  # one model's work: a joined model's
        if self._parts or query:  # parts are timed each (they call ``_encode``), not again as their sum
            return original_encode(self, texts, query)
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return original_encode(self, texts, query)
        finally:
            seconds["text embedding"] += time.perf_counter() - t0
            seconds["cpu text embedding"] += time.thread_time() - c0
            outcomes["text embedding"].append((self, list(texts)))

    patches.append((indexer.text_embedding.TextEncoder, "_encode", original_encode))
    indexer.text_embedding.TextEncoder._encode = timed_encode  # type: ignore[method-assign]
    original_commit = workers.ingest.commit_media
    committing: set[int] = set()  # the threads inside a commit (several files commit at once)

    def timed_commit(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        committing.add(threading.get_ident())
        try:
            return original_commit(*args, **kwargs)
        finally:
            committing.discard(threading.get_ident())
            seconds["commit"] += time.perf_counter() - t0

    patches.append((workers.ingest, "commit_media", original_commit))
    workers.ingest.commit_media = timed_commit  # type: ignore[assignment]
    original_rec = indexer.ocr.LineRecogniser.__call__

    def timed_rec(self: Any, x: Any) -> Any:  # recognitions in OCR's worker threads: their CPU is OCR's too
        if not threading.current_thread().name.startswith("scenedex-ocr-rec"):
            return original_rec(self, x)
        c0 = time.thread_time()
        try:
            return original_rec(self, x)
        finally:
            seconds["cpu ocr workers"] += time.thread_time() - c0

    patches.append((indexer.ocr.LineRecogniser, "__call__", original_rec))
    indexer.ocr.LineRecogniser.__call__ = timed_rec  # type: ignore[method-assign]
    original_get = workers.models.RunModels._get

    def timed_get(self: Any, name: str, load: Callable[[], Any]) -> Any:
        def timed_load() -> Any:  # the load itself: a thread waiting for another's load of the model is not timed
            t0 = time.perf_counter()
            try:
                return load()
            finally:
                seconds[f"load {name}"] += time.perf_counter() - t0
                if _on_a_files_thread():
                    seconds["model loading on a file's thread"] += time.perf_counter() - t0
                if threading.get_ident() in committing:
                    seconds["load during commit"] += time.perf_counter() - t0

        return original_get(self, name, timed_load)

    patches.append((workers.models.RunModels, "_get", original_get))
    workers.models.RunModels._get = timed_get  # type: ignore[method-assign]
    try:
        yield seconds, outcomes
    finally:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)
        seconds["ocr: wall covered"] = covered_s(ocr_intervals)


def _on_a_files_thread() -> bool:
    """The thread that runs a file's pass and commit (``workers.index_files``; the main thread before it)."""
    thread = threading.current_thread()
    return thread is threading.main_thread() or thread.name.startswith("scenedex-file")


def covered_s(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals.

    >>> covered_s([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)])
    4.0
    """
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def cpu_breakdown(seconds: dict[str, float]) -> dict[str, float]:
    """CPU seconds of this process's own thread per stage, where a stage runs its work in the calling thread
    (OCR, speech and text embedding do; decoding is ffmpeg's, a child process, not counted here), plus OCR's
    recognitions in its worker threads."""
    s = defaultdict(float, seconds)
    out = {name: s[f"cpu {name}"] for name in ("ocr: probe, detect, recognise", "speech", "text embedding")}
    out["ocr: probe, detect, recognise"] += s["cpu ocr workers"]
    return out


def breakdown(seconds: dict[str, float]) -> dict[str, float]:
    """Seconds per stage: busy time of each (decode and speech overlap the rest in the one pass; the speech
    thread also loads the sentence model); the database is the commit less the text embedding and the model
    loading done inside it."""
    s = defaultdict(float, seconds)
    return {
        "decode (waiting on ffmpeg)": s["decode (waiting on ffmpeg)"],
        "frames: encoders": s["frames: encoders"],
        "ocr: probe, detect, recognise": s["ocr: probe, detect, recognise"],
        "speech": s["speech"] - s["load speech"],
        "subtitles": s["subtitles"],
        "text embedding": s["text embedding"],
        "database": s["commit"] - s["text embedding"] - s["load during commit"],
        "model loading": sum(v for k, v in s.items() if k.startswith("load ")),
    }
