"""`scenedex search`, `scenedex eval` and `scenedex serve`."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from db.repositories import library as library_repo
from scenedex.runtime import open_database, search_config
from scenedex.search_format import eval_text, hms, results_text
from scenedex.search_service import SearchResponse, SearchService
from scenedex.settings import Settings
from search.errors import QueryError
from search.cutoff_eval import ListedMoment, cutoff_report
from search.library_eval import Predicted, evaluate, read_eval_queries
from search.request import SearchFilters, SearchRequest, make_request, parse_channels
from workers.layout import DataLayout

SEARCH_HELP = """\
Find moments: words that are said (speech), subtitled or shown on screen (OCR), or what is seen (visual, with a
vision-language model configured). Each result is a span of a file with the evidence that matched and its
confidence: a score calibrated to be about the share of such moments that are right, and a label: high (at least
9 in 10 right), medium (about half) or low. Moments below the cut-off (all of them low) are only counted, unless
--all lists them too.

examples:
  scenedex search "ferry captain rescues swimmers"
  scenedex search "where is the telescope assembled" --channels speech,subtitles
  scenedex search "launch" --channels speech,ocr --and          moments where both channels match
  scenedex search "budget vote" --group-by video --path "*/2019/*"
  scenedex search --like-frame 1234                              moments that look like frame 1234
  scenedex search "harbor storm" --json | jq '.moments[0]'
  scenedex search "harbor storm" --open 1                        play the first moment
  scenedex search "harbor storm" --all                           also the low-confidence moments below the cut-off

