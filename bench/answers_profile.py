"""Where the time between the end of the search and the first words of an answer goes: each step of ``ask`` is
timed (the moments' lines from the database, the budget plan, the evidence scoring of ``qa.grounding.extract``,
the sentence model's calls, the verifier) for the questions of the answer benchmark, over its library
(``bench.answers_library``, built beforehand), and printed per question and as p50/p95.

    .venv/bin/python -m bench.answers_profile [--split tune] [--extractive] [--ids 1,2] [--threads 2]
"""

from __future__ import annotations

import qa  # noqa: F401, I001 - first: OpenMP threads wait passively (qa/threads.py), set before torch loads
import argparse
import functools
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.answers import NASA
from bench.answers_library import DEFAULT_HOME, library_url
from db.session import Database
from qa.errors import NoEvidenceError
from qa.grounding import answer as grounded_answer
from qa.grounding import verify
from scenedex import ask_service
from scenedex.ask_service import AskConfig, AskRequest, AskService
from scenedex.search_service import SearchConfig, SearchService
from workers.layout import DataLayout

STEPS: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            STEPS[name] += time.perf_counter() - t0
            COUNTS[name] += 1

    return wrapper


def instrument(service: AskService) -> None:
    for name in ("_search", "_media", "_evidence_moment", "_fit"):
        setattr(service, name, timed(name, getattr(service, name)))
    embed = service.embed

    def counting_embed(texts: list[str]) -> np.ndarray:
        COUNTS["embedded_texts"] += len(texts)
        return embed(texts)

    service.embed = timed("embed", counting_embed)  # type: ignore[method-assign]
    grounded_answer.GroundedSession.__init__ = timed("session_init (extract)",  # type: ignore[method-assign]
                                                     grounded_answer.GroundedSession.__init__)
    verify.Verifier.check = timed("verifier.check", verify.Verifier.check)  # type: ignore[method-assign]
    ask_service.AnswerStream.events = _timed_events(ask_service.AnswerStream.events)  # type: ignore[method-assign]


def _timed_events(events: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(events)
    def wrapper(self: Any) -> Any:
        t0 = time.perf_counter()
        first = None
        for item in events(self):
            if item[0] == "claim" and first is None:
                first = time.perf_counter() - t0
            yield item
        STEPS["events_to_first_claim"] += first if first is not None else time.perf_counter() - t0

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--extractive", action="store_true")
    parser.add_argument("--split", choices=("tune", "holdout"))
    parser.add_argument("--ids")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/scenedex-answers-profile.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    from bench.answer_questions import QUESTIONS

    questions = json.loads(QUESTIONS.read_text())
    if args.split:
        questions = [q for q in questions if q["split"] == args.split]
    if args.ids:
        wanted = {int(x) for x in args.ids.split(",")}
        questions = [q for q in questions if q["id"] in wanted]
    search = SearchService(Database(library_url(args.home)), DataLayout(args.home / "data"), SearchConfig())
    if args.extractive:
        from qa.grounding.model_off import ExtractiveOnly

        model: Any = ExtractiveOnly()
    else:
        from qa.packaged_llm import dense_checkpoint
        from qa.text_answerer import TextAnswerer, TextModelSpec

        model = TextAnswerer(TextModelSpec(dense_checkpoint(args.home / "cache"), "smollm2-135m-instruct:q4_1"))
    service = AskService(search, lambda: model, AskConfig())
    service.ask(AskRequest(NASA))  # warm
    instrument(service)
    rows = []
    for q in questions:
        STEPS.clear()
        COUNTS.clear()
        try:
            result = service.ask(AskRequest(q["question"]))
        except NoEvidenceError:
            continue
        after_search = result.timing.first_words_s - result.timing.search_s
        rows.append({"id": q["id"], "question": q["question"], "declined": result.declined,
                     "first_words_after_search_s": round(after_search, 3), "load_1min": os.getloadavg()[0],
                     **{k: round(v, 3) for k, v in STEPS.items()}, **{f"n_{k}": v for k, v in COUNTS.items()}})
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps(rows, indent=1))
    keys = sorted({k for r in rows for k in r if isinstance(r[k], float) and k != "load_1min"})
    for k in keys:
        values = np.asarray([r.get(k, 0.0) for r in rows])
        print(f"{k:32s} p50 {np.percentile(values, 50):6.2f}  p95 {np.percentile(values, 95):6.2f}")


if __name__ == "__main__":
    main()
