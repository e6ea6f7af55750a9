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
from indexer.text_embedding import describe_text_model
from qa.errors import QaError
from scenedex import cli_ask, cli_jobs, cli_search, demo, loading, report
from scenedex.prepare import prepare
from scenedex.progress import BarEvents
from scenedex.quiet import libraries_quiet, log_file_of
from scenedex.runtime import Terminated, index_setup, open_database, stop_on_signals
from scenedex.settings import Settings
from search.errors import SearchError
from workers.index_run import index_paths
from workers.vectors import sync_text_index, sync_vector_index

log = logging.getLogger("scenedex")

DESCRIPTION = """\
Index a video library, then find its moments in plain language and ask it questions answered with cited times.

New here? `scenedex demo` indexes a small sample library, searches it and asks it a question. Then, on your own:
  scenedex index ~/Videos                 index a folder (again: only new and changed files are done)
  scenedex search "what you remember"     moments: file, start-end, and the words or pictures that matched
  scenedex ask "your question?"           an answer that cites the moments it comes from, with their times

Configuration: environment variables SCENEDEX_* (e.g. SCENEDEX_DATABASE_URL, SCENEDEX_VISION_MODEL,
SCENEDEX_SAMPLE_FPS) or a TOML file at $XDG_CONFIG_HOME/scenedex/config.toml (or SCENEDEX_CONFIG).
With no configuration scenedex keeps an embedded Postgres and its indexes in $XDG_DATA_HOME/scenedex.
What libraries print (progress bars, warnings) goes to $XDG_CACHE_HOME/scenedex/logs/scenedex.log; -v shows it.
"""

