"""Real footage through `scenedex index` with every default channel and no vision model, against plain
`ffmpeg -i F -vf fps=1 -f null -` on the same files in the same run (goal: at most 4x), with a stage breakdown
(goal: OCR at most 50 % of ingest; measured as issue 13 did, the time OCR adds: (index - index with OCR off) /
index, and also as the wall time with an OCR call running and as OCR's threads' CPU) and the OCR quality goals of
../shared/media/README.md:

* bbb_opening_720p.mp4: the title card "THE PEACH OPEN MOVIE PROJECT / PRESENTS" (~20.5-25 s) read; at most 3
  on-screen-text lines outside the title card and the logo (~26-31 s);
* bbb_credits_720p.mp4: at least 90 % of the credit lines read, each credit line one span, against every line of
  the hand-made ground truth bench/credits_truth.toml (scoring: bench/credits_score.py);
* chaplin_street.mp4: no text at all (read with the same reader, outside the timed run).

    .venv/bin/python bench/ingest.py --real [--seconds 20]
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import cpu_s, ffmpeg_baseline, ffmpeg_version, save
from bench.credits_score import load_truth, score
from bench.stages import OVERLAPPED, STAGES, breakdown, cpu_breakdown, stage_timer
from indexer.text_spans import text_similarity

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
FILES = ("bbb_opening_720p.mp4", "bbb_credits_720p.mp4")
TITLE = ("THE PEACH OPEN MOVIE PROJECT", "PRESENTS")
TITLE_S, LOGO_S = (19.5, 26.0), (25.0, 32.0)
CREDIT_KINDS = ("heading", "credit", "supporter")
log = logging.getLogger(__name__)


def library_of(work: Path, seconds: int, files: tuple[str, ...]) -> Path:
    library = work / "library"
    library.mkdir()
    for name in files:
        if seconds:
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(MEDIA / name), "-t", str(seconds), "-c", "copy",
                            str(library / name)], check=True)
        else:
            shutil.copy(MEDIA / name, library / name)
    return library


def ffmpeg_s(library: Path, skip_nonref: bool = False) -> float:
    return ffmpeg_baseline(sorted(library.glob("*.mp4")), skip_nonref=skip_nonref)[0]


def index_s(library: Path, data_dir: Path, n_files: int, jobs: int | None,
            ocr: bool = True) -> tuple[float, tuple[int, int], dict[str, float], dict[str, list[Any]]]:
    """(wall s, (files at once, segments of a file OCR reads at once), busy seconds per stage, kept outcomes) of
    `scenedex index` on ``library``; ``jobs`` None: the index_jobs setting (SCENEDEX_INDEX_JOBS, else its
    default), as the CLI does; OCR's segments: the ocr_workers setting (SCENEDEX_OCR_WORKERS); ``ocr`` False:
    on-screen text switched off (SCENEDEX_OCR=false)."""
    from scenedex.runtime import index_setup, open_database
    from scenedex.settings import Settings
    from workers.index_run import index_paths

    settings = Settings(data_dir=data_dir, database_url=None, ocr=ocr, **({"index_jobs": jobs} if jobs else {}))
    setup = index_setup(settings)
    with open_database(settings) as db, stage_timer() as (seconds, outcomes):
        t0 = time.perf_counter()
        summary = index_paths(db, [library], setup.ingest, setup.extensions, setup.vision, text=setup.text,
                              qa_tower=setup.qa_tower, jobs=settings.index_jobs)
        elapsed = time.perf_counter() - t0
    assert len(summary.indexed) == n_files, summary
    ocr_workers = setup.text.ocr.workers if setup.text.ocr is not None else 0
    return elapsed, (settings.index_jobs, ocr_workers), dict(seconds), dict(outcomes)


def ocr_items(outcomes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """File name -> its OCR items (TimedText), from the calls of run_file_pass (one decode for every channel:
    [frames, ocr, subtitles, speech]) or run_ocr (its own decode) the timer kept."""
    items = {args[0].path.name: result[1].items for args, result in outcomes.get("run_file_pass", [])}
    items.update({args[0].path.name: result.items for args, result in outcomes.get("run_ocr", [])})
    return items


def embedding_alone(outcomes: dict[str, list[Any]]) -> dict[str, dict[str, float]]:
    """Each sentence model's share of the run's text embedding, re-timed alone on the same texts after the run:
    a model on onnxruntime works in threads of its own, whose CPU the run's per-thread clocks do not see."""
    texts: dict[str, tuple[Any, list[str]]] = {}
    for encoder, batch in outcomes.get("text embedding", []):
        texts.setdefault(encoder.info.name, (encoder, []))[1].extend(batch)
    out = {}
    for name, (encoder, batch) in texts.items():
        t0, c0 = time.perf_counter(), cpu_s()
        encoder.encode(batch)
        out[name] = {"texts": len(batch), "wall_s": time.perf_counter() - t0, "cpu_s": cpu_s() - c0}
    return out


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def overlaps(item: Any, window: tuple[float, float]) -> bool:
    return bool(item.start_s < window[1] and item.end_s > window[0])