Quote words ("exact phrase") or use -word to exclude a word in the full-text part of the search.
"""


def _date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


def request_from_args(args: argparse.Namespace) -> SearchRequest:
    like_image = None
    if args.like_image is not None:
        try:
            like_image = args.like_image.read_bytes()
        except OSError as exc:
            raise QueryError(f"cannot read {args.like_image}: {exc.strerror}") from exc
    filters = SearchFilters(root=str(args.root.resolve()) if args.root else None, path_glob=args.path,
                            min_duration_s=args.min_duration_s, max_duration_s=args.max_duration_s,
                            indexed_after=args.indexed_after, indexed_before=args.indexed_before)
    return make_request(text=" ".join(args.query) if args.query else None, channels=args.channels,
                        combine="and" if args.all_channels else "or", group_by=args.group_by, filters=filters,
                        page=args.page, page_size=args.page_size, min_similarity=args.min_similarity,
                        like_frame=args.like_frame, like_image=like_image, show_all=args.show_all)


def _service(db: object, settings: Settings) -> SearchService:
    return SearchService(db, DataLayout(settings.data_dir), search_config(settings))  # type: ignore[arg-type]


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from web.schemas import search_out

    request = request_from_args(args)
    with open_database(settings) as db:
        response = _service(db, settings).search(request)
    if args.json:
        print(search_out(response).model_dump_json(indent=2))
    else:
        print(results_text(response))
    if args.open is not None:
        return open_in_player(response, args.open)
    return 0


def open_in_player(response: SearchResponse, number: int) -> int:
    moments = response.moments.items if response.moments is not None else \
        tuple(v.moments[0] for v in response.videos.items) if response.videos is not None else ()
    first = (response.request.page - 1) * response.request.page_size + 1
    index = number - first
    if not 0 <= index < len(moments):
        print(f"error: there is no result {number} on this page (results {first}–{first + len(moments) - 1})",
              file=sys.stderr)
        return 2
    moment = moments[index]
    path = response.media[moment.media_id].path
    players = [("mpv", [f"--start={moment.start_s:.2f}", path]), ("vlc", [f"--start-time={moment.start_s:.2f}", path]),
               ("ffplay", ["-ss", f"{moment.start_s:.2f}", "-autoexit", path])]
    for name, player_args in players:
        binary = shutil.which(name)
        if binary:
            subprocess.Popen([binary, *player_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
            print(f"Playing {path} from {hms(moment.start_s)} with {name}.")
            return 0
    print(f"No player found (mpv, vlc or ffplay). Open this in a browser or player:\n"
          f"  file://{path}#t={moment.start_s:.2f},{moment.end_s:.2f}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    queries = read_eval_queries(args.queries)
    predictions: list[list[Predicted]] = []
    listed: list[list[ListedMoment]] = []  # every moment, marked above or below the confidence cut-off
    with open_database(settings) as db:
        with db.session() as session:
            roots = [Path(args.root).resolve()] if args.root else [Path(r.path) for r in library_repo.list_roots(session)]
            paths = {m.path for m in library_repo.list_media(session)}
        resolved = {q.media: _resolve_media(q.media, roots, paths) for q in queries}
        missing = sorted(m for m, p in resolved.items() if p is None)
        if missing:
            print(f"error: {len(missing)} file(s) named in {args.queries} are not indexed, e.g. {missing[0]!r}: "
                  "index them first, or give --root (the folder media paths are relative to)", file=sys.stderr)
            return 2
        service = _service(db, settings)
        channels = parse_channels(args.channels)
        by_path = {p: m for m, p in resolved.items()}
        for q in queries:
            response = service.search(SearchRequest(text=q.query, channels=channels, page_size=100, show_all=True))
            assert response.moments is not None
            names = [by_path.get(response.media[m.media_id].path, response.media[m.media_id].path)
                     for m in response.moments.items]
            predictions.append([Predicted(name, m.start_s, m.end_s, m.score)
                                for name, m in zip(names[:10], response.moments.items[:10])])
            listed.append([ListedMoment(name, m.start_s, m.end_s, m.below_cutoff)
                           for name, m in zip(names, response.moments.items)])
    report = evaluate(queries, predictions)
    cutoff = cutoff_report(queries, listed)
    if args.json:
        print(json.dumps({"queries": report.queries, "metrics": report.metrics, "by_group": report.by_group,
                          "top1_iou": report.top1_iou, "cutoff": cutoff.as_dict()}, indent=2))
    else:
        print(eval_text(report, queries, cutoff))
    return 0


def _resolve_media(media: str, roots: list[Path], indexed: set[str]) -> str | None:
    candidates = [Path(media)] if Path(media).is_absolute() else [root / media for root in roots]
    for candidate in candidates:
        if str(candidate) in indexed:
            return str(candidate)
        if str(candidate.resolve()) in indexed:
            return str(candidate.resolve())
    return None


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from web.server import serve

    return serve(settings, host=args.host, port=args.port)


def search_parser() -> argparse.ArgumentParser:
    """The arguments of `scenedex search` alone (for the demo, which runs searches itself)."""
    parser = argparse.ArgumentParser(prog="scenedex search", add_help=False)
    parser.add_argument("--json", action="store_true")
    _search_arguments(parser)
    return parser


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("search", parents=[common], help="find moments in plain language",
                       description=SEARCH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _search_arguments(p)
    p.set_defaults(func=cmd_search)
    _other_commands(sub, common)


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="*", help="what you remember: words said or shown, or what is seen")
    p.add_argument("--channels", default="all",
                   help="comma-separated: visual, speech, subtitles, ocr (default: all)")
    p.add_argument("--and", dest="all_channels", action="store_true",
                   help="only moments where every chosen channel matches (default: any)")
    p.add_argument("--group-by", choices=["moment", "video"], default="moment")
    p.add_argument("--root", type=Path, help="only files under this indexed library root")
    p.add_argument("--path", help="only files whose path matches this pattern (* and ?), e.g. '*/2019/*'")
    p.add_argument("--min-duration-s", type=float, help="only files at least this long")
    p.add_argument("--max-duration-s", type=float, help="only files at most this long")
    p.add_argument("--indexed-after", type=_date, help="only files indexed on or after this date (YYYY-MM-DD)")
    p.add_argument("--indexed-before", type=_date, help="only files indexed on or before this date")
    p.add_argument("--page", type=int, default=1, help="page of results, from 1")
    p.add_argument("--page-size", type=int, default=10, help="results per page (at most 100)")
    p.add_argument("--min-similarity", type=float,
                   help="drop semantic and visual matches below this cosine similarity (word matches stay)")
    p.add_argument("--like-frame", type=int, metavar="FRAME_ID", help="find moments that look like this frame")
    p.add_argument("--like-image", type=Path, metavar="IMAGE", help="find moments that look like this picture")
    p.add_argument("--open", type=int, metavar="N", help="play result N in mpv, vlc or ffplay from its start")
    p.add_argument("--all", dest="show_all", action="store_true",
                   help="also list the moments below the confidence cut-off (low confidence), after the others")


def _other_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("eval", parents=[common], help="measure search quality against queries with true spans",
                       description="Run every query of a JSON Lines file ({\"query\", \"media\", \"start_s\", "
                       "\"end_s\"} per line; media relative to a library root) and report R1/R5 at IoU 0.5 and 0.7 "
                       "and mAP over IoU 0.5:0.05:0.95, overall and per value of any other key (e.g. kind).")
    p.add_argument("queries", type=Path, metavar="QUERIES.jsonl")
    p.add_argument("--root", type=Path, help="the folder media paths are relative to (default: each indexed root)")
    p.add_argument("--channels", default="all", help="channels to search (default: all)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", parents=[common], help="run the HTTP API (and web page) on localhost",
                       description="Serve the search API with its OpenAPI document at /docs. Binds to 127.0.0.1 "
                       "unless --host says otherwise; any other address needs SCENEDEX_API_TOKEN.")
    p.add_argument("--host", help="address to listen on (default: settings api_host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: settings api_port, 8765)")
    p.set_defaults(func=cmd_serve)
