"""`scenedex ask`: a question answered from the library's moments, streamed to the terminal, with the moments it
was built from and their timestamps."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from qa.answering import TimedLine
from qa.grounding.claims import Claim
from qa.grounding.words import content_stems, stem
from scenedex.ask_service import AskedMoment, AskRequest, AskResult
from scenedex.runtime import ask_service, open_database
from scenedex.settings import Settings
from search.request import SearchFilters

ASK_HELP = """\
Answer a question from what the library's videos say, subtitle and show on screen. scenedex searches the
question's moments and gives their timed lines to a small language model; every sentence of its answer is
checked against the moment it cites (numbers, times, names and words must be in that moment's text, and the
sentence model must find it supported) and shown with that moment's file and time, e.g.
  The old lens weighs almost four tons [lighthouse_keeper.mp4 0:40.0–0:44.0].
Sentences the evidence does not hold are dropped (their count is shown; --show-dropped lists them). When none
survives, or with --extractive (or SCENEDEX_ASK_MODEL=none), the answer quotes the evidence line that answers,
with its time. When no moment answers the question, scenedex says so and lists the nearest moments.
The timestamps are scenedex's own, never the model's.

examples:
  scenedex ask "where is the Webb telescope being assembled?"
  scenedex ask "who opened the meeting?" --path "*/2019/*" --max-moments 3
  scenedex ask "what did the captain say about the storm?" --json | jq .claims
  scenedex ask --extractive "how heavy is the old lens?"

