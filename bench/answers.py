"""The answer benchmark: every question of ``bench/answer_questions.json`` (frozen) asked over the bench library
(``bench.answers_library``: the generated search-quality reels and the real clips, indexed once under /tmp), with
the packaged SmolLM2 on 2 CPU threads (or ``--extractive``: the model off). Prints, for the tune and holdout halves
and all together:

- correct: an answerable question not declined whose answer holds a gold phrase;
- cited overlap: the answer cites a span that overlaps the gold span (questions with a gold span);
- verified-but-wrong: claims shown as verified that the gold check calls false (``claim_truth``);
- the verifier's precision and recall against the labels of ``bench/answer_claim_labels.json`` (hand-checked);
- declined: unanswerable questions the answer declines;
- first words: seconds from the end of the search to the first claim shown, p50/p95 (and the NASA question's).

    .venv/bin/python -m bench.answers [--extractive] [--limit N] [--out /tmp/answers.json]
"""

from __future__ import annotations

import qa  # noqa: F401, I001 - first: OpenMP threads wait passively (qa/threads.py), set before torch loads
import argparse
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.answer_questions import ACTION_OBJECT, PLACE_HEAD, QUESTIONS, SUBJECT_HEAD
from bench.answers_library import DEFAULT_HOME, BenchLibrary, build, library_url
from db.session import Database, upgrade
from qa.answering import EvidenceMoment
from qa.errors import NoEvidenceError
from qa.grounding.claims import Verdict
from qa.grounding.extractive import extract
from scenedex.ask_service import AskConfig, AskRequest, AskResult, AskService
from scenedex.search_service import SearchConfig, SearchService
from workers.layout import DataLayout

log = logging.getLogger(__name__)
LABELS = Path(__file__).with_name("answer_claim_labels.json")
NASA = "Where is the Webb telescope being assembled?"


def _mentions(text: str, heads: tuple[str, ...]) -> set[int]:
    low = text.lower()
    return {i for i, h in enumerate(heads) if re.search(rf"\b{h}", low)}


def claim_truth(text: str, facts: set[tuple[int, int, int]]) -> bool | None:
    """The gold check of a claim over the generated library: true when one fact of the plan holds every subject,
    action and place it mentions; None when it mentions none (it is then labelled by hand)."""
    s, a, p = _mentions(text, SUBJECT_HEAD), _mentions(text, ACTION_OBJECT), _mentions(text, PLACE_HEAD)
    if not (s or a or p):
        return None
    return any(s <= {f[0]} and a <= {f[1]} and p <= {f[2]} for f in facts)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> bool:
    return min(a1, b1) - max(a0, b0) > 0


def ask_all(service: AskService, questions: list[dict], root: Path, partial: Path | None = None) -> list[dict]:
    """Every question asked; each row is also appended to ``partial`` (JSON lines) as soon as it is known."""
    rows = []
    for q in questions:
        t0 = time.perf_counter()
        try:
            result: AskResult = service.ask(AskRequest(q["question"]))
        except NoEvidenceError as exc:  # nothing matched at all: refused before answering, as declining
            rows.append({**q, "answer": str(exc), "draft": "", "declined": True, "claims": [],
                         "first_words_after_search_s": time.perf_counter() - t0, "search_s": 0.0,
                         "wall_s": time.perf_counter() - t0})
            continue
        by_n = {m.n: m for m in result.moments}
        evidence = [EvidenceMoment(m.n, m.media_id, m.name, m.start_s, m.end_s, m.lines) for m in result.moments]
        best = extract(q["question"], evidence, service.embed)[:1]  # how close the best line came (for tuning)
        claims = [{"text": c.text, "verdict": str(c.verdict), "support": c.support, "reason": c.reason,
                   "spans": [{"n": x.n, "media": str(Path(by_n[x.n].path).relative_to(root)), "start_s": x.start_s,
                              "end_s": x.end_s} for x in c.citations if x.n in by_n]}
                  for c in (*result.claims, *result.dropped)]
        rows.append({**q, "answer": result.answer, "draft": result.draft, "declined": result.declined,
                     "claims": claims, "evidence": [{"n": m.n, "media_id": m.media_id, "name": m.name,
                                                     "start_s": m.start_s, "end_s": m.end_s,
                                                     "lines": [[x.channel, x.start_s, x.end_s, x.text]
                                                               for x in m.lines]} for m in result.moments],
                     "best_line": [{"coverage": e.coverage, "known": e.known_coverage,
                                                      "semantic": e.semantic, "typed": e.typed} for e in best],
                     "first_words_after_search_s": result.timing.first_words_s
                     - result.timing.search_s, "search_s": result.timing.search_s,
                     "wall_s": time.perf_counter() - t0, "load_1min": os.getloadavg()[0]})
        log.info("%s → %s", q["question"], result.answer[:160])
        if partial is not None:
            with partial.open("a") as f:
                f.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
    return rows


