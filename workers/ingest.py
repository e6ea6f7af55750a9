"""Ingest of one media file: probe, then every channel, then one short transaction. Safe to run twice.

The long part (decoding, encoding, recognising) holds no database transaction; the result of all channels is
written at once (shots, frames, text, chunks, feature file, statuses), so a crash or Ctrl-C leaves either the
old state or the new. A failing channel is recorded with its reason and does not stop the others.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from db.models import Channel, ChannelStatus, MediaFile, MediaStatus
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from db.session import Database
from sqlalchemy.orm import Session
from indexer.encoders.base import EncodedFrames
from indexer.errors import EncoderError, IndexerError, UnsupportedMediaError
from indexer.model_files import ModelFileError
from indexer.features import write_feature_file
from indexer.files import FileSignature, fingerprint
from indexer.probe import MediaInfo, StreamInfo, check_readable, choose_video_stream, probe
from indexer.sampling import SamplingPolicy
from indexer.text_chunks import TimedText, make_chunks
from workers.channels import (
    ChannelOutcome,
    FramesOutcome,
    ProgressFn,
    failed,
    run_frames,
    run_ocr,
    run_speech,
    run_subtitles,
    skipped,
)
from workers import faults
from workers.file_pass import one_pass_possible, run_file_pass, run_frames_and_ocr, with_audio_alongside
from workers.bounds import clip_outcomes
from workers.file_state import change_since_probe, record_signature, signature_or_none
from workers.layout import DataLayout
from workers.models import RunModels
from workers.text_vectors import vectors_for
from workers.transient import is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestConfig:
    layout: DataLayout
    sampling: SamplingPolicy
    min_shot_s: float = 0.5
    qa_tower_key: str | None = None  # the answer model's tower whose pooled features ingest keeps, if any

    def sampling_key(self) -> str:
        p = self.sampling
        key = (f"{p.mode}:fps={p.fps:g}:max={p.max_frames}:shot={p.shot_threshold:g}:min={self.min_shot_s:g}"
               f":{p.size_px}px:{p.resize_mode}")
        return key + (f":qa={self.qa_tower_key}" if self.qa_tower_key else "")


@dataclass(frozen=True)
class ModelIds:
    """Rows in embedding_models for this run's vision and text models (None when off)."""

    vision: int | None
    text: int | None


class Outcome(StrEnum):
    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"  # the file changed (or vanished) while it was indexed: nothing written, next run does it


def _record_file_problem(db: Database, media_id: int, exc: BaseException) -> Outcome:
    """The whole file could not be read (probe failed): record why, and what to do."""
    if isinstance(exc, IndexerError):
        status, reason, hint, detail = MediaStatus.FAILED, exc.reason, exc.hint, exc.detail
    else:
        status = MediaStatus.FAILED
        reason = f"unexpected error: {type(exc).__name__}: {exc}"
        hint = "this is a bug in scenedex; please report it with the detail (`scenedex status --json`)"
        detail = traceback.format_exc()
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is not None:
            record_signature(media, signature_or_none(Path(media.path)))
            library_repo.mark_problem(session, media, status, reason, hint, detail)
    log.info("%s: %s (%s)", media_id, reason, hint)
    return Outcome.FAILED


class _Stages:
    """Maps the progress of each stage (frames, ocr, speech) onto one bar over the file's duration."""

    def __init__(self, progress: ProgressFn | None, stages: int, duration_s: float) -> None:
        self.progress, self.stages, self.duration_s, self.done = progress, max(stages, 1), duration_s, 0

    def stage(self) -> ProgressFn | None:
        """A progress function for the next stage."""
        if self.progress is None:
            return None
        base = self.done
        self.done += 1

        def report(t_s: float, duration_s: float) -> None:
            done = min(t_s / duration_s, 1.0) if duration_s > 0 else 1.0
            self.progress(((base + done) / self.stages) * self.duration_s, self.duration_s)  # type: ignore[misc]

        return report


def _channel(channel: Channel, run: Callable[[], ChannelOutcome]) -> ChannelOutcome:
    try:
        return run()
    except (KeyboardInterrupt, SystemExit, EncoderError, ModelFileError):
        raise  # interrupted, or a model that cannot load: a problem of the configuration, not of this file
    except Exception as exc:  # noqa: BLE001 - one channel's failure is recorded, the others go on
        if is_transient(exc):
            raise  # the database, broker or data disk, not the file: the task or run retries
        return failed(channel, exc)