The embedded model (SmolLM2-135M-Instruct, packaged) answers from text only and is small: check its answers
against the moments. SCENEDEX_ASK_MODEL points at a larger local Llama-architecture instruct model directory.
"""


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ask", parents=[common], help="answer a question from the library's moments, with timestamps",
                       description=ASK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question", nargs="*", help="the question, e.g. where is the telescope assembled")
    p.add_argument("--max-moments", type=int, metavar="N",
                   help="build the answer from at most N moments (default: settings ask_max_moments, 5)")
    p.add_argument("--root", type=Path, help="only files under this indexed library root")
    p.add_argument("--path", help="only files whose path matches this pattern (* and ?), e.g. '*/2019/*'")
    p.add_argument("--extractive", action="store_true",
                   help="do not run the answer model: quote the evidence line that answers "
                        "(as SCENEDEX_ASK_MODEL=none)")
    p.add_argument("--show-dropped", action="store_true",
                   help="also list the model's sentences the evidence did not support, and why")
    p.set_defaults(func=cmd_ask)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    filters = SearchFilters(root=str(args.root.resolve()) if args.root else None, path_glob=args.path)
    request = AskRequest(" ".join(args.question), args.max_moments, filters)
    if args.extractive:
        settings = settings.model_copy(update={"ask_model": "none", "llamavid_model": None})
    with open_database(settings) as db:
        stream = ask_service(settings, db).prepare(request)
        if args.json:
            for _ in stream.events():
                pass
        else:
            shown = 0
            for kind, value in stream.events():
                if isinstance(value, Claim):  # each claim as soon as it is checked; the draft is never printed
                    sys.stdout.write(("" if not shown else " ") + value.render())
                    sys.stdout.flush()
                    shown += 1
            if shown:
                print()
        result = stream.result()
    if args.json:
        print(json.dumps(result_json(result), indent=2, ensure_ascii=False))
    else:
        print(answer_footer(result, args.show_dropped))
    return 0


def result_json(result: AskResult) -> dict[str, object]:
    from web.ask_routes import done_json, moment_json

    moments = [{**moment_json(m), "rank": m.rank, "path": m.path,
                "lines": [{"channel": x.channel, "start_s": x.start_s, "end_s": x.end_s, "text": x.text}
                          for x in m.lines]} for m in result.moments]
    timing = result.timing
    return {"question": result.question, **done_json(result), "moments": moments,
            "timing": {"first_token_s": timing.first_token_s, "first_words_s": timing.first_words_s,
                       "tokens_per_s": timing.tokens_per_s, "search_s": timing.search_s, "total_s": timing.total_s,
                       "prompt_tokens": timing.prompt_tokens, "generated_tokens": timing.generated_tokens}}


def answer_footer(result: AskResult, show_dropped: bool = False) -> str:
    """After the claims: the refusal (or the dropped count), the moments, the model and the timing."""
    from qa.prompt import clock

    width = max(60, shutil.get_terminal_size((110, 20)).columns)
    out = []
    if result.declined:
        out.append(result.answer)
    dropped = result.dropped
    if dropped:
        out.append(f"({len(dropped)} sentence{'s' if len(dropped) != 1 else ''} of the model's answer dropped: "
                   f"not supported by the moments{'' if show_dropped else '; --show-dropped lists them'})")
        if show_dropped:
            out += [_clip(f'  dropped: "{c.text}" — {c.reason}', width) for c in dropped]
    by_n = {m.n: m for m in result.moments}
    out.append("")
    if result.cited:
        out.append("Cited moments:")
        shown = [by_n[n] for n in result.cited if n in by_n]
    else:
        out.append("Nearest moments (best match first):" if result.declined else
                   "The moments searched (best match first):")
        shown = list(result.moments)
    wanted = content_stems(f"{result.question} {result.answer}")
    support = [c for claim in result.claims if claim not in dropped for c in claim.citations]
    for m in shown:
        head = f"  [{m.n}] {m.name} {clock(m.start_s)}–{clock(m.end_s)}  "
        spans = [(c.start_s, c.end_s) for c in support if c.n == m.n]
        out.append(_clip(head + _evidence(m, spans, wanted, width - len(head)), width))
    t = result.timing
    out.append("")
    out.append(f"Model: {result.model.key} — {result.model.note}." if result.model.note else
               f"Model: {result.model.key}.")
    out.append(f"First words after {t.first_words_s:.1f} s (search {t.search_s:.1f} s)"
               + (f", {t.tokens_per_s:.1f} tokens/s, {t.prompt_tokens} prompt tokens." if t.generated_tokens else "."))
    return "\n".join(out)


def _evidence(m: AskedMoment, spans: list[tuple[float, float]], wanted: set[str], width: int) -> str:
    """The moment's line that supports the answer, quoted: of the lines search matched, then those the model was
    given, the one lying most within ``spans`` (where the shown claims cite this moment), then holding the most
    of the ``wanted`` word stems (the question's and the answer's), the first of equals — the line that answers,
    not merely the first one matched. A line too long for ``width`` is shown where it holds the most of them."""
    candidates = [*m.evidence, *m.lines]
    if not candidates:
        return ""

    def cited_s(x: TimedLine) -> float:
        return sum(max(0.0, min(x.end_s, b) - max(x.start_s, a)) for a, b in spans)

    line = max(candidates, key=lambda x: (cited_s(x), len(content_stems(x.text) & wanted)))
    return f'"{snippet(" ".join(line.text.split()), wanted, width - 2)}"'


def snippet(text: str, wanted: set[str], width: int) -> str:
    """At most ``width`` characters of ``text``: all of it when it fits, else the run of whole words that holds
    the most words whose stem is in ``wanted`` (the earliest of equals), with "…" where text is left out.

    >>> snippet("This is the optical segment of the telescope assembled at Goddard in Greenbelt", {"goddard"}, 30)
    '…assembled at Goddard in…'
    >>> snippet("short line", {"x"}, 30), snippet("no word wanted here at all", set(), 12)
    ('short line', 'no word…')
    """
    if len(text) <= width:
        return text
    words = list(re.finditer(r"\S+", text))
    hits = [stem(w.group().strip(".,;:!?\"'()").lower()) in wanted for w in words]
    best, best_hits = (0, 0), -1
    for i, first in enumerate(words):
        room = width - (1 if first.start() > 0 else 0) - 1  # the ellipses around what is shown
        last = i
        while last + 1 < len(words) and words[last + 1].end() - first.start() <= room:
            last += 1
        if words[last].end() - first.start() > room:
            continue
        if sum(hits[i:last + 1]) > best_hits:
            best, best_hits = (i, last), sum(hits[i:last + 1])
    if best_hits < 0:
        return text[: max(0, width - 1)] + "…"
    first, last = words[best[0]], words[best[1]]
    return (("…" if first.start() > 0 else "") + text[first.start():last.end()]
            + ("…" if last.end() < len(text) else ""))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
