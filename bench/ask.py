"""Time to first token and tokens/s of the embedded answer model (SmolLM2-135M-Instruct, CPU), against baselines
taken in the same run: the search alone (what an answer waits for before the model starts), and generation from
a prompt with no evidence (the model's own floor). Prompts of about 200, 1000 and 2000 tokens show what evidence
costs; a whole `ask` on the NASA clip shows what a user waits for.

    .venv/bin/python bench/ask.py [--database-url URL] [--repeats 3] [--threads N]

The NASA clip (../shared/media) is indexed into the database once (default: ``scenedex_bench_ask`` on the local
server, created when missing; later runs reuse it); without it, the demo's sample library is generated and used.
The dense copy of the packaged model is made once in bench/out/cache.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, save  # noqa: E402
from bench.search_api import _ensure_database  # noqa: E402

QUESTION = "Where is the Webb telescope being assembled?"
FILLER = ("The crew moves the mirror segment onto the test stand while engineers check the cables and the cold "
          "shields, then the cleanroom lights dim for the next inspection.")
PROMPT_TARGETS = (200, 1000, 2000)


def _library(out: Path) -> Path:
    nasa = Path(__file__).resolve().parents[2] / "shared" / "media" / "nasa_webb_cleanroom.mp4"
    if nasa.is_file():
        root = out / "ask_library"
        root.mkdir(parents=True, exist_ok=True)
        if not (root / nasa.name).exists():
            shutil.copy(nasa, root / nasa.name)
        return root
    from scenedex.demo import ensure_sample_library

    return ensure_sample_library(out / "sample-library", progress=print)


def _moments_of(tokens: int, answerer: object) -> tuple:
    """Evidence moments whose user message takes about ``tokens`` tokens (filler narration, timed 4 s a line)."""
    from qa.answering import EvidenceMoment, TimedLine
    from qa.prompt import user_message

    lines: list[TimedLine] = []
    moments: tuple = ()
    while True:
        t_s = 4.0 * len(lines)
        lines.append(TimedLine("speech", t_s, t_s + 4.0, FILLER))
        chunks = [tuple(lines[i:i + 5]) for i in range(0, len(lines), 5)]
        candidate = tuple(EvidenceMoment(n, 1, "bench.mp4", c[0].start_s, c[-1].end_s, c)
                          for n, c in enumerate(chunks, 1))
        if answerer.count_tokens(user_message(QUESTION, candidate)) > tokens:  # type: ignore[attr-defined]
            return moments
        moments = candidate


def _generate_once(answerer: object, moments: tuple, max_new_tokens: int) -> dict[str, float]:
    from qa.answering import AnswerInput, AnswerStats

    stats = AnswerStats()
    for _ in answerer.stream(AnswerInput(QUESTION, moments, max_new_tokens), stats):  # type: ignore[attr-defined]
        pass
    decode_s = stats.total_s - stats.first_token_s
    rate = (stats.generated_tokens - 1) / decode_s if stats.generated_tokens > 1 and decode_s > 0 else 0.0
    return {"prompt_tokens": stats.prompt_tokens, "first_token_s": stats.first_token_s, "tokens_per_s": rate,
            "generated_tokens": stats.generated_tokens}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/scenedex_bench_ask")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    import torch

    from db.session import Database, upgrade
    from indexer.sampling import SamplingPolicy
    from qa.packaged_llm import SMOLLM2_135M, dense_checkpoint
    from qa.text_answerer import TextAnswerer, TextModelSpec
    from scenedex.ask_service import AskRequest, AskService
    from scenedex.search_service import SearchConfig, SearchService
    from search.request import SearchRequest
    from workers.index_run import TextChannels, index_paths
    from workers.ingest import IngestConfig
    from workers.layout import DataLayout

    if args.threads:
        torch.set_num_threads(args.threads)
    root, data_dir = _library(OUT_DIR), OUT_DIR / "ask_data"
    _ensure_database(args.database_url)
    upgrade(args.database_url)
    db = Database(args.database_url)
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32))
    summary = index_paths(db, [root], config, (".mp4",), None, text=TextChannels(ocr=None))
    print(f"library {root}: {len(summary.indexed)} indexed now, {summary.unchanged} unchanged")

    t0 = time.perf_counter()
    model_dir = dense_checkpoint(OUT_DIR / "cache", SMOLLM2_135M)
    prepared_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    answerer = TextAnswerer(TextModelSpec(model_dir, SMOLLM2_135M.key, max_context_tokens=8192))
    load_s = time.perf_counter() - t0
    search = SearchService(db, DataLayout(data_dir), SearchConfig())
    ask = AskService(search, lambda: answerer)
    ask.ask(AskRequest(QUESTION))  # warm-up: the query encoder, indexes and the model's first pass

    prompts = {"no evidence": ()} | {f"~{t} tokens": _moments_of(t, answerer) for t in PROMPT_TARGETS}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in ["search alone", *prompts, "ask (NASA, 5 moments)"]}
    asks = []
    for _ in range(args.repeats):  # round robin, so drift on a shared machine hits every case alike
        t0 = time.perf_counter()
        search.search(SearchRequest(text=QUESTION))
        runs["search alone"].append({"prompt_tokens": 0, "first_token_s": time.perf_counter() - t0,
                                     "tokens_per_s": 0.0, "generated_tokens": 0})
        for name, moments in prompts.items():
            runs[name].append(_generate_once(answerer, moments, args.max_new_tokens))
        asks.append(ask.ask(AskRequest(QUESTION)))
        t = asks[-1].timing
        runs["ask (NASA, 5 moments)"].append({"prompt_tokens": t.prompt_tokens, "first_token_s": t.first_token_s,
                                              "tokens_per_s": t.tokens_per_s, "generated_tokens": t.generated_tokens})
    rows = {name: _median(r) for name, r in runs.items()}

    floor = rows["no evidence"]
    print(f"\nSmolLM2-135M-Instruct (dense fp32) on {torch.get_num_threads()} CPU thread(s); "
          f"median of {args.repeats}, up to {args.max_new_tokens} new tokens")
    print(f"{'case':<24}{'prompt tok':>11}{'first token s':>15}{'x no-evidence':>15}{'tokens/s':>10}{'generated':>11}")
    for name, r in rows.items():
        ratio = r["first_token_s"] / floor["first_token_s"] if floor["first_token_s"] else 0.0
        print(f"{name:<24}{r['prompt_tokens']:>11.0f}{r['first_token_s']:>15.3f}{ratio:>15.2f}"
              f"{r['tokens_per_s']:>10.1f}{r['generated_tokens']:>11.0f}")
    print(f"\nmodel: dense copy ready in {prepared_s:.1f} s (the first run dequantizes the GGUF), "
          f"loaded in {load_s:.2f} s; answer: {asks[-1].answer!r}")
    result = {"threads": torch.get_num_threads(), "repeats": args.repeats, "max_new_tokens": args.max_new_tokens,
              "rows": rows, "load_s": load_s, "answer": asks[-1].answer}
    print(f"saved {save('ask', result)}")
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