def opening_quality(items: list[Any]) -> dict[str, Any]:
    title = [i for i in items if overlaps(i, TITLE_S) and any(text_similarity(i.text, t) >= 0.8 for t in TITLE)]
    logo = [i for i in items if overlaps(i, LOGO_S) and i not in title]
    other = [i for i in items if i not in title and i not in logo]
    return {"title_read": {t: any(text_similarity(i.text, t) >= 0.8 for i in title) for t in TITLE},
            "logo_lines": [i.text for i in logo], "other_lines": [(i.start_s, i.text) for i in other]}


def credits_quality(items: list[Any]) -> dict[str, Any]:
    """Against bench/credits_truth.toml: lines read (strict, contained), split, by kind; each miss with the spans
    read near it; every span, for analysis."""
    result = score(items, load_truth())
    return {**result.summary(), "by_kind": {kind: result.of_kind(kind).summary() for kind in CREDIT_KINDS},
            "spans": len(items),
            "misses": [{"line": m.line.text, "kind": m.line.kind, "window_s": [m.line.start_s, m.line.end_s],
                        "coverage": round(m.coverage, 2),
                        "near": [[i.start_s, i.end_s, i.text] for i in items if m.line.near(i)]}
                       for m in result.misses],
            "split_lines": [{"line": s.line.text, "spans": [[i.start_s, i.end_s, i.text] for i in s.spans]}
                            for s in result.lines if s.split],
            "ocr_spans": [[i.start_s, i.end_s, i.text] for i in items]}


def credits_lines(credits: dict[str, Any]) -> list[str]:
    """The credits figures as printed: totals, by kind, the first misses."""
    def figures(c: dict[str, Any]) -> str:
        return (f"read {c['read_strict']} strict ({c['recall_strict']:.0%}), {c['read_contained']} contained "
                f"({c['recall_contained']:.0%}) of {c['certain']}; split {c['split']} ({c['one_span']:.0%} of "
                f"those read one span)")
    lines = [f"credits: {credits['spans']} spans; {credits['lines']} lines in bench/credits_truth.toml, "
             f"{credits['certain']} scored (goal >= 90 % read, each one span): {figures(credits)}"]
    lines += [f"  {kind:9} {figures(c)}" for kind, c in credits["by_kind"].items()]
    misses = credits["misses"]
    lines += [f"  missed ({len(misses)}, first 15; coverage: the line's characters found in the spans near it):"]
    lines += [f"    {m['window_s'][0]:5.1f}-{m['window_s'][1]:5.1f} s {m['kind']:9} {m['line'][:60]!r} coverage "
              f"{m['coverage']:.0%}" for m in misses[:15]]
    return lines


