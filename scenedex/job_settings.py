"""Which settings travel with a queued job. The machine's own settings (database, data directory, device,
broker) stay the worker's; everything that changes what ingest produces is fixed when the job is enqueued,
so every worker indexes a job's files alike — and alike to an in-process run with the same settings."""

from __future__ import annotations

from typing import Any

from scenedex.runtime import index_setup
from scenedex.settings import Settings
from workers.jobs import JobSetup

INGEST_FIELDS = frozenset({
    "vision_model", "encode_batch_size", "feature_layer", "feature_grid_k", "sample_fps", "sampling_mode",
    "max_frames_per_media", "shot_threshold", "min_shot_s", "speech", "speech_model", "speech_language",
    "speech_beam_size", "subtitles", "ocr", "ocr_fps", "ocr_width_px", "ocr_min_confidence", "ocr_scripts",
    "text_model", "media_extensions", "llamavid_model",
})


def job_settings(settings: Settings) -> dict[str, Any]:
    """The ingest settings of a job, as plain JSON values."""
    return settings.model_dump(mode="json", include=set(INGEST_FIELDS))


def job_setup(worker: Settings, stored: dict[str, Any]) -> JobSetup:
    """A job's stored ingest settings on top of this worker's own."""
    unknown = set(stored) - INGEST_FIELDS
    if unknown:
        raise ValueError(f"job settings hold unknown fields {sorted(unknown)}: enqueued by a newer scenedex?")
    merged = Settings(**{**worker.model_dump(), **stored})
    setup = index_setup(merged)
    return JobSetup(ingest=setup.ingest, vision=setup.vision, text=setup.text, qa_tower=setup.qa_tower)
