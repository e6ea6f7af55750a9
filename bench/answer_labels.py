"""Hand labels for the verifier: every sentence the packaged model wrote in a benchmark run (``bench.answers
--out``), and mutations of the ones it got right (a subject, place or object swapped for another of the library,
a negation added, a number changed: false by construction), each with the evidence it was checked against and a
label ``true`` (the library supports it) or ``false``.

    python -m bench.answer_labels propose /tmp/scenedex-answers.json   # writes the file; labels proposed by the
        # plan's ground truth (bench.answers.claim_truth), null where a person must decide; then checked by hand
    python -m bench.answer_labels add /tmp/scenedex-answers.jsonl --round 2   # appends the run's new sentences,
        # unlabelled (true: null), for a person to judge against the gold and the evidence, with a short reason
    python -m bench.answer_labels score                                # the verifier against the labels

``score`` re-runs the current verifier on each labelled claim against its stored evidence, so thresholds can be
compared without re-running the model; it prints precision, recall and the claims verified but labelled false.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from bench.answer_questions import ACTION_OBJECT, PLACE_HEAD, SUBJECT_HEAD
from bench.answers import LABELS, claim_truth
from bench.answers_library import DEFAULT_HOME
from qa.answering import EvidenceMoment, TimedLine
from qa.grounding.claims import Verdict


def _mutations(text: str, rng: random.Random) -> list[str]:
    out = []
    low = text.lower()
    for heads in (SUBJECT_HEAD, PLACE_HEAD, ACTION_OBJECT):
        present = [h for h in heads if re.search(rf"\b{h}\b", low)]
        if present:
            other = rng.choice([h for h in heads if h not in present])
            out.append(re.sub(rf"\b{present[0]}\b", other, text, count=1, flags=re.I))
    negated = re.sub(r"\b(was|is|did)\b", r"\1 not", text, count=1)
    if negated == text:
        negated = re.sub(r"\b(\w+ed)\b", r"did not \1", text, count=1)
    if negated != text:
        out.append(negated)
    number = re.search(r"\b\d+\b", text)
    if number:
        out.append(text[:number.start()] + str(int(number.group()) + 3) + text[number.end():])
    return out


def propose(run: Path) -> list[dict]:
    text = run.read_text()
    rows = ([json.loads(line) for line in text.splitlines() if line.strip()] if run.suffix == ".jsonl"
            else json.loads(text)["rows"])
    library = json.loads((DEFAULT_HOME / "media" / "library.json").read_text())
    facts_known = {tuple(x["fact"]) for v in library["videos"] for x in (*v["lines"], *v["scenes"])}
    rng = random.Random(5)
    labels = []
    for r in rows:
        for c in r["claims"]:
            if c["verdict"] == "quoted":
                continue
            truth = None if str(r["media"] or "").startswith("real/") else claim_truth(c["text"], facts_known)
            labels.append({"id": r["id"], "question": r["question"], "text": c["text"], "source": "model",
                           "verdict_then": c["verdict"], "true": truth, "evidence": r["evidence"]})
            if c["verdict"] == "verified":
                for m in _mutations(c["text"], rng):
                    labels.append({"id": r["id"], "question": r["question"], "text": m, "source": "mutation",
                                   "verdict_then": None, "true": False, "evidence": r["evidence"]})
    return labels


def add(run: Path, labels: list[dict], round_no: int) -> list[dict]:
    """``labels`` and, appended, the model's sentences of ``run`` not labelled yet (quotes are not the model's),
    unlabelled (``true``: null, ``reason``: empty) for a person to judge against the gold answer and the
    evidence."""
    text = run.read_text()
    rows = ([json.loads(line) for line in text.splitlines() if line.strip()] if run.suffix == ".jsonl"
            else json.loads(text)["rows"])
    seen = {x["text"] for x in labels}
    out = list(labels)
    for r in rows:
        for c in r["claims"]:
            if c["verdict"] == "quoted" or c["text"] in seen:
                continue
            seen.add(c["text"])
            out.append({"id": r["id"], "question": r["question"], "text": c["text"], "source": "model",
                        "verdict_then": c["verdict"], "true": None, "reason": "", "round": round_no,
                        "gold": r["gold"], "evidence": r["evidence"]})
    return out


def score(labels: list[dict]) -> dict:
    """The verifier against every label, and against each labelling round alone (``round``: 1 for the first
    labels, which the thresholds were tuned with; 2 for claims labelled afterwards, unseen by the tuning)."""
    from indexer.text_embedding import MINILM_NAME, TextEncoder

    encode = TextEncoder(MINILM_NAME).encode  # the verifier's model (scenedex.ask_service.AskService.embed)
    rounds = sorted({int(x.get("round", 1)) for x in labels})
    return {"all": _score(labels, encode),
            **{f"round_{r}": _score([x for x in labels if int(x.get("round", 1)) == r], encode) for r in rounds}}


def _score(labels: list[dict], encode) -> dict:
    from qa.grounding.verify import Verifier

    verifier = Verifier(encode)
    judged, wrong = [], []
    for x in labels:
        if x["true"] is None:
            continue
        moments = tuple(EvidenceMoment(m["n"], m["media_id"], m["name"], m["start_s"], m["end_s"],
                                       tuple(TimedLine(*line) for line in m["lines"])) for m in x["evidence"])
        claim = verifier.check(x["text"], x["question"], moments, [])
        accepted = claim.verdict == Verdict.VERIFIED
        judged.append((accepted, bool(x["true"])))
        if accepted and not x["true"]:
            wrong.append(x["text"])
    tp = sum(a and t for a, t in judged)
    return {"labelled": len(judged), "true": sum(t for _, t in judged),
            "precision_pct": round(100 * tp / max(1, sum(a for a, _ in judged)), 1),
            "recall_pct": round(100 * tp / max(1, sum(t for _, t in judged)), 1),
            "verified_but_false": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("propose")
    p.add_argument("run", type=Path)
    a = sub.add_parser("add", help="append a run's unlabelled model sentences (true: null) to label by hand")
    a.add_argument("run", type=Path)
    a.add_argument("--round", type=int, default=2)
    sub.add_parser("score")
    args = parser.parse_args()
    if args.command == "add":
        labels = add(args.run, json.loads(LABELS.read_text()), args.round)
        LABELS.write_text(json.dumps(labels, indent=1, ensure_ascii=False) + "\n")
        print(f"{len(labels)} claims, {sum(x['true'] is None for x in labels)} to label by hand")
    elif args.command == "propose":
        labels = propose(args.run)
        LABELS.write_text(json.dumps(labels, indent=1, ensure_ascii=False) + "\n")
        print(f"{len(labels)} claims, {sum(x['true'] is None for x in labels)} to label by hand")
    else:
        print(json.dumps(score(json.loads(LABELS.read_text())), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
