"""SQLAlchemy 2.0 typed models. Times are seconds from the start of the media (``t_s``, ``start_s``)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import FsPath

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class MediaStatus(enum.StrEnum):
    PENDING = "pending"  # seen, not indexed yet (or interrupted: the next run picks it up)
    INDEXED = "indexed"
    FAILED = "failed"  # could not be indexed; error_reason and error_hint say why and what to do
    SKIPPED = "skipped"  # readable but nothing to index for the configured channels (e.g. audio only)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class LibraryRoot(Base):
    __tablename__ = "library_roots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)  # any name the file system allows (db.types)
    created_at: Mapped[datetime] = _now()


class EmbeddingModel(Base):
    """A model and version that produced vectors. Vectors of two models never share an index."""

    __tablename__ = "embedding_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    family: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    revision: Mapped[str] = mapped_column(String(64))
    embed_dim: Mapped[int] = mapped_column(Integer)
    feature_dim: Mapped[int] = mapped_column(Integer)
    grid_k: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()


class MediaFile(Base):
    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("library_roots.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)  # any name the file system allows (db.types)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    ctime_ns: Mapped[int | None] = mapped_column(BigInteger)  # None: indexed before scenedex recorded it
    inode: Mapped[int | None] = mapped_column(BigInteger)  # modulo 2**63 (Postgres has no unsigned 64-bit)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[MediaStatus] = mapped_column(
        Enum(MediaStatus, name="media_status", values_callable=lambda e: [m.value for m in e]),
        default=MediaStatus.PENDING, index=True)
    error_reason: Mapped[str | None] = mapped_column(Text)
    error_hint: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    container: Mapped[str | None] = mapped_column(String(64))
    streams: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    video_stream_index: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    rotation_deg: Mapped[int | None] = mapped_column(Integer)
    is_vfr: Mapped[bool | None]
    sample_fps: Mapped[float | None] = mapped_column(Float)
    # The text-embedding model of this file's text chunks (None: no text chunks).
    text_model_id: Mapped[int | None] = mapped_column(ForeignKey("embedding_models.id", ondelete="SET NULL"))
    # What the text channels were configured as when this file was indexed (speech model, OCR on/off, ...).
    channels_key: Mapped[str | None] = mapped_column(Text)
    # The vision model configured when this file was indexed (None: none). Its frames, if it has any, have
    # vectors of this model in the file's feature file; a file without video has none.
    embedding_model_id: Mapped[int | None] = mapped_column(ForeignKey("embedding_models.id", ondelete="SET NULL"))
    # What sampling produced the frames; a different policy re-samples.
    sampling_key: Mapped[str | None] = mapped_column(Text)
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_seen_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class Shot(Base):
    __tablename__ = "shots"
    __table_args__ = (UniqueConstraint("media_id", "shot_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_files.id", ondelete="CASCADE"))
    shot_index: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    representative_frame_id: Mapped[int | None] = mapped_column(
        ForeignKey("frames.id", ondelete="SET NULL", use_alter=True))


class Frame(Base):
    """A sampled frame. Its ``id`` is its vector id in every FAISS index."""

    __tablename__ = "frames"
    __table_args__ = (UniqueConstraint("media_id", "t_s"), Index("ix_frames_shot_id", "shot_id"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_files.id", ondelete="CASCADE"))
    t_s: Mapped[float] = mapped_column(Float)
    shot_id: Mapped[int | None] = mapped_column(ForeignKey("shots.id", ondelete="CASCADE"))


class IndexRun(Base):
    """One `scenedex index` or `reindex` run, for `scenedex status` and for resuming after a crash."""

    __tablename__ = "index_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    command: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, done, interrupted, crashed
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    indexed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)  # why it stopped early (interrupted or crashed); null when done


class Channel(enum.StrEnum):
    """Where a piece of evidence comes from. ``frames`` is sampling, shots and visual vectors."""

    FRAMES = "frames"
    SUBTITLES = "subtitles"
    SPEECH = "speech"
    OCR = "ocr"


class ChannelStatus(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"  # error_reason / error_hint say why; the other channels of the file are unaffected
    SKIPPED = "skipped"  # nothing to do (no audio track, no subtitles, channel switched off)


class MediaChannel(Base):
    """Per file and channel: done, failed (with reason) or skipped, and what produced it."""

    __tablename__ = "media_channels"

    media_id: Mapped[int] = mapped_column(ForeignKey("media_files.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[Channel] = mapped_column(
        Enum(Channel, name="channel", values_callable=lambda e: [m.value for m in e]), primary_key=True)
    status: Mapped[ChannelStatus] = mapped_column(
        Enum(ChannelStatus, name="channel_status", values_callable=lambda e: [m.value for m in e]))
    producer: Mapped[str | None] = mapped_column(Text)  # model key or tool that produced the items
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    error_reason: Mapped[str | None] = mapped_column(Text)
    error_hint: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class TimedTextColumns:
    """What every row of timed text has: its file, channel, span in seconds and text."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_files.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(
        Enum(Channel, name="channel", values_callable=lambda e: [m.value for m in e], create_type=False))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)