def chaplin_lines() -> list[str]:
    from indexer.ocr import load_ocr_engine
    from indexer.probe import choose_video_stream, probe
    from indexer.sampling import FrameSampler, SamplingPolicy
    from indexer.screen_text import ScreenTextReader

    info = probe(MEDIA / "chaplin_street.mp4")
    reader = ScreenTextReader(load_ocr_engine())
    for batch in FrameSampler(info, choose_video_stream(info),
                              SamplingPolicy(size_px=960, resize_mode="fit_width")).batches():
        reader.feed(batch.frames, batch.t_s, np.zeros(len(batch.t_s), np.int64))
    return [s.text for s in reader.finish(1.0, info.duration_s)]


def run_real(seconds: int, files: tuple[str, ...] = FILES, jobs: int | None = None) -> None:
    work = Path(tempfile.mkdtemp(prefix="scenedex-bench-real-"))
    load_before = load_average()
    try:
        library = library_of(work, seconds, files)
        c0 = cpu_s()
        before_s = ffmpeg_s(library)
        c1 = cpu_s()
        total_s, (jobs, ocr_workers), raw, outcomes = index_s(library, work / "data", len(files), jobs)
        c2 = cpu_s()
        after_s = ffmpeg_s(library)  # the machine is shared: the baseline on both sides of the run
        c3 = cpu_s()
        noref_s = ffmpeg_s(library, skip_nonref=True)
        # the cost of OCR as issue 13 measured it: (with OCR - without) / with; run last, when the other models'
        # files are in the page cache, so it is not flattered by a slower run without OCR
        c4 = cpu_s()
        without_ocr_s = index_s(library, work / "data-without-ocr", len(files), jobs, ocr=False)[0]
        without_ocr_cpu_s = cpu_s() - c4
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base_s = (before_s + after_s) / 2
    base_cpu_s, index_cpu_s = (c1 - c0 + c3 - c2) / 2, c2 - c1  # CPU seconds hardly move with the load
    cpu_stages = cpu_breakdown(raw)
    stages = breakdown(raw)
    ocr_s = stages["ocr: probe, detect, recognise"]
    ocr_wall_s = raw.get("ocr: wall covered", 0.0)
    pass_s = raw.get("file pass", 0.0)
    items = ocr_items(outcomes)
    opening = opening_quality(items.get(FILES[0], []))
    credits = credits_quality(items.get(FILES[1], []))
    chaplin = chaplin_lines()
    embedding = embedding_alone(outcomes)
    print(f"{' + '.join(files)}{f' (first {seconds} s each)' if seconds else ''}, default channels, no vision model, "
          f"{jobs} file(s) at once, OCR reading {ocr_workers} segment(s) of a file at once")
    print(f"load average before {load_before}, after {load_average()} ({os.cpu_count()} cores), {ffmpeg_version()}\n")
    print(f"plain ffmpeg -vf fps=1 -f null -   {base_s:7.1f} s   (before {before_s:.1f} s, after {after_s:.1f} s)")
    print(f"  the same, -skip_frame noref      {noref_s:7.1f} s   (the decoding shortcut scenedex takes by default)")
    print(f"scenedex index                     {total_s:7.1f} s   {total_s / base_s:5.1f}x ffmpeg (goal <= 4x); "
          f"{total_s / noref_s:.1f}x ffmpeg -skip_frame noref")
    ocr_cpu_s = cpu_stages["ocr: probe, detect, recognise"]
    print(f"OCR share of ingest, wall          {ocr_wall_s / total_s:7.0%}            (goal <= 50 %; wall time "
          f"with an OCR call running, {ocr_wall_s:.1f} s)")
    print(f"OCR's cost, (with - without) / with {(total_s - without_ocr_s) / total_s:6.0%}            (goal <= 50 %; "
          f"scenedex index with OCR off: {without_ocr_s:.1f} s, {without_ocr_s / base_s:.1f}x ffmpeg, "
          f"{without_ocr_cpu_s:.1f} CPU s)")
    cores = len(os.sched_getaffinity(0))
    floor_s = index_cpu_s / cores  # no schedule of this much CPU on these cores takes less wall time
    print(f"  at best, its CPU on {cores} cores    {(floor_s - without_ocr_s) / floor_s:6.0%}            (the run's "
          f"{index_cpu_s:.1f} CPU s take at least {floor_s:.1f} s; for 50 % they would have to fit "
          f"{2 * without_ocr_s:.1f} s: at most {2 * without_ocr_s * cores:.1f} CPU s)")
    print(f"OCR share of ingest, CPU           {ocr_cpu_s / index_cpu_s:7.0%}            (OCR's threads "
          f"{ocr_cpu_s:.1f} of {index_cpu_s:.1f} CPU s)")
    print(f"CPU seconds (process and ffmpeg children): ffmpeg {base_cpu_s:.1f}, scenedex index {index_cpu_s:.1f} "
          f"({index_cpu_s / base_cpu_s:.1f}x; {index_cpu_s / total_s:.2f} cores busy on average); speech's thread "
          f"{cpu_stages['speech']:.1f}")
    print("text embedding re-timed alone after the run (CPU s / wall s for the run's texts): " + "; ".join(
        f"{name} {e['cpu_s']:.1f} / {e['wall_s']:.1f} ({e['texts']} texts)" for name, e in embedding.items()) + "\n")
    print(f"{'stage (busy s, summed over threads)':36} {'s':>7} {'/ wall':>6}")
    for name in STAGES:
        mark = "  (own thread, overlapped)" if name in OVERLAPPED and pass_s else ""
        print(f"{name:36} {stages[name]:7.1f} {stages[name] / total_s:6.0%}{mark}")
    main_load_s = raw.get("model loading on a file's thread", 0.0)
    print(f"{'  of it on a file thread':36} {main_load_s:7.1f} {main_load_s / total_s:6.0%}")
    if pass_s:
        print(f"{'one decode for all channels':36} {pass_s:7.1f} {pass_s / total_s:6.0%}  (wall of the shared "
              f"passes, summed over files)")
        for name in files:
            file_s = raw.get(f"file pass: {name}", 0.0)
            print(f"{'  ' + name:36} {file_s:7.1f} {file_s / total_s:6.0%}  (its pass's wall: OCR in order)")
    print(f"\nopening: title card read {opening['title_read']}, logo lines {opening['logo_lines']}, "
          f"other lines {len(opening['other_lines'])} (goal <= 3): {opening['other_lines']}")
    print("\n".join(credits_lines(credits)))
    print(f"chaplin_street.mp4: {len(chaplin)} lines (goal 0) {chaplin}")
    path = save("ingest_real", {
        "seconds": seconds, "files": list(files), "ffmpeg_s": base_s, "ffmpeg_noref_s": noref_s,
        "ffmpeg_before_s": before_s, "ffmpeg_after_s": after_s, "index_s": total_s, "ratio": total_s / base_s,
        "jobs": jobs, "ocr_share": ocr_s / total_s, "ocr_wall_share": ocr_wall_s / total_s,
        "index_without_ocr_s": without_ocr_s, "index_without_ocr_cpu_s": without_ocr_cpu_s,
        "ocr_cost_share": (total_s - without_ocr_s) / total_s,
        "cores": cores, "ocr_cost_floor_share": (floor_s - without_ocr_s) / floor_s,
        "ocr_cpu_share": ocr_cpu_s / index_cpu_s, "stages": stages, "text_embedding_alone": embedding,
        "ffmpeg_cpu_s": base_cpu_s, "index_cpu_s": index_cpu_s, "cpu_stages": cpu_stages, "file_pass_s": pass_s,
        "file_thread_load_s": main_load_s, "load_before": load_before, "load_after": load_average(),
        "opening": opening, "credits": credits, "chaplin_lines": chaplin})
    print(f"saved {path}")
