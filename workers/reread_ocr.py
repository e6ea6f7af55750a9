"""Read a library's on-screen text again where only OCR's settings or rules changed, without the other channels.

A file indexed with another OCR part of the channels' key (``TextChannels.key``: OCR's models, its sampling or its
reading rules, ``indexer.screen_text.READ_RULES``; or OCR off then, on now) would otherwise be indexed again
whole: frames, speech, subtitles and OCR. Here only OCR runs (its own decode, the file's stored shots), its text
segments replace the file's old OCR segments, the file's chunks are cut again from all its text and embedded
with the run's sentence model, and the file's key becomes the run's; frames, speech and subtitles stay as they
were. A file whose OCR fails here, or that changed meanwhile, is left as it was, for the plan that follows to
index again whole (where its problem is recorded the usual way).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from db.models import Channel, ChannelStatus
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.shots import Shot
from indexer.text_chunks import TimedText, make_chunks
from workers.bounds import clip_outcome
from workers.channels import ProgressFn, run_ocr
from workers.file_state import change_since_probe, same_file, stale_in_key_alone
from workers.ingest import CommitGuard, IngestConfig, Probed, _channel, chunk_rows, probe_stage, segment_rows
from workers.models import RunModels
from workers.text_vectors import vectors_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadAgain:
    media: int  # files whose on-screen text was read again
    left: int  # files where that failed or the file changed: left for the plan to index again whole


def only_ocr_changed(db: Database, config: IngestConfig, vision_id: int | None, channels_key: str) -> list[int]:
    """Indexed, unchanged files whose channels' key differs from ``channels_key`` in its OCR part (and perhaps
    its sentence model part) alone, with OCR on now: their on-screen text is to be read (again), not the rest of
    them."""
    def parts(key: str) -> tuple[list[str], str]:
        head, _, text = key.rpartition(";")
        return head.split(";"), text

    (subs, speech, ocr), _ = parts(channels_key)
    if ocr == "ocr=off":
        return []

    def ocr_part_alone(key: str) -> bool:
        head, _ = parts(key)
        return len(head) == 3 and head[:2] == [subs, speech] and head[2] != ocr

    return stale_in_key_alone(db, config, vision_id, channels_key, ocr_part_alone)


def reread_ocr(db: Database, media_ids: list[int], models: RunModels, text_model_id: int | None,
               jobs: int = 1) -> ReadAgain:
    """OCR again on each of ``media_ids`` (see the module's doc), ``jobs`` files at once (threads sharing the
    run's models, as ``scenedex index`` reads files); the caller brings the FAISS text index up to date
    afterwards (``workers.vectors.sync_text_index``)."""
    channels_key = models.text.key(models.text_info)
    pool = ThreadPoolExecutor(max(1, jobs), thread_name_prefix="scenedex-reread")
    try:
        results = list(pool.map(lambda m: _reread_one(db, m, models, text_model_id, channels_key), media_ids))
    finally:  # Ctrl-C: the files being read finish (each is its own transaction), the rest are not started
        pool.shutdown(wait=True, cancel_futures=True)
    done = sum(results)
    log.info("on-screen text read again in %d files (%d left to be indexed again whole)", done, len(results) - done)
    return ReadAgain(done, len(results) - done)


def _reread_one(db: Database, media_id: int, models: RunModels, text_model_id: int | None, channels_key: str) -> bool:
    probed = probe_stage(db, media_id)
    return isinstance(probed, Probed) and read_again(db, media_id, probed, models, text_model_id, channels_key)


def read_again(db: Database, media_id: int, probed: Probed, models: RunModels, text_model_id: int | None,
               channels_key: str, progress: ProgressFn | None = None, guard: CommitGuard | None = None) -> bool:
    """One probed file's on-screen text read again and written with its text chunked and embedded again, the
    file's key becoming ``channels_key`` (see the module's doc); ``guard`` runs inside the write's transaction
    and may refuse it (a queued task that lost its claim). False, with nothing written, when OCR failed, the
    file changed or has no picture, or the guard refused: such a file is to be indexed again whole."""
    if probed.stream is None:
        return False
    stream = probed.stream
    with db.session() as session:
        shots = [Shot(s.start_s, s.end_s, None) for s in frames_repo.shots_of_media(session, media_id)]
        kept = [TimedText(str(s.channel), s.start_s, s.end_s, s.text, s.language, s.source, s.confidence, s.detail)
                for s in text_repo.segments_of(session, media_id) if s.channel != Channel.OCR]
    outcome = _channel(Channel.OCR, lambda: run_ocr(probed.info, stream, shots, models, progress))
    if outcome.status != ChannelStatus.DONE or change_since_probe(probed) is not None:
        log.warning("%s: on-screen text not read again (%s); the file is indexed again whole", probed.path,
                    outcome.reason or "the file changed")
        return False
    outcome = clip_outcome(outcome, probed.info.duration_s)
    items = kept + outcome.items
    chunks = make_chunks(items)
    vectors = vectors_for(db, text_model_id, [c.text for c in chunks], models.text_encoder)
    with db.session() as session:
        media = library_repo.get_media(session, media_id)
        if media is None or not same_file(media) or (guard is not None and not guard(session)):
            return False
        text_repo.replace_segments(session, media_id, segment_rows(items))
        ids = text_repo.replace_chunks(session, media_id, text_model_id, chunk_rows(chunks), vectors)
        text_repo.set_channel(session, media_id, Channel.OCR, outcome.status, producer=outcome.producer,
                              item_count=outcome.item_count, error_reason=outcome.reason, error_hint=outcome.hint)
        media.text_model_id = text_model_id if len(ids) else None
        media.channels_key = channels_key
    return True