@dataclass(frozen=True)
class Probed:
    """What the probe stage learned about a readable file."""

    path: Path
    fingerprint: str
    signature: FileSignature  # taken before the file was read: the result is kept only if it still holds
    info: MediaInfo
    stream: StreamInfo | None  # the video stream chosen, None for audio-only files


def probe_stage(db: Database, media_id: int) -> Probed | Outcome:
    """Read the file's streams. A file that cannot be read is recorded (FAILED) with its reason and hint."""
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None:
            log.info("media %d is gone; nothing to do", media_id)
            return Outcome.UNCHANGED
        path = Path(media.path)
    try:
        check_readable(path)
        signature = FileSignature.of(path)
        digest = fingerprint(path, signature.size_bytes)
        info = probe(path)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - every bad file is recorded, the library goes on
        if is_transient(exc):
            raise  # a full or failing disk is not a bad file: the task or run retries
        return _record_file_problem(db, media_id, exc)
    try:
        stream: StreamInfo | None = choose_video_stream(info)
    except UnsupportedMediaError:
        stream = None
    return Probed(path, digest, signature, info, stream)


def frames_stage(probed: Probed, config: IngestConfig, models: RunModels,
                 progress: ProgressFn | None = None) -> ChannelOutcome:
    """Sample frames, find shots and encode them (the GPU part of ingest when a vision model is configured)."""
    stream = probed.stream
    if stream is None:
        return skipped(Channel.FRAMES, "no video stream")
    return _channel(Channel.FRAMES, lambda: run_frames(probed.info, stream, config.sampling, config.min_shot_s,
                                                         models, progress))


def frames_task_stage(probed: Probed, config: IngestConfig, models: RunModels,
                      progress: ProgressFn | None = None) -> list[ChannelOutcome]:
    """The queued frames task: [frames, the text channels it computes beside them]: the on-screen text from the
    same decode when both sample the same pictures (``workers.file_pass``), so a file is decoded once, and
    subtitles and speech meanwhile in a thread of their own; the text task computes the rest (``text_stage``)."""
    stream = probed.stream
    assert stream is not None  # a file without pictures goes from the probe stage to the text stage

    def pictures(shown: ProgressFn | None) -> list[ChannelOutcome]:
        if one_pass_possible(probed.info, stream, config.sampling, models):
            return list(run_frames_and_ocr(probed.info, stream, config.sampling, config.min_shot_s, models, shown,
                                           _channel))
        return [frames_stage(probed, config, models, shown)]

    return with_audio_alongside(probed.info, stream.index, models, _channel, pictures, progress, preload=False)


def ocr_stage(probed: Probed, frames: ChannelOutcome, models: RunModels,
              progress: ProgressFn | None = None) -> ChannelOutcome:
    """On-screen text in a decode of its own, within the frames' shots (when OCR samples other pictures)."""
    stream, ocr = probed.stream, models.text.ocr
    if ocr is None or stream is None:
        return skipped(Channel.OCR, "switched off" if ocr is None else "no video stream")
    shots = frames.shots if isinstance(frames, FramesOutcome) else []
    return _channel(Channel.OCR, lambda: run_ocr(probed.info, stream, shots, models, progress))


def frames_then_ocr(probed: Probed, config: IngestConfig, models: RunModels,
                    progress: ProgressFn | None = None) -> list[ChannelOutcome]:
    """[frames, ocr] when they sample other pictures (no one decode for both): the frames, then the on-screen
    text in a decode of its own, within the frames' shots."""
    reads_ocr = models.text.ocr is not None
    stages = _Stages(progress, 2 if reads_ocr else 1, probed.info.duration_s)
    frames = frames_stage(probed, config, models, stages.stage())
    return [frames, ocr_stage(probed, frames, models, stages.stage() if reads_ocr else None)]


