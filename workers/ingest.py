"""Ingest of one media file: probe, sample, shots, encode, store. Safe to run twice.

The long part (decoding and encoding) holds no database transaction; the result is written in one short
transaction (shots, frames, feature file, status), so a crash or Ctrl-C leaves either the old state or the new.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from db.models import MediaFile, MediaStatus
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.session import Database
from indexer.encoders.base import EncodedFrames, TorchVisionEncoder
from indexer.errors import IndexerError, UnsupportedMediaError
from indexer.features import write_feature_file
from indexer.files import fingerprint
from indexer.probe import MediaInfo, check_readable, choose_video_stream, probe
from indexer.sampling import FrameSampler, SamplingPolicy
from indexer.shots import build_shots
from workers.layout import DataLayout

log = logging.getLogger(__name__)
ProgressFn = Callable[[float, float], None]  # (t_s done, duration_s)


@dataclass(frozen=True)
class IngestConfig:
    layout: DataLayout
    sampling: SamplingPolicy
    min_shot_s: float = 0.5

    def sampling_key(self) -> str:
        p = self.sampling
        return (f"{p.mode}:fps={p.fps:g}:max={p.max_frames}:shot={p.shot_threshold:g}:min={self.min_shot_s:g}"
                f":{p.size_px}px:{p.resize_mode}")


class Outcome(StrEnum):
    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Encoding:
    """The loaded encoder and the id of its embedding_models row."""

    encoder: TorchVisionEncoder
    model_id: int


def _stat(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def file_signature(path: Path) -> tuple[int, int]:
    """(size in bytes, mtime in ns), or (-1, 0) for a file that cannot be stat'ed (dangling link, gone)."""
    try:
        return _stat(path)
    except OSError:
        return -1, 0


def is_current(media: MediaFile, config: IngestConfig, model_id: int | None, retry_failed: bool) -> bool:
    """True when the row already reflects this file under this configuration (size and mtime unchanged)."""
    size, mtime = file_signature(Path(media.path))
    if media.status in (MediaStatus.FAILED, MediaStatus.SKIPPED):
        return not retry_failed and (size, mtime) == (media.size_bytes, media.mtime_ns)
    if media.status != MediaStatus.INDEXED or (size, mtime) != (media.size_bytes, media.mtime_ns):
        return False
    return media.sampling_key == config.sampling_key() and media.embedding_model_id == model_id


def touch_if_same_content(db: Database, media_id: int, config: IngestConfig, model_id: int | None) -> bool:
    """A file whose mtime changed but whose content fingerprint did not is updated in place, not re-indexed."""
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None or media.status != MediaStatus.INDEXED or media.fingerprint is None:
            return False
        if media.sampling_key != config.sampling_key() or media.embedding_model_id != model_id:
            return False
        try:
            size, mtime = _stat(Path(media.path))
            same = size == media.size_bytes and fingerprint(Path(media.path), size) == media.fingerprint
        except OSError:
            return False
        if same:
            media.mtime_ns = mtime
        return same


def _encode(sampler: FrameSampler, encoding: Encoding | None, progress: ProgressFn | None, duration_s: float
            ) -> tuple[np.ndarray, EncodedFrames | None]:
    times, embeds, pooled, grids = [], [], [], []
    for batch in sampler.batches():
        times.append(batch.t_s)
        if encoding is not None:
            out = encoding.encoder.encode(batch.frames)
            embeds.append(out.embeddings)
            pooled.append(out.pooled)
            if out.grid is not None:
                grids.append(out.grid)
        if progress is not None:
            progress(float(batch.t_s[-1]), duration_s)
    t_s = np.concatenate(times) if times else np.zeros(0)
    if encoding is None:
        return t_s, None
    info = encoding.encoder.info
    if not embeds:
        return t_s, encoding.encoder.encode(np.zeros((0, info.image_size, info.image_size, 3), np.uint8))
    return t_s, EncodedFrames(np.concatenate(embeds), np.concatenate(pooled), np.concatenate(grids) if grids else None)


def _record_problem(db: Database, media_id: int, exc: BaseException) -> Outcome:
    if isinstance(exc, IndexerError):
        skipped = isinstance(exc, UnsupportedMediaError) and exc.reason.startswith("no video stream")
        status = MediaStatus.SKIPPED if skipped else MediaStatus.FAILED
        reason, hint, detail = exc.reason, exc.hint, exc.detail
    else:
        status = MediaStatus.FAILED
        reason = f"unexpected error: {type(exc).__name__}: {exc}"
        hint = "this is a bug in scenedex; please report it with the detail (`scenedex status --verbose`)"
        detail = traceback.format_exc()
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is not None:
            media.size_bytes, media.mtime_ns = file_signature(Path(media.path))
            library_repo.mark_problem(session, media, status, reason, hint, detail)
    log.info("%s: %s (%s)", media_id, reason, hint)  # the run summary reports it to the user
    return Outcome.SKIPPED if status == MediaStatus.SKIPPED else Outcome.FAILED


def index_media(db: Database, media_id: int, config: IngestConfig, encoding: Encoding | None,
                progress: ProgressFn | None = None) -> Outcome:
    """Index one media row. A bad file is recorded with its reason; only database errors propagate."""
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None:
            log.info("media %d is gone; nothing to do", media_id)
            return Outcome.UNCHANGED
        path = Path(media.path)
    try:
        size = check_readable(path)
        digest = fingerprint(path, size)
        info: MediaInfo = probe(path)
        stream = choose_video_stream(info)
        sampler = FrameSampler(info, stream, config.sampling)
        t_s, encoded = _encode(sampler, encoding, progress, info.duration_s)
        shots, frame_shot = build_shots(t_s, sampler.result.cut_t_s, info.duration_s, config.min_shot_s)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - every bad file is recorded, the library goes on
        return _record_problem(db, media_id, exc)
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None:
            return Outcome.UNCHANGED
        media.size_bytes, media.mtime_ns = _stat(path)
        library_repo.set_probe(
            session, media, fingerprint=digest, duration_s=info.duration_s, container=info.container,
            streams=[s.as_dict() for s in info.streams], video_stream_index=stream.index, width=stream.width,
            height=stream.height, fps=stream.fps, rotation_deg=stream.rotation_deg, is_vfr=stream.is_vfr)
        ids = frames_repo.replace_frames(session, media_id, t_s, [(s.start_s, s.end_s) for s in shots], frame_shot,
                                         [s.representative for s in shots])
        kept: Path | None = None
        if encoding is not None and encoded is not None:
            kept = config.layout.feature_file(encoding.model_id, media_id)
            write_feature_file(kept, ids, encoded)  # atomic rename, before the commit that makes it count
        library_repo.mark_indexed(session, media, sample_fps=sampler.result.fps, sampling_key=config.sampling_key(),
                                  embedding_model_id=encoding.model_id if encoding else None)
    for stale in config.layout.feature_files_of_media(media_id):  # other models' files, now without rows
        if stale != kept:
            stale.unlink(missing_ok=True)
    log.info("indexed %s: %d frames, %d shots", path, len(t_s), len(shots))
    return Outcome.INDEXED


def remove_media(db: Database, layout: DataLayout, media_ids: list[int]) -> int:
    """Delete rows (frames and shots cascade) and feature files; vectors leave the index at the next sync."""
    with db.session() as session:
        removed = library_repo.delete_media(session, media_ids)
    for media_id in media_ids:
        for path in layout.feature_files_of_media(media_id):
            path.unlink(missing_ok=True)
    return removed
