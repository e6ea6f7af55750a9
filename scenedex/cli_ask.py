"""`scenedex ask`: a question answered from the library's moments, streamed to the terminal, with the moments it
was built from and their timestamps."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from scenedex.ask_service import AskedMoment, AskRequest, AskResult
from scenedex.runtime import ask_service, open_database
from scenedex.settings import Settings
from search.request import SearchFilters

ASK_HELP = """\
Answer a question from what the library's videos say, subtitle and show on screen. scenedex searches the
question's moments, gives their timed lines to a small language model, streams its answer, then lists the
moments the answer cites ([1], [2], ...) with their file and start-end, so you can play them (`scenedex search
... --open N`, or the web page). The timestamps are scenedex's own, never the model's.

examples:
  scenedex ask "where is the Webb telescope being assembled?"
  scenedex ask "who opened the meeting?" --path "*/2019/*" --max-moments 3
  scenedex ask "what did the captain say about the storm?" --json | jq .answer

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
    p.set_defaults(func=cmd_ask)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    filters = SearchFilters(root=str(args.root.resolve()) if args.root else None, path_glob=args.path)
    request = AskRequest(" ".join(args.question), args.max_moments, filters)
    with open_database(settings) as db:
        stream = ask_service(settings, db).prepare(request)
        if args.json:
            for _ in stream.pieces():
                pass
        else:
            for piece in stream.pieces():
                sys.stdout.write(piece)
                sys.stdout.flush()
            print()
        result = stream.result()
    if args.json:
        print(json.dumps(result_json(result), indent=2, ensure_ascii=False))
    else:
        print(moments_text(result))
    return 0


def result_json(result: AskResult) -> dict[str, object]:
    from web.ask_routes import done_json, moment_json

    moments = [{**moment_json(m), "rank": m.rank, "path": m.path,
                "lines": [{"channel": x.channel, "start_s": x.start_s, "end_s": x.end_s, "text": x.text}
                          for x in m.lines]} for m in result.moments]
    timing = result.timing
    return {"question": result.question, **done_json(result), "moments": moments,
            "timing": {"first_token_s": timing.first_token_s, "tokens_per_s": timing.tokens_per_s,
                       "search_s": timing.search_s, "total_s": timing.total_s,
                       "prompt_tokens": timing.prompt_tokens, "generated_tokens": timing.generated_tokens}}


def moments_text(result: AskResult) -> str:
    from qa.prompt import clock

    width = max(60, shutil.get_terminal_size((110, 20)).columns)
    by_n = {m.n: m for m in result.moments}
    out = [""]
    if result.cited:
        out.append("Cited moments:")
        shown = [by_n[n] for n in result.cited]
    else:
        out.append("The answer cites no moment; it was built from these (best match first):")
        shown = list(result.moments)
    for m in shown:
        out.append(_clip(f"  [{m.n}] {m.name} {clock(m.start_s)}–{clock(m.end_s)}  {_evidence(m)}", width))
    t = result.timing
    out.append("")
    out.append(f"Model: {result.model.key} — {result.model.note}." if result.model.note else
               f"Model: {result.model.key}.")
    out.append(f"First words after {t.first_token_s:.1f} s (search {t.search_s:.1f} s), {t.tokens_per_s:.1f} tokens/s, "
               f"{t.prompt_tokens} prompt tokens.")
    return "\n".join(out)


def _evidence(m: AskedMoment) -> str:
    line = m.evidence[0] if m.evidence else (m.lines[0] if m.lines else None)
    return f'"{" ".join(line.text.split())}"' if line is not None else ""


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