def text_stage(probed: Probed, frames: ChannelOutcome, models: RunModels, progress: ProgressFn | None = None,
               staged: Sequence[ChannelOutcome] = ()) -> list[ChannelOutcome]:
    """[ocr, subtitles, speech]: those in ``staged`` (the queued frames task computed them beside the frames) as
    they are, the others now (on-screen text within the frames' shots)."""
    done = {o.channel: o for o in staged}
    info, stream, text = probed.info, probed.stream, models.text
    reads_ocr = Channel.OCR not in done and text.ocr is not None and stream is not None
    reads_speech = Channel.SPEECH not in done and text.speech
    stages = _Stages(progress, int(reads_ocr) + int(reads_speech), info.duration_s)
    ocr = done.get(Channel.OCR) or ocr_stage(probed, frames, models, stages.stage() if reads_ocr else None)
    subtitles = done.get(Channel.SUBTITLES) or (
        _channel(Channel.SUBTITLES, lambda: run_subtitles(info)) if text.subtitles
        else skipped(Channel.SUBTITLES, "switched off"))
    speech = done.get(Channel.SPEECH)
    if speech is None and text.speech:
        speech_stage = stages.stage()
        index = stream.index if stream else None
        speech = _channel(Channel.SPEECH, lambda: run_speech(info, index, models, speech_stage))
    return [ocr, subtitles, speech or skipped(Channel.SPEECH, "switched off")]


def _media_status(outcomes: list[ChannelOutcome]) -> tuple[MediaStatus, str | None, str | None]:
    if any(o.status == ChannelStatus.DONE for o in outcomes):
        return MediaStatus.INDEXED, None, None
    problems = [o for o in outcomes if o.status == ChannelStatus.FAILED]
    if problems:
        return MediaStatus.FAILED, problems[0].reason, problems[0].hint
    reasons = "; ".join(f"{o.channel}: {o.reason}" for o in outcomes if o.reason)
    return MediaStatus.SKIPPED, f"nothing to index ({reasons})", "nothing to do unless the file should have content"


CommitGuard = Callable[[Session], bool]  # called first inside the commit's transaction; False: write nothing


def commit_media(db: Database, media_id: int, probed: Probed, outcomes: list[ChannelOutcome], config: IngestConfig,
                 models: RunModels, ids: ModelIds, guard: CommitGuard | None = None) -> Outcome:
    """Write the result of every channel (``outcomes[0]`` is frames) in one transaction: all of it or nothing.
    Every span is first brought inside the media's duration (workers.bounds)."""
    change = change_since_probe(probed)
    if change is not None:
        return _defer(db, media_id, probed.path, change, guard)
    outcomes = clip_outcomes(outcomes, probed.info.duration_s)
    frames = outcomes[0]
    text_items = [item for o in outcomes[1:] for item in o.items]
    chunks = make_chunks(text_items)
    chunk_vectors = vectors_for(db, ids.text, [c.text for c in chunks], models.text_encoder)
    status, reason, hint = _media_status(outcomes)
    channels_key = models.text.key(models.text_info)
    info, stream, path = probed.info, probed.stream, probed.path
    kept: Path | None = None
    qa_kept: Path | None = None
    with db.session() as session:
        media = _guarded_media(session, media_id, guard)
        if media is None:
            return Outcome.UNCHANGED
        record_signature(media, probed.signature)
        library_repo.set_probe(
            session, media, fingerprint=probed.fingerprint, duration_s=info.duration_s, container=info.container,
            streams=[s.as_dict() for s in info.streams], video_stream_index=stream.index if stream else None,
            width=stream.width if stream else None, height=stream.height if stream else None,
            fps=stream.fps if stream else None, rotation_deg=stream.rotation_deg if stream else 0,
            is_vfr=stream.is_vfr if stream else False)
        frame_ids = np.zeros(0, np.int64)
        if isinstance(frames, FramesOutcome):
            frame_ids = frames_repo.replace_frames(session, media_id, frames.t_s,
                                                   [(s.start_s, s.end_s) for s in frames.shots], frames.frame_shot,
                                                   [s.representative for s in frames.shots])
        else:
            frames_repo.replace_frames(session, media_id, np.zeros(0), [], np.zeros(0, np.int64), [])
        if isinstance(frames, FramesOutcome) and frames.encoded is not None and ids.vision is not None:
            kept = config.layout.feature_file(ids.vision, media_id)
            write_feature_file(kept, frame_ids, frames.encoded)  # atomic rename, before the commit that makes it count
        if isinstance(frames, FramesOutcome) and frames.qa_pooled is not None and config.qa_tower_key:
            qa_kept = config.layout.qa_feature_file(config.qa_tower_key, media_id)
            write_feature_file(qa_kept, frame_ids, EncodedFrames(np.zeros((len(frame_ids), 0), np.float32),
                                                                 frames.qa_pooled, None))
        text_repo.replace_segments(session, media_id, segment_rows(text_items))
        text_repo.replace_chunks(session, media_id, ids.text, chunk_rows(chunks), chunk_vectors)
        for o in outcomes:
            text_repo.set_channel(session, media_id, o.channel, o.status, producer=o.producer, item_count=o.item_count,
                                  error_reason=o.reason, error_hint=o.hint)
        if status == MediaStatus.INDEXED:
            library_repo.mark_indexed(session, media, sample_fps=getattr(frames, "fps", 0.0),
                                      sampling_key=config.sampling_key(), embedding_model_id=ids.vision)
            media.text_model_id = ids.text if chunks else None
            media.channels_key = channels_key
        else:
            library_repo.mark_problem(session, media, status, reason or "", hint or "", "")
    for stale in config.layout.feature_files_of_media(media_id):  # other models' files, now without rows
        if stale not in (kept, qa_kept):
            stale.unlink(missing_ok=True)
    log.info("%s %s: %s", status, path, ", ".join(f"{o.channel} {o.status} ({o.item_count})" for o in outcomes))
    return Outcome.INDEXED if status == MediaStatus.INDEXED else Outcome(str(status))


