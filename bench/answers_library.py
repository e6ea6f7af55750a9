"""The library the answer benchmark asks over: the generated search-quality reels (``scenedex.search_samples``,
seed 7) plus the real clips of ``../shared/media``, indexed once into a data dir and a Postgres database of their
own and reused by every later run (indexing the 20 reels takes a while on 2 cores)."""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from db.session import Database, upgrade
from indexer.sampling import SamplingPolicy
from scenedex.search_samples import build_search_library
from workers.index_run import TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

log = logging.getLogger(__name__)
SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
REAL_CLIPS = ("nasa_webb_cleanroom.mp4", "bbb_credits_720p.mp4", "bbb_opening_720p.mp4", "chaplin_street.mp4")
DEFAULT_HOME = Path("/tmp/scenedex-answers-bench")
DB_NAME = "sdx_answers_bench"


@dataclass(frozen=True)
class BenchLibrary:
    root: Path  # the media: reels under evening_news/ and documentary/, real clips under real/
    data_dir: Path
    url: str


def _ensure_database(name: str) -> str:
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="root", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return f"postgresql+psycopg2://root@127.0.0.1:5432/{name}"


def database_name(home: Path = DEFAULT_HOME) -> str:
    """The library's database: one per ``home``, so a library built elsewhere (``--home``) never indexes its
    files into another's database."""
    if home == DEFAULT_HOME:
        return DB_NAME
    return f"{DB_NAME}_{hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:8]}"


def library_url(home: Path = DEFAULT_HOME) -> str:
    return f"postgresql+psycopg2://root@127.0.0.1:5432/{database_name(home)}"


def build(home: Path = DEFAULT_HOME) -> BenchLibrary:
    """The library under ``home``, built and indexed where it is not yet (an indexed file is not redone)."""
    root, data_dir = home / "media", home / "data"
    build_search_library(root, n_videos=20, seed=7, progress=log.info)
    (root / "real").mkdir(parents=True, exist_ok=True)
    for clip in REAL_CLIPS:
        if (SHARED_MEDIA / clip).is_file() and not (root / "real" / clip).is_file():
            shutil.copy(SHARED_MEDIA / clip, root / "real" / clip)
    url = _ensure_database(database_name(home))
    upgrade(url)
    db = Database(url)
    try:
        config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32))
        summary = index_paths(db, [root], config, (".mp4",), None, text=TextChannels())
        if summary.problems:
            log.warning("indexing problems: %s", summary.problems)
    finally:
        db.dispose()
    return BenchLibrary(root, data_dir, url)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(build())
