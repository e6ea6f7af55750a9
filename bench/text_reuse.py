"""Texts already stored not embedded again (``workers.text_vectors``), on real footage, every default channel.

    .venv/bin/python bench/text_reuse.py [--runs 2] [--media-dir DIR]

An archive repeats its on-screen text: a series' credits at the end of every episode, a channel's titles and
lower thirds. Here the Big Buck Bunny credits excerpt (108 s of scrolling credits, ~185 chunk texts) stands for
an episode's credits: the library is indexed first (the opening and the credits excerpts, no vision model), then
copies of the credits, each remuxed so it is another file with the same pictures and sound, are indexed into the
same database one at a time, alternately with stored vectors not looked up (the baseline: every text embedded, as
before) and looked up. Printed per copy: wall and CPU seconds of its index run, the texts embedded, and the
ratio of the two ways' medians.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_s, save  # noqa: E402
from bench.ingest_real import FILES, MEDIA  # noqa: E402

CREDITS = FILES[1]


@contextmanager
def stored_lookup_off() -> Iterator[None]:
    """Stored vectors not looked up while inside: every chunk text embedded, as before ``workers.text_vectors``."""
    from db.repositories import text as text_repo

    stored = text_repo.stored_embeddings
    text_repo.stored_embeddings = lambda session, model_id, wanted: {}
    try:
        yield
    finally:
        text_repo.stored_embeddings = stored


@contextmanager
def counted_texts(lookup: bool) -> Iterator[list[str]]:
    """Yields a list that collects every text the sentence models embed; ``lookup`` False: stored vectors are not
    looked up."""
    from indexer.text_embedding import TextEncoder

    encode = TextEncoder.encode
    texts: list[str] = []

    def counted(self: TextEncoder, batch: list[str]) -> Any:
        texts.extend(batch)
        return encode(self, batch)

    TextEncoder.encode = counted  # type: ignore[method-assign]
    try:
        with stored_lookup_off() if not lookup else nullcontext():
            yield texts
    finally:
        TextEncoder.encode = encode  # type: ignore[method-assign]


def stored_vectors(db: Any, path: Path, dim: int) -> dict[tuple[str, float, float, str], bytes]:
    """(channel, start_s, end_s, text) -> its stored vector's bytes, for every chunk of the file at ``path``."""
    from db.repositories import library as library_repo
    from db.repositories import text as text_repo
    with db.session() as session:
        media = library_repo.get_media_by_path(session, str(path))
        assert media is not None, path
        ids, spans = text_repo.chunk_spans(session, media.id)
        vectors = text_repo.chunk_vectors(session, ids, dim)  # (n, dim)
    return {span: vector.tobytes() for span, vector in zip(spans, vectors)}


def main() -> None:
    from indexer.text_embedding import describe_text_model
    from scenedex.runtime import index_setup, open_database
    from scenedex.settings import Settings
    from workers.index_run import index_paths

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="copies indexed each way, alternately")
    parser.add_argument("--media-dir", type=Path, default=MEDIA)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scenedex-bench-reuse-"))
    rows: dict[str, list[dict[str, float]]] = {"embedded again": [], "stored taken": []}
    vectors: list[dict[str, bytes]] = []
    try:
        library = work / "library"
        library.mkdir()
        for name in FILES:
            shutil.copy(args.media_dir / name, library / name)
        settings = Settings(data_dir=work / "data", database_url=None)
        setup = index_setup(settings)
        dim = describe_text_model(setup.text.text_model).dim  # once: it digests the weights

        def index(path: Path) -> Any:
            return index_paths(db, [path], setup.ingest, setup.extensions, setup.vision, text=setup.text,
                               qa_tower=setup.qa_tower, jobs=settings.index_jobs)

        with open_database(settings) as db:
            first = index(library)
            assert len(first.indexed) == len(FILES), first
            print(f"library indexed: {' and '.join(FILES)}; then copies of {CREDITS}, one at a time\n")
            print(f"{'copy':>4} {'way':16} {'wall s':>7} {'CPU s':>7} {'texts embedded':>15}")
            for copy in range(2 * args.runs):
                way = "embedded again" if copy % 2 == 0 else "stored taken"
                episode = work / f"episode{copy}" / CREDITS
                episode.parent.mkdir()
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(args.media_dir / CREDITS), "-map", "0",
                                "-c", "copy", "-metadata", f"comment=episode {copy}", str(episode)], check=True)
                with counted_texts(lookup=way == "stored taken") as texts:
                    t0, c0 = time.perf_counter(), cpu_s()
                    summary = index(episode.parent)
                    wall_s, used_s = time.perf_counter() - t0, cpu_s() - c0
                assert len(summary.indexed) == 1, summary
                rows[way].append({"wall_s": wall_s, "cpu_s": used_s, "texts": len(texts)})
                vectors.append(stored_vectors(db, episode, dim))
                print(f"{copy:4d} {way:16} {wall_s:7.1f} {used_s:7.1f} {len(texts):15d}", flush=True)
            same = all(v == vectors[0] for v in vectors)
            print(f"\nevery copy's chunks and stored vectors the same, bit for bit: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {way: {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "texts")}
              for way, runs in rows.items()}
    before, after = median["embedded again"], median["stored taken"]
    print(f"\nmedians: embedded again {before['wall_s']:.1f} s / {before['cpu_s']:.1f} CPU s, stored taken "
          f"{after['wall_s']:.1f} s / {after['cpu_s']:.1f} CPU s: {before['wall_s'] / after['wall_s']:.2f}x wall, "
          f"{before['cpu_s'] / after['cpu_s']:.2f}x CPU; texts embedded {before['texts']:.0f} -> "
          f"{after['texts']:.0f}")
    path = save("text_reuse", {"runs": rows, "median": median, "same_vectors": same})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