def segment_rows(items: Sequence[TimedText]) -> list[dict[str, Any]]:
    """Timed text -> ``text_repo.replace_segments`` rows."""
    return [{"channel": Channel(i.channel), "start_s": i.start_s, "end_s": i.end_s, "text": i.text,
             "language": i.language, "source": i.source, "confidence": i.confidence, "detail": i.detail}
            for i in items]


def chunk_rows(chunks: Sequence[TimedText]) -> list[dict[str, Any]]:
    """Chunks (``make_chunks``) -> ``text_repo.replace_chunks`` rows."""
    return [{"channel": Channel(c.channel), "start_s": c.start_s, "end_s": c.end_s, "text": c.text} for c in chunks]


def _guarded_media(session: Session, media_id: int, guard: CommitGuard | None) -> MediaFile | None:
    """The row to write, inside the write's transaction; None when the guard says no or the row is gone."""
    if guard is not None and not guard(session):
        return None
    return library_repo.get_media(session, media_id)


def _defer(db: Database, media_id: int, path: Path, change: str, guard: CommitGuard | None) -> Outcome:
    """Keep nothing of this pass: what is indexed of the file stays as it was, and its row (whose recorded size
    and times are those of the last complete pass) sends it to the next run."""
    with db.session() as session:
        media = _guarded_media(session, media_id, guard)
        if media is None:
            return Outcome.UNCHANGED
        library_repo.note_deferred(session, media, f"changed while it was being indexed: {change}",
                                   "nothing to do: the next `scenedex index` indexes it (a file that is still "
                                   "being written is indexed once it stops changing)")
    log.warning("%s changed while it was being indexed (%s); deferred to the next run", path, change)
    return Outcome.DEFERRED


def index_media(db: Database, media_id: int, config: IngestConfig, models: RunModels, ids: ModelIds,
                progress: ProgressFn | None = None) -> Outcome:
    """Index one media row in this process: the same stages the queued workers run, frames kept in memory.
    A bad file is recorded with its reason; only database errors propagate."""
    probed = probe_stage(db, media_id)
    if not isinstance(probed, Probed):
        return probed
    stream = probed.stream
    if stream is None:  # sound alone: nothing to overlap
        frames = frames_stage(probed, config, models)
        outcomes = [frames, *text_stage(probed, frames, models, progress)]
    elif one_pass_possible(probed.info, stream, config.sampling, models):
        outcomes = run_file_pass(probed.info, stream, config.sampling, config.min_shot_s, models,
                                 progress, _channel)  # one decode for every picture channel, the sound alongside
    else:
        outcomes = with_audio_alongside(probed.info, stream.index, models, _channel,
                                        lambda shown: frames_then_ocr(probed, config, models, shown), progress)
    faults.maybe_pause(str(probed.path))
    return commit_media(db, media_id, probed, outcomes, config, models, ids)


def remove_media(db: Database, layout: DataLayout, media_ids: list[int]) -> int:
    """Delete rows (frames, shots, text cascade) and feature files; vectors leave the indexes at the next sync."""
    with db.session() as session:
        removed = library_repo.delete_media(session, media_ids)
    for media_id in media_ids:
        for path in layout.feature_files_of_media(media_id):
            path.unlink(missing_ok=True)
    return removed
