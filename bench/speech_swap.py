"""Search quality with another speech model's transcripts, without indexing the library again.

    .venv/bin/python bench/speech_swap.py --library frozen|tuned --transcripts LABEL [--set FIELD=VALUE]
        [--text-model all-mpnet-base-v2]

Takes the transcripts bench/speech_models.py saved (bench/out/speech_transcripts_LIBRARY_LABEL.json), and a copy
of the library's default index (made once by bench/search_quality.py: database and data folder) in which each
file's speech segments are replaced by them; the chunks are rebuilt from all of the file's text as ingest builds
them (``indexer.text_chunks.make_chunks``), embedded with the default sentence model, and the FAISS text index is
brought up to date. OCR and subtitles are kept as they were. The queries then run as in bench/search_quality.py
(``SearchService.search``), and the result goes to bench/out/search_quality_speech_LABEL_LIBRARY.json.
``--text-model`` then re-embeds that copy with another sentence model (``workers.reembed``) and searches with it.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT_DIR, save  # noqa: E402
from bench.search_quality import (  # noqa: E402
    DATA_DIRS,
    DEFAULT_DATABASES,
    SERVER,
    _admin,
    _exists,
    build,
    run_queries,
    search_config,
)


def copy_index(library: str, label: str) -> tuple[str, Path]:
    """A fresh copy of the library's default database and data folder named after ``label``."""
    name = f"{DEFAULT_DATABASES[library]}_sp_{label.replace('-', '_').replace('.', '_')}"
    data_dir = DATA_DIRS[library].with_name(f"{DATA_DIRS[library].name}_sp_{label}")
    if _exists(name):
        _admin(f'DROP DATABASE "{name}"')
    _admin(f'CREATE DATABASE "{name}"')
    dump = subprocess.Popen(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-Fc", DEFAULT_DATABASES[library]],
                            stdout=subprocess.PIPE)
    subprocess.run(["pg_restore", "-h", "127.0.0.1", "-U", "postgres", "-d", name], stdin=dump.stdout, check=True)
    assert dump.wait() == 0, "pg_dump failed"
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    subprocess.run(["cp", "-a", str(DATA_DIRS[library]), str(data_dir)], check=True)
    return f"{SERVER}/{name}", data_dir


def swap_speech(url: str, data_dir: Path, root: Path, transcripts: dict[str, list[dict[str, Any]]], producer: str) -> int:
    """Replace every file's speech segments and rebuild its chunks; the number of files changed."""
    from db.models import Channel
    from db.repositories import library as library_repo
    from db.repositories import text as text_repo
    from db.session import Database
    from indexer.text_chunks import TimedText, make_chunks
    from indexer.text_embedding import TextEncoder
    from workers.layout import DataLayout
    from workers.reembed import model_id_for
    from workers.vectors import sync_text_index

    db = Database(url)
    encoder = TextEncoder(None)
    model_id = model_id_for(db, encoder.info)
    changed = 0
    with db.session() as session:
        media = [(m.id, m.path, m.duration_s) for m in library_repo.list_media(session)]
    for media_id, path, duration_s in media:
        relative = str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else path
        if relative not in transcripts:
            continue
        with db.session() as session:
            kept = [TimedText(str(s.channel.value), s.start_s, s.end_s, s.text, s.language, s.source, s.confidence,
                              s.detail) for s in text_repo.segments_of(session, media_id)
                    if s.channel != Channel.SPEECH]
        end_s = duration_s or math.inf
        speech = [TimedText("speech", min(s["start_s"], end_s), min(s["end_s"], end_s), s["text"].strip(),
                            language=s["language"], source=producer, confidence=float(math.exp(s["avg_logprob"])),
                            detail={"words": [[round(a, 3), round(b, 3), w] for a, b, w in s["words"]]})
                  for s in transcripts[relative] if s["text"].strip()]
        items = kept + speech
        chunks = make_chunks(items)
        vectors = encoder.encode([c.text for c in chunks]) if chunks else None  # (n, dim) float32
        with db.session() as session:
            text_repo.replace_segments(session, media_id, [
                {"channel": Channel(i.channel), "start_s": i.start_s, "end_s": i.end_s, "text": i.text,
                 "language": i.language, "source": i.source, "confidence": i.confidence, "detail": i.detail}
                for i in items])
            text_repo.replace_chunks(session, media_id, model_id, [
                {"channel": Channel(c.channel), "start_s": c.start_s, "end_s": c.end_s, "text": c.text}
                for c in chunks], vectors)
        changed += 1
    sync_text_index(db, DataLayout(data_dir), model_id)
    db.dispose()
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", choices=tuple(DEFAULT_DATABASES), required=True)
    parser.add_argument("--transcripts", required=True, help="the label bench/speech_models.py saved them under")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--text-model", default=None, help="re-embed the copy with this sentence model")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    transcripts = json.loads((OUT_DIR / f"speech_transcripts_{args.library}_{args.transcripts}.json").read_text())
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    root, queries = build(args.library)
    url, data_dir = copy_index(args.library, args.transcripts)
    changed = swap_speech(url, data_dir, root, transcripts, f"bench:{args.transcripts}")
    label = args.transcripts
    if args.text_model:
        from db.session import Database
        from workers.layout import DataLayout
        from workers.reembed import reembed_text

        db = Database(url)
        reembed_text(db, DataLayout(data_dir), args.text_model)
        db.dispose()
        label += f"_{Path(args.text_model).name}"
    result = run_queries(url, data_dir, root, queries, search_config(args.text_model, args.set))
    m = result["metrics"]
    print(f"{args.library} with {label} speech ({changed} files): top1 {m['R1@0.5']:.1f} R@5 "
          f"{m['R5@0.5']:.1f} mAP {m['mAP']:.1f}; cut-off keeps {result.get('cutoff_keeps_correct')}; median "
          f"above cut-off {result.get('median_moments_above_cutoff')}; load {load}")
    for group, g in result["by_group"].items():
        print(f"  {group:<28}{g['queries']:>5}{g['R1@0.5']:>9.1f}{g['R5@0.5']:>9.1f}{g['mAP']:>8.1f}")
    print(f"saved {save(f'search_quality_speech_{label}_{args.library}', {**result, 'load': load})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
