"""Readable summaries: what an index run did, and what the library holds (`scenedex status`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import runs as runs_repo
from db.repositories import text as text_repo
from db.session import Database, safe_url
from db.types import shown
from indexer.text_embedding import describe_text_model
from scenedex.runtime import IndexSetup
from search.errors import SearchError
from search.vector_index import read_manifest, watermark_of
from workers.index_run import IndexSummary


def hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def summary_text(summary: IndexSummary) -> str:
    lines = []
    head = "Interrupted — what finished is saved; run the same command again to resume." if summary.interrupted \
        else "Done."
    deferred = f"{len(summary.deferred)} deferred (changed while indexed), " if summary.deferred else ""
    lines.append(f"{head} {len(summary.indexed)} indexed, {summary.unchanged} unchanged, "
                 f"{len(summary.failed)} failed, {len(summary.skipped)} skipped, {deferred}"
                 f"{len(summary.removed)} removed.")
    if summary.reembedded:
        recut = (f", {summary.rechunked} of them cut into chunks again by this version's rules"
                 if summary.rechunked else "")
        lines.append(f"  {summary.reembedded} unchanged file(s): text re-embedded with "
                     f"{summary.reembedded_with}{recut} (speech and on-screen text kept, not read again)")
    if summary.ocr_read_again:
        lines.append(f"  {summary.ocr_read_again} unchanged file(s): on-screen text read again (OCR's settings or "
                     "this version's rules changed; frames, speech and subtitles kept)")
    for path in summary.removed:
        lines.append(f"  - removed (file is gone): {shown(path)}")
    for p in summary.problems:
        lines.append(f"  ✗ {p.status}: {shown(p.path)}\n      why: {p.reason}" + (f"\n      what to do: {p.hint}" if p.hint else ""))
    if summary.vectors is not None:
        m = summary.vectors
        lines.append(f"Vector index: {m.count} vectors ({m.kind}, {m.dim}-d, model {m.model_key}).")
    return "\n".join(lines)


def _index_state(session: Session, setup: IndexSetup, model_key: str,
                 ids_in_database: Callable[[Session, int], np.ndarray]) -> dict[str, Any]:
    """How many vectors the database has for a model, and whether its FAISS index on disk matches them."""
    model = models_repo.get_model_by_key(session, model_key)
    if model is None:
        return {}
    db_ids = ids_in_database(session, model.id)
    state: dict[str, Any] = {"vectors_in_database": int(db_ids.size)}
    try:
        manifest = read_manifest(setup.ingest.layout.index_dir(model.id))
        state["index"] = asdict(manifest)
        state["index_current"] = manifest.watermark == watermark_of(db_ids)
    except SearchError as exc:
        state["index_error"] = str(exc)
    return state


def status_data(db: Database, setup: IndexSetup, database_label: str) -> dict[str, Any]:
    with db.session() as session:
        roots = [r.path for r in library_repo.list_roots(session)]
        counts = library_repo.status_counts(session)
        totals = frames_repo.totals(session)
        runs = [{"id": r.id, "command": r.command, "status": r.status, "started_at": r.started_at.isoformat(),
                 "indexed": r.indexed, "unchanged": r.unchanged, "failed": r.failed, "removed": r.removed,
                 "reason": r.reason}
                for r in runs_repo.last_runs(session, 3)]
        problems = [{"path": m.path, "status": str(m.status), "reason": m.error_reason, "hint": m.error_hint}
                    for m in library_repo.problems(session)]
        channels = text_repo.channel_counts(session)
        channel_problems = [{"path": path, "channel": str(c.channel), "reason": c.error_reason, "hint": c.error_hint}
                            for path, c in text_repo.channel_problems(session)]
        channel_notes = [{"path": path, "channel": str(c.channel), "note": c.error_reason}
                         for path, c in text_repo.channel_notes(session)]
        text_index: dict[str, Any] = {}
        if setup.text.any:
            key = describe_text_model(setup.text.text_model).key
            others = {name: n for (k, name), n in text_repo.chunks_by_model(session).items() if k != key}
            text_index = {"model": key, **_index_state(session, setup, key, text_repo.chunk_ids),
                          "other_models": others}
        visual: dict[str, Any] = {"enabled": setup.vision is not None}
        if setup.vision is not None:
            key = setup.vision.info.key
            visual.update({"model": key, **_index_state(session, setup, key, frames_repo.vector_frame_ids)})
    return {"database": database_label, "roots": roots, "files": counts, **totals, "visual": visual,
            "channels": channels, "text": text_index, "runs": runs, "problems": problems,
            "channel_problems": channel_problems, "channel_notes": channel_notes}


def files_data(db: Database) -> list[dict[str, Any]]:
    """Every indexed file with its duration, frame count and shot spans."""
    out = []
    with db.session() as session:
        for media in library_repo.list_media(session):
            if media.status != "indexed":
                continue
            shots = frames_repo.shots_of_media(session, media.id)
            channels = {str(c.channel): c.item_count for c in text_repo.channels_of(session, media.id)
                        if c.status == "done" and str(c.channel) != "frames"}
            video = f"{media.width}x{media.height} {media.fps or 0:.2f} fps" if media.width else "audio only"
            out.append({"path": media.path, "duration_s": media.duration_s, "video": video, "text": channels,
                        "frames": len(frames_repo.frame_ids(session, media.id)),
                        "shots": [(round(s.start_s, 2), round(s.end_s, 2)) for s in shots]})
    return out


def files_text(files: list[dict[str, Any]]) -> str:
    lines = ["indexed files"]
    for f in files:
        spans = ", ".join(f"{hms(a)}–{hms(b)}" for a, b in f["shots"])
        text = " · ".join(f"{n} {name} lines" for name, n in sorted(f.get("text", {}).items()))
        lines.append(f"  {shown(f['path'])}\n      {hms(f['duration_s'] or 0)} · {f['video']} · {f['frames']} frames · "
                     f"{len(f['shots'])} shots" + (f": {spans}" if spans else "") + (f"\n      {text}" if text else ""))
    return "\n".join(lines)


def status_text(data: dict[str, Any], show_problems: bool = True) -> str:
    files = data["files"]
    indexed = files.get("indexed", {"files": 0, "duration_s": 0.0})
    parts = [f"{files.get(k, {}).get('files', 0)} {k}" for k in ("failed", "skipped", "pending")]
    lines = [
        f"database  {data['database']}",
        f"library   {', '.join(map(shown, data['roots'])) or '(empty: run `scenedex index PATH`)'}",
        f"files     {indexed['files']} indexed ({hms(indexed['duration_s'])} of video) · {' · '.join(parts)}",
        f"frames    {data['frames']} sampled frames in {data['shots']} shots",
    ]
    visual = data["visual"]
    if not visual["enabled"]:
        lines.append("visual    off: no vision model configured (set SCENEDEX_VISION_MODEL to a local CLIP or "
                     "SigLIP directory)")
    else:
        index = visual.get("index")
        if index:
            state = "up to date" if visual.get("index_current") else "behind the database: run `scenedex reindex`"
            lines.append(f"visual    {visual['model']}\n          index: {index['kind']}, {index['count']} vectors, "
                         f"{index['dim']}-d, {state}")
        else:
            lines.append(f"visual    {visual['model']}\n          index: {visual.get('index_error', 'not built yet')}")
    channels = data.get("channels", {})
    for name in ("subtitles", "speech", "ocr"):
        counts = channels.get(name, {})
        if counts:
            lines.append(f"{name:<9} " + " · ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    text = data.get("text", {})
    for name, n in text.get("other_models", {}).items():  # re-embedded with another model than the configured one
        lines.append(f"text      {n} chunks embedded with {name}, not the configured {text['model']}: search them "
                     f"with SCENEDEX_TEXT_MODEL={name}, or run `scenedex index` to embed them with the configured one")
    if text.get("index") and text.get("vectors_in_database"):
        state = "up to date" if text.get("index_current") else "behind the database: run `scenedex reindex`"
        lines.append(f"text      {text['index']['count']} chunks embedded with {text['model']}, {state}")
    for run in data["runs"][:1]:
        lines.append(f"last run  {run['started_at'][:16].replace('T', ' ')} {run['command']}: {run['status']}, "
                     f"{run['indexed']} indexed, {run['unchanged']} unchanged, {run['failed']} failed, "
                     f"{run['removed']} removed")
        if run.get("reason"):
            lines.append(f"          stopped early: {run['reason']}")
    if data.get("channel_problems") and show_problems:
        lines.append("channel problems (the file's other channels are indexed)")
        for p in data["channel_problems"]:
            lines.append(f"  ✗ {p['channel']}: {shown(p['path'])}\n      why: {p['reason']}"
                         + (f"\n      what to do: {p['hint']}" if p["hint"] else ""))
    if data.get("channel_notes") and show_problems:
        lines.append("channel notes (indexed; what was left out or chosen)")
        for n in data["channel_notes"]:
            lines.append(f"  ! {n['channel']}: {shown(n['path'])}\n      {n['note']}")
    if data["problems"] and not show_problems:
        lines.append(f"problems  {len(data['problems'])} files (listed above; `scenedex status` shows them too)")
    elif data["problems"]:
        lines.append("problems")
        for p in data["problems"]:
            lines.append(f"  ✗ {p['status']}: {shown(p['path'])}\n      why: {p['reason']}"
                         + (f"\n      what to do: {p['hint']}" if p["hint"] else ""))
    return "\n".join(lines)


def database_label(url: str | None, data_dir: str) -> str:
    return safe_url(url) if url else f"embedded Postgres in {data_dir}/postgres"