def metrics(rows: list[dict], facts: set[tuple[int, int, int]], labels: dict[str, bool]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    correct = [r for r in answerable if not r["declined"] and any(g.lower() in r["answer"].lower() for g in r["gold"])]
    spanned = [r for r in answerable if r["start_s"] is not None]
    overlap = [r for r in spanned if any(s["media"] == r["media"] and _overlap(s["start_s"], s["end_s"], r["start_s"],
                                                                                r["end_s"])
                                         for c in r["claims"] if c["verdict"] != "unsupported" for s in c["spans"])]
    verified_wrong, judged = [], []
    for r in rows:
        for c in r["claims"]:
            if c["verdict"] == "quoted":
                continue
            truth = labels.get(c["text"])
            if truth is None and not str(r["media"] or "").startswith("real/"):
                truth = claim_truth(c["text"], facts)
            if truth is None:
                continue
            accepted = c["verdict"] == Verdict.VERIFIED
            judged.append((accepted, truth))
            if accepted and not truth:
                verified_wrong.append((r["question"], c["text"]))
    tp = sum(a and t for a, t in judged)
    precision = tp / max(1, sum(a for a, _ in judged))
    recall = tp / max(1, sum(t for _, t in judged))
    words = np.asarray([r["first_words_after_search_s"] for r in rows])
    pct = lambda part, whole: round(100 * len(part) / max(1, len(whole)), 1)
    return {"questions": len(rows), "correct_pct": pct(correct, answerable),
            "cited_overlap_pct": pct(overlap, spanned), "verified_wrong": len(verified_wrong),
            "verified_wrong_examples": verified_wrong[:5], "judged_claims": len(judged),
            "verifier_precision_pct": round(100 * precision, 1), "verifier_recall_pct": round(100 * recall, 1),
            "declined_pct": pct([r for r in unanswerable if r["declined"]], unanswerable),
            "answerable_declined": len([r for r in answerable if r["declined"]]),
            "first_words_p50_s": round(float(np.percentile(words, 50)), 2) if len(words) else None,
            "first_words_p95_s": round(float(np.percentile(words, 95)), 2) if len(words) else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--extractive", action="store_true", help="the answer model off: quotes only")
    parser.add_argument("--limit", type=int, help="the first N questions only")
    parser.add_argument("--ids", help="comma-separated question ids only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--split", choices=("tune", "holdout"), help="one half of the questions only")
    parser.add_argument("--no-build", action="store_true", help="use the library as it is (no indexing)")
    parser.add_argument("--report", type=Path, help="only print the figures of the rows of this JSON-lines file")
    parser.add_argument("--out", type=Path, default=Path("/tmp/scenedex-answers.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "sentence_transformers", "faster_whisper", "indexer", "workers", "search", "scenedex"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    if args.report:
        rows = [json.loads(line) for line in args.report.read_text().splitlines() if line.strip()]
        print(json.dumps(report_of(rows, args.home, args.extractive), indent=1, ensure_ascii=False))
        return
    if args.no_build:
        library = BenchLibrary(args.home / "media", args.home / "data", library_url(args.home))
        upgrade(library.url)  # the schema of this checkout
    else:
        library = build(args.home)
    questions = json.loads(QUESTIONS.read_text())
    if args.ids:
        wanted = {int(x) for x in args.ids.split(",")}
        questions = [q for q in questions if q["id"] in wanted]
    if args.split:
        questions = [q for q in questions if q["split"] == args.split]
    groups: dict[str, int] = {}
    order = []
    for q in questions:  # round robin over question types, so that a partial run covers every kind
        groups[q["type"]] = groups.get(q["type"], 0) + 1
        order.append((groups[q["type"]], q["id"]))
    questions = [q for _, q in sorted(zip(order, questions), key=lambda x: x[0])]
    questions = questions[: args.limit] if args.limit else questions
    db = Database(library.url)
    search = SearchService(db, DataLayout(library.data_dir), SearchConfig())
    if args.extractive:
        from qa.grounding.model_off import ExtractiveOnly

        model: Any = ExtractiveOnly()
    else:
        from qa.packaged_llm import dense_checkpoint
        from qa.text_answerer import TextAnswerer, TextModelSpec

        model = TextAnswerer(TextModelSpec(dense_checkpoint(args.home / "cache"), "smollm2-135m-instruct:q4_1"))
    service = AskService(search, lambda: model, AskConfig())
    try:
        service.ask(AskRequest(NASA))  # warm: the models load once, outside the figures
    except NoEvidenceError:
        log.warning("the NASA clip is not indexed yet")
    partial = args.out.with_suffix(".jsonl")
    partial.unlink(missing_ok=True)
    rows = ask_all(service, questions, library.root, partial)
    report = report_of(rows, args.home, args.extractive)
    args.out.write_text(json.dumps({"report": report, "rows": rows}, indent=1, ensure_ascii=False))
    print(json.dumps(report, indent=1, ensure_ascii=False))


def report_of(rows: list[dict], home: Path, extractive: bool) -> dict[str, Any]:
    library_facts = json.loads((home / "media" / "library.json").read_text())
    facts = {tuple(x["fact"]) for v in library_facts["videos"] for x in (*v["lines"], *v["scenes"])}
    labels = {x["text"]: x["true"] for x in json.loads(LABELS.read_text()) if x["true"] is not None} \
        if LABELS.is_file() else {}
    report: dict[str, Any] = {"model": "extractive" if extractive else "smollm2-135m-instruct:q4_1",
                              "all": metrics(rows, facts, labels)}
    loads = [r["load_1min"] for r in rows if "load_1min" in r]
    if loads:  # the machine's 1-minute load average while the questions were asked (2 cores here)
        report["load_1min_min_median_max"] = [round(min(loads), 1), round(float(np.median(loads)), 1),
                                              round(max(loads), 1)]
    for split in ("tune", "holdout"):
        report[split] = metrics([r for r in rows if r["split"] == split], facts, labels)
    nasa = [r for r in rows if r["question"] == NASA]
    report["nasa_first_words_after_search_s"] = round(nasa[0]["first_words_after_search_s"], 2) if nasa else None
    return report


if __name__ == "__main__":
    main()
