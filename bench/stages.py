"""Wall time per ingest stage, measured by wrapping the stage functions for the length of a benchmark run (the
code under test is not changed): frames (decode + shot cuts), OCR (its own decode, then probe, detect and
recognise), speech, subtitles, text embedding, database writes, model loading."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import indexer.screen_text
import indexer.text_embedding
import workers.ingest
import workers.models

STAGES = ("frames: decode + shots", "ocr: decode", "ocr: probe, detect, recognise", "speech", "subtitles",
          "text embedding", "database", "model loading")


@contextmanager
def stage_timer() -> Iterator[tuple[dict[str, float], dict[str, list[Any]]]]:
    """Yields (seconds per stage, (args, outcome) of each call per kept function) while the stages are wrapped."""
    seconds: dict[str, float] = defaultdict(float)
    outcomes: dict[str, list[Any]] = defaultdict(list)
    patches: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, stage: str, keep: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                result = original(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - t0
            if keep:
                outcomes[name].append((args, result))
            return result

        patches.append((owner, name, original))
        setattr(owner, name, timed)

    wrap(workers.ingest, "run_frames", "frames: decode + shots")
    wrap(workers.ingest, "run_ocr", "ocr", keep=True)
    wrap(indexer.screen_text.ScreenTextReader, "feed", "ocr: probe, detect, recognise")
    wrap(indexer.screen_text.ScreenTextReader, "finish", "ocr: probe, detect, recognise")
    wrap(workers.ingest, "run_speech", "speech")
    wrap(workers.ingest, "run_subtitles", "subtitles")
    wrap(indexer.text_embedding.TextEncoder, "encode", "text embedding")
    wrap(workers.ingest, "commit_media", "commit")
    original_get = workers.models.RunModels._get

    def timed_get(self: Any, name: str, load: Callable[[], Any]) -> Any:
        if name in self._loaded:
            return original_get(self, name, load)
        t0 = time.perf_counter()
        try:
            return original_get(self, name, load)
        finally:
            seconds[f"load {name}"] += time.perf_counter() - t0

    patches.append((workers.models.RunModels, "_get", original_get))
    workers.models.RunModels._get = timed_get  # type: ignore[method-assign]
    try:
        yield seconds, outcomes
    finally:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)


def breakdown(seconds: dict[str, float]) -> dict[str, float]:
    """Exclusive seconds per stage: a stage's time less the stages and model loads measured inside it."""
    s = defaultdict(float, seconds)
    ocr_compute = s["ocr: probe, detect, recognise"]
    loads = sum(v for k, v in s.items() if k.startswith("load "))
    return {
        "frames: decode + shots": s["frames: decode + shots"] - s["load vision"],
        "ocr: decode": s["ocr"] - ocr_compute - s["load ocr"],
        "ocr: probe, detect, recognise": ocr_compute,
        "speech": s["speech"] - s["load speech"],
        "subtitles": s["subtitles"],
        "text embedding": s["text embedding"],
        "database": s["commit"] - s["text embedding"] - s["load text"],
        "model loading": loads,
    }
