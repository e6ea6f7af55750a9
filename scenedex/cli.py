"""The `scenedex` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from db.errors import DatabaseError
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from indexer.errors import EncoderError, FeatureFileError, IndexerError
from scenedex import demo, report
from scenedex.progress import BarEvents
from scenedex.runtime import index_setup, open_database
from scenedex.settings import Settings
from search.errors import SearchError
from workers.index_run import index_paths
from workers.vectors import sync_vector_index

log = logging.getLogger("scenedex")

DESCRIPTION = """\
Index a video library, then search its moments in plain language.

  scenedex index ~/Videos          index a folder (again: only new and changed files are done)
  scenedex status                  what is indexed, what failed and why
  scenedex reindex                 rebuild the vector index from the database and feature files
  scenedex demo                    make a small sample library, index it and show the result

Configuration: environment variables SCENEDEX_* (e.g. SCENEDEX_DATABASE_URL, SCENEDEX_VISION_MODEL,
SCENEDEX_SAMPLE_FPS) or a TOML file at $XDG_CONFIG_HOME/scenedex/config.toml (or SCENEDEX_CONFIG).
With no configuration scenedex keeps an embedded Postgres and its indexes in $XDG_DATA_HOME/scenedex.
"""


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("data_dir", "database_url", "vision_model", "sample_fps", "sampling_mode", "device"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    missing = [p for p in args.paths if not p.exists() and not p.is_symlink()]
    if missing:
        print(f"error: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    setup = index_setup(settings)
    with open_database(settings) as db:
        events = BarEvents(enabled=False if args.json else None)
        try:
            summary = index_paths(db, args.paths, setup.ingest, setup.extensions, setup.vision, events,
                                  retry_failed=args.retry_failed)
        finally:
            events.close()
    if args.json:
        _print_json({"indexed": summary.indexed, "unchanged": summary.unchanged, "removed": summary.removed,
                     "problems": [p.__dict__ for p in summary.problems], "interrupted": summary.interrupted,
                     "vectors": summary.vectors.__dict__ if summary.vectors else None})
    else:
        print(report.summary_text(summary))
    return 130 if summary.interrupted else 0


def cmd_status(args: argparse.Namespace, settings: Settings, show_problems: bool = True) -> int:
    setup = index_setup(settings)
    with open_database(settings) as db:
        data = report.status_data(db, setup, report.database_label(settings.database_url, str(settings.data_dir)))
        if getattr(args, "files", False):
            data["indexed_files"] = report.files_data(db)
    if args.json:
        _print_json(data)
        return 0
    print(report.status_text(data, show_problems))
    if "indexed_files" in data:
        print(report.files_text(data["indexed_files"]))
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    setup = index_setup(settings)
    with open_database(settings) as db:
        if args.reencode:
            with db.session() as session:
                roots = [Path(r.path) for r in library_repo.list_roots(session)]
            events = BarEvents()
            try:
                summary = index_paths(db, roots, setup.ingest, setup.extensions, setup.vision, events, force=True)
            finally:
                events.close()
            print(report.summary_text(summary))
            return 130 if summary.interrupted else 0
        if setup.vision is None:
            print("Nothing to rebuild: no vision model is configured (SCENEDEX_VISION_MODEL).")
            return 0
        with db.session() as session:
            model = models_repo.get_model_by_key(session, setup.vision.info.key)
        if model is None:
            print("Nothing to rebuild: no file has been indexed with the configured vision model yet.")
            return 0
        result = sync_vector_index(db, setup.ingest.layout, model.id, rebuild=True)
    m = result.manifest
    print(f"Rebuilt the vector index: {m.count} vectors ({m.kind}, {m.dim}-d) for {m.model_key}.")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    library = demo.ensure_sample_library(settings.data_dir / "sample-library", progress=print)
    args.paths, args.retry_failed = [library], False
    print(f"Indexing the sample library in {library} …")
    code = cmd_index(args, settings)
    print("\n$ scenedex status --files")
    args.files = True
    cmd_status(args, settings, show_problems=False)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenedex", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (to stderr)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="where the embedded database, indexes and feature files live")
    common.add_argument("--database-url", help="a Postgres URL instead of the embedded database")
    common.add_argument("--vision-model", help="a local CLIP/SigLIP directory (or a cached model id)")
    common.add_argument("--device", choices=["auto", "cpu", "cuda"])
    common.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="index files or folders (only new and changed work is done)",
                       description="Index media files. Re-running does no work for unchanged files; changed files "
                       "are re-indexed; files deleted from an indexed folder are removed from the index. Bad files "
                       "are recorded with the reason and what to do, and the rest of the library goes on.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="media files or folders")
    p.add_argument("--retry-failed", action="store_true", help="try again files that failed before, even unchanged")
    p.add_argument("--sample-fps", type=float, help="frames sampled per second of video (default 1)")
    p.add_argument("--sampling-mode", choices=["uniform", "keyframes"],
                   help="uniform: every 1/fps seconds; keyframes: keyframes only (much faster, coarser)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("status", parents=[common], help="what is indexed, what failed and why")
    p.add_argument("--files", action="store_true", help="also list every indexed file with its shots")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("reindex", parents=[common], help="rebuild the vector index from the database",
                       description="Rebuild the FAISS index of the configured vision model from Postgres and the "
                       "per-file feature files. With --reencode, decode and encode every file again (after changing "
                       "the model or losing the feature files).")
    p.add_argument("--reencode", action="store_true", help="re-index every file in every library root")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("demo", parents=[common], help="make a sample library, index it and show the result")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
        return int(args.func(args, settings))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (DatabaseError, EncoderError, SearchError, FeatureFileError, IndexerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