# The commands in the order a user meets them, each with the line `scenedex --help` shows for it.
COMMANDS = {
    "demo": "try it first: a sample library indexed, searched and asked",
    "index": "index a folder or files (again: only new and changed files)",
    "status": "what is indexed, what failed and why, queued jobs",
    "search": 'find moments: scenedex search "words you remember"',
    "ask": 'an answer citing its moments: scenedex ask "who spoke?"',
    "transcript": "what a file says and shows, with times (or SRT/VTT)",
    "serve": "the web page and HTTP API on localhost (docs at /docs)",
    "worker": "a worker for `index --queue`, on any machine",
    "jobs": "queued ingest jobs: list, show, cancel, retry",
    "eval": "measure search quality on queries with true spans",
    "reindex": "rebuild the vector indexes from the database",
    "migrate": "bring the database schema up to date",
    "prepare": "make the packaged models ready, once (make setup does)",
}


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("data_dir", "database_url", "vision_model", "sample_fps", "sampling_mode", "device"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "jobs", None) is not None:
        overrides["index_jobs"] = args.jobs
    return Settings(**overrides)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    missing = [p for p in args.paths if not p.exists() and not p.is_symlink()]
    if missing:
        print(f"error: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    if getattr(args, "queue", False):
        return cli_jobs.cmd_index_queued(args, settings)
    setup = index_setup(settings)
    with open_database(settings) as db:
        events = BarEvents(enabled=False if args.json else None)
        try:
            summary = index_paths(db, args.paths, setup.ingest, setup.extensions, setup.vision, events,
                                  retry_failed=args.retry_failed, text=setup.text, qa_tower=setup.qa_tower,
                                  jobs=settings.index_jobs)
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
        if settings.database_url is not None:
            data["queued"] = cli_jobs.jobs_status(settings, db)
    if args.json:
        _print_json(data)
        return 0
    print(report.status_text(data, show_problems))
    if data.get("queued"):
        print(cli_jobs.jobs_text(data["queued"]))
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
                summary = index_paths(db, roots, setup.ingest, setup.extensions, setup.vision, events, force=True,
                                      text=setup.text, qa_tower=setup.qa_tower, jobs=settings.index_jobs)
            finally:
                events.close()
            print(report.summary_text(summary))
            return 130 if summary.interrupted else 0
        keys = []
        if setup.vision is not None:
            keys.append(("frame", setup.vision.info.key, sync_vector_index))
        if setup.text.any:
            keys.append(("text", describe_text_model(setup.text.text_model).key, sync_text_index))
        rebuilt = 0
        for label, key, sync in keys:
            with db.session() as session:
                model = models_repo.get_model_by_key(session, key)
            if model is None:
                continue
            m = sync(db, setup.ingest.layout, model.id, rebuild=True).manifest
            print(f"Rebuilt the {label} index: {m.count} vectors ({m.kind}, {m.dim}-d) for {m.model_key}.")
            rebuilt += 1
        if not rebuilt:
            print("Nothing to rebuild: nothing has been indexed with the configured models yet.")
    return 0


def cmd_transcript(args: argparse.Namespace, settings: Settings) -> int:
    from db.models import Channel
    from db.repositories import text as text_repo
    from scenedex import export

    channels = [Channel(c) for c in args.channel] if args.channel else [Channel.SUBTITLES, Channel.SPEECH,
                                                                         Channel.OCR]
    with open_database(settings) as db, db.session() as session:
        media = library_repo.get_media_by_path(session, str(args.file.absolute()))
        if media is None:
            print(f"error: {args.file} is not indexed: run `scenedex index {args.file}` first", file=sys.stderr)
            return 2
        segments = text_repo.segments_of(session, media.id, channels)
        channel_rows = text_repo.channels_of(session, media.id)
    if args.json or args.format == "json":
        _print_json(export.to_json(str(args.file), segments, [c for c in channel_rows if c.channel in channels]))
        return 0
    if args.format in ("srt", "vtt") and len({s.channel for s in segments}) > 1:
        print("error: SRT/VTT export takes one channel: add --channel speech (or subtitles, ocr)", file=sys.stderr)
        return 2
    if args.format == "srt":
        out = export.to_srt(segments)
    elif args.format == "vtt":
        out = export.to_vtt(segments)
    else:
        out = export.to_text(segments, [str(s.channel) for s in segments])
        notes = [f"{c.channel}: {c.status}" + (f" ({c.error_reason})" if c.error_reason else "") for c in channel_rows
                 if c.channel in channels]
        out = "\n".join([f"# {args.file}", *(f"# {n}" for n in notes), out])
    if args.output:
        args.output.write_text(out + "\n")
        print(f"wrote {len(segments)} lines to {args.output}")
    else:
        print(out)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    library = demo.ensure_sample_library(settings.data_dir / "sample-library", progress=print)
    args.paths, args.retry_failed = [library], False
    print(f"Indexing the sample library in {library} …")
    code = cmd_index(args, settings)
    print("\n$ scenedex status --files")
    args.files = True
    cmd_status(args, settings, show_problems=False)
    for query in DEMO_QUERIES:
        print(f'\n$ scenedex search "{query}" --page-size 3')
        search_args = cli_search.search_parser().parse_args([query, "--page-size", "3"])
        cli_search.cmd_search(search_args, settings)
    print(f'\n$ scenedex ask "{DEMO_QUESTION}"')
    try:
        cli_ask.cmd_ask(build_parser().parse_args(["ask", DEMO_QUESTION]), settings)
    except QaError as exc:  # the library is indexed and searchable: say why asking failed, then go on
        print(f"error: {exc}", file=sys.stderr)
        code = code or 2
    print(demo.NEXT_STEPS)
    return code


DEMO_QUERIES = ("reporters asking questions", "honey bees")  # paraphrases: no word is said or shown as such
DEMO_QUESTION = "When was the interview recorded?"  # its answer is said once, at 0:00.5–0:03.2


def cmd_prepare(args: argparse.Namespace, settings: Settings) -> int:
    prepare(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenedex", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log what happens, and show what libraries print (progress bars, warnings)")
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
    p.add_argument("--retry-failed", action="store_true", help="try again files (and channels of files) that failed before, even unchanged")
    p.add_argument("--sample-fps", type=float, help="frames sampled per second of video (default 1)")
    p.add_argument("--sampling-mode", choices=["uniform", "keyframes"],
                   help="uniform: every 1/fps seconds; keyframes: keyframes only (much faster, coarser)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="files read at once, sharing the loaded models (default: setting index_jobs, one per core, "
                   "at most 2). Within a file OCR reads frames in order, so a second file keeps the other core "
                   "busy; 1: one at a time, less memory; more than the cores only adds memory. Not with --queue "
                   "(there each worker process takes one file)")
    p.add_argument("--queue", action="store_true",
                   help="enqueue for `scenedex worker` processes (Celery) and return; needs SCENEDEX_DATABASE_URL")
    p.add_argument("--wait", action="store_true", help="with --queue: follow the job until it is done")
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

    p = sub.add_parser("transcript", parents=[common], help="print or export the timed text of an indexed file",
                       description="Print what is said (speech), subtitled and written on screen (OCR) in a file, "
                       "with times; or export one channel as SRT or WebVTT.")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--channel", action="append", choices=["speech", "subtitles", "ocr"],
                   help="only this channel (repeatable; default: all three)")
    p.add_argument("--format", choices=["text", "srt", "vtt", "json"], default="text",
                   help="json: every line with its channel, times, language, confidence and words (= --json)")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of the terminal")
    p.set_defaults(func=cmd_transcript)

    cli_search.add_commands(sub, common)
    cli_ask.add_commands(sub, common)
    cli_jobs.add_commands(sub, common)

    p = sub.add_parser("demo", parents=[common], help=COMMANDS["demo"])
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("prepare", parents=[common], help=COMMANDS["prepare"],
                       description="Make the dense copy of the packaged answer model (its GGUF is sha256-checked "
                       "and dequantized into the cache directory, SCENEDEX_CACHE_DIR). Fast when already done.")
    p.set_defaults(func=cmd_prepare)
    _list_in_order(sub)
    return parser


def _list_in_order(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`scenedex --help` lists the commands in COMMANDS' order, each with its line from there."""
    order = list(COMMANDS)
    listed = sub._choices_actions  # argparse keeps the help listing here
    listed.sort(key=lambda a: order.index(a.dest) if a.dest in COMMANDS else len(order))
    for action in listed:
        action.help = COMMANDS.get(action.dest, action.help)


def _print_any_file_name() -> None:
    """File names that are not UTF-8 (kept as lone surrogates, see db.types) print as \\udcNN instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    _print_any_file_name()
    args = build_parser().parse_args(argv)
    stop_on_signals()  # SIGTERM and SIGHUP unwind like Ctrl-C: the embedded Postgres is stopped
    try:
        settings = _settings(args)
        with libraries_quiet(args.verbose, log_file_of(settings.cache_dir)), loading.announcing():
            return int(args.func(args, settings))
    except Terminated as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (DatabaseError, EncoderError, SearchError, FeatureFileError, IndexerError, QaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
