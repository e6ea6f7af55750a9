"""Why the queries of a search-quality run missed: one class per query whose top moment is not right.

    .venv/bin/python bench/search_misses.py [--result bench/out/search_quality_base.json] [--library frozen]
        [--database URL] [--misheard-wer 0.25]

A miss is a query whose first moment has IoU < 0.5 with the truth. Each is put in the first class that fits:

- (b) boundaries: the first moment is in the right file and overlaps the truth, but IoU < 0.5;
- (c) ranking: a right moment (IoU >= 0.5) is among the top 10, below a wrong one;
- (a) misheard / misread: the target's own words were not read well enough to be found — for a spoken target,
  the words the index holds inside the line's span differ from the line by word error rate >= --misheard-wer;
  for a caption target, the on-screen text the index holds over the scene does;
- (d) other: the target's text is in the index well enough, and no moment of the top 10 is right (the query's
  meaning was not matched, or the truth is on a channel the index does not hold).

Each miss is also marked with whether its evidence was misheard, whatever its class. The reference texts are the
library manifest's (``library.json``: lines, captions); the index's text is read from the library's database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR  # noqa: E402
from bench.search_quality import DEFAULT_DATABASES, SERVER, _iou  # noqa: E402

ROOTS = {"tuned": OUT_DIR / "quality_library_20", "frozen": OUT_DIR / "frozen_library",
         "holdout": OUT_DIR / "holdout_library", "holdout2": OUT_DIR / "holdout2_library",
         "holdout3": OUT_DIR / "holdout3_library", "holdout4": OUT_DIR / "holdout4_library",
         "holdout5": OUT_DIR / "holdout5_library"}
CLASSES = {"a": "misheard / misread", "b": "boundaries", "c": "ranking", "d": "other (meaning)"}


def references(library: str) -> dict[str, dict[str, Any]]:
    """media -> {"lines": [(start_s, end_s, text)], "captions": [(start_s, end_s, text)]} from the manifest."""
    manifest = json.loads((ROOTS[library] / "library.json").read_text())
    rows = manifest["videos"] if library == "tuned" else manifest["reels"]
    out = {}
    for r in rows:
        captions = [(s["start_s"], s["end_s"], s.get("caption") or s.get("text") or "") for s in r["scenes"]]
        out[r["media"]] = {"lines": [(x["start_s"], x["end_s"], x["text"]) for x in r["lines"]],
                           "captions": [c for c in captions if c[2]]}
    return out


def indexed_text(url: str, root: Path) -> dict[str, list[tuple[str, float, float, str, list[Any] | None]]]:
    """media -> its segments (channel, start_s, end_s, text, words or None) as the index holds them."""
    from db.repositories import library as library_repo
    from db.repositories import text as text_repo
    from db.session import Database

    db = Database(url)
    out = {}
    with db.session() as session:
        for m in library_repo.list_media(session):
            path = Path(m.path)
            key = str(path.relative_to(root)) if path.is_relative_to(root) else m.path
            out[key] = [(str(s.channel.value), s.start_s, s.end_s, s.text, (s.detail or {}).get("words"))
                        for s in text_repo.segments_of(session, m.id)]
    db.dispose()
    return out


def evidence_wer(query: dict[str, Any], ref: dict[str, Any], segments: list[Any]) -> float | None:
    """Word error rate of what the index holds over the target against what the target says or shows."""
    from indexer.text_metrics import edit_distance, normalize_words

    start_s, end_s = query["start_s"], query["end_s"]
    if query.get("channel") == "speech":
        said = [t for a, b, t in ref["lines"] if _iou((a, b), (start_s, end_s)) > 0.5]
        heard = [w[2] for ch, _, _, _, words in segments if ch == "speech" for w in words or ()
                 if start_s - 0.3 <= (w[0] + w[1]) / 2 <= end_s + 0.3]
    elif query.get("channel") == "ocr":
        said = [t for a, b, t in ref["captions"] if _iou((a, b), (start_s, end_s)) > 0.5]
        read = [t for ch, a, b, t, _ in segments if ch == "ocr" and min(b, end_s) - max(a, start_s) > 0.5]
        best = min((edit_distance(normalize_words(" ".join(said)), normalize_words(t)) for t in read), default=None)
        ref_words = normalize_words(" ".join(said))
        if not ref_words:
            return None
        return 1.0 if best is None else best / len(ref_words)
    else:
        return None
    ref_words = normalize_words(" ".join(said))
    if not ref_words:
        return None
    return edit_distance(ref_words, normalize_words(" ".join(heard))) / len(ref_words)


def classify(q: dict[str, Any], misheard: bool) -> str:
    top1 = q.get("top1")
    if top1 and top1["media"] == q["media"] and q["top1_iou"] > 0:
        return "b"
    if q.get("first_correct_rank"):
        return "c"
    return "a" if misheard else "d"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--result", type=Path, default=OUT_DIR / "search_quality_base.json")
    parser.add_argument("--library", choices=tuple(ROOTS), default="frozen")
    parser.add_argument("--database", default=None, help="default: the library's default index")
    parser.add_argument("--misheard-wer", type=float, default=0.25)
    parser.add_argument("--show", action="store_true", help="print every miss")
    args = parser.parse_args()
    result = json.loads(args.result.read_text())
    rows = (result[args.library] if args.library in result else result)["queries"]  # speech_swap: one library
    refs = references(args.library)
    text = indexed_text(args.database or f"{SERVER}/{DEFAULT_DATABASES[args.library]}", ROOTS[args.library])
    table: Counter[tuple[str, str, bool]] = Counter()
    misses = 0
    for q in rows:
        if q["top1_iou"] >= 0.5:
            continue
        misses += 1
        wer = evidence_wer(q, refs[q["media"]], text.get(q["media"], [])) if q["media"] in refs else None
        misheard = wer is not None and wer >= args.misheard_wer
        cls = classify(q, misheard)
        group = q.get("channel", "?") if q["media"] in refs else "real clip"
        table[(cls, group, misheard)] += 1
        if args.show:
            top = q.get("top1") or {}
            print(f"  ({cls}) {group:<6} wer={'-' if wer is None else f'{wer:.2f}'} rank={q['first_correct_rank']} "
                  f"iou={q['top1_iou']:.2f} {q['query']!r} -> {top.get('media')} {top.get('start_s')}-"
                  f"{top.get('end_s')} (truth {q['media']} {q['start_s']}-{q['end_s']})")
    print(f"\n{args.library}: {misses} misses of {len(rows)} queries (top-1 IoU < 0.5); evidence misheard = WER >= "
          f"{args.misheard_wer}")
    groups = sorted({g for _, g, _ in table})
    print(f"  {'class':<26}" + "".join(f"{g:>12}" for g in groups) + f"{'all':>8}{'of which misheard':>20}")
    for cls, name in CLASSES.items():
        counts = [sum(n for (c, g, _), n in table.items() if c == cls and g == grp) for grp in groups]
        heard = sum(n for (c, _, m), n in table.items() if c == cls and m)
        print(f"  ({cls}) {name:<22}" + "".join(f"{n:>12}" for n in counts) + f"{sum(counts):>8}{heard:>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