class TextSegment(TimedTextColumns, Base):
    """A timed piece of text: a subtitle cue, a recognised speech segment, or on-screen text that persisted."""

    __tablename__ = "text_segments"
    __table_args__ = (
        Index("ix_text_segments_media_id_start_s", "media_id", "start_s"),
        Index("ix_text_segments_tsv", "tsv", postgresql_using="gin"),
    )

    language: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(Text)  # "embedded:2", "sidecar:x.en.srt", a model key
    confidence: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # words with times (speech), box (ocr)
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', text)", persisted=True))


class TextChunk(TimedTextColumns, Base):
    """A retrieval unit over text segments of one channel; its ``id`` is its vector id in the text index."""

    __tablename__ = "text_chunks"
    __table_args__ = (
        Index("ix_text_chunks_media_id", "media_id"),
        # a text's stored vector found again by its digest (a chunk's text can be longer than a btree entry)
        Index("ix_text_chunks_model_text_md5", "model_id", func.md5(text("text"))),
    )

    model_id: Mapped[int] = mapped_column(ForeignKey("embedding_models.id", ondelete="CASCADE"))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float16 little-endian, L2-normalised


class JobState(enum.StrEnum):
    QUEUED = "queued"  # enqueued; no file started yet
    RUNNING = "running"
    SYNCING = "syncing"  # every file finished; the vector indexes are being brought up to date
    DONE = "done"
    CANCELLED = "cancelled"


class FileStage(enum.StrEnum):
    """Where one file of a queued job is. Each stage is one task; a file moves forward only."""

    PROBE = "probe"  # CPU: read the streams (a bad file stops here, recorded)
    FRAMES = "frames"  # GPU when a vision model is configured: sample, find shots, encode
    TEXT = "text"  # CPU: on-screen text, subtitles, speech, then one transaction writes everything
    OCR = "ocr"  # CPU, instead of the three above: on-screen text alone read again (OCR's settings changed)
    FINISHED = "finished"


class FileState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # indexed, skipped (nothing to index) or recorded as a bad file: see media_files.status
    FAILED = "failed"  # the task itself kept failing (crashes, retries exhausted): error says why
    CANCELLED = "cancelled"


class Job(Base):
    """A queued `scenedex index --queue`: what to index and with which settings; progress lives in job_files."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="index")
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    # The ingest settings the job was enqueued with (Settings field names), so every worker indexes alike.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    paths: Mapped[list[str]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobFile(Base):
    """One file of a job: its stage, state, attempts at the current stage and a heartbeat while it runs."""

    __tablename__ = "job_files"
    __table_args__ = (UniqueConstraint("job_id", "media_id"), Index("ix_job_files_state", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_files.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16), default=FileStage.PROBE)
    state: Mapped[str] = mapped_column(String(16), default=FileState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # starts of the current stage (crashes count)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1 over all stages
    claimed_by: Mapped[str | None] = mapped_column(String(255))  # "host:pid" of the process on it
    error: Mapped[str | None] = mapped_column(Text)
    work_s: Mapped[float] = mapped_column(Float, default=0.0)  # seconds spent inside stage work (for overhead)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
