"""Every channel of one file from one decode, the stages overlapping (``scenedex index`` in one process).

* One ffmpeg decodes the video once at the OCR's size (``OcrSettings.width_px`` wide) with the shot-cut branch;
  the frames channel takes its encoder squares from those frames (``encoder_squares``: a resize of a frame
  already in memory, ~1 ms) instead of decoding the file a second time.
* Decoding runs in its own thread and hands batches over a bounded queue (``indexer.sampling.prefetch``): ffmpeg decodes
  the next batches while the encoder and OCR work on this one, and stops (blocked on the queue) when they are
  behind, so memory stays at a few batches.
* Speech (audio decode, VAD, whisper) and subtitles run in a thread of their own from the start; CTranslate2,
  onnxruntime, OpenCV and the pipes release the GIL. That thread then loads the sentence model the commit will
  embed the text with (``preload_text_encoder``: importing sentence-transformers and loading the model took
  12.8 s wall, 4.2 s CPU at load 6), so the first file's commit does not wait for it while OCR still runs.
* OCR is fed the shots known so far (cuts arrive with the frames); its spans are merged with the final shots.
  Its models load in a thread of their own while ffmpeg decodes the first batch.

Used when the frames channel and OCR sample at the same rate (the defaults); otherwise the frames and OCR each
decode on their own (``workers.ingest.frames_then_ocr``), the sound still heard alongside (``with_audio_alongside``,
also the queued frames task's). A channel that fails is recorded by ``guard`` (the caller's classification of
errors) and the others go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from db.models import Channel, ChannelStatus
from indexer.probe import MediaInfo, StreamInfo
from indexer.sampling import FrameSampler, SamplingPolicy, busy_decoder_threads, effective_fps, prefetch
from indexer.shots import assign_frames, shot_spans
from workers.channels import (ChannelOutcome, FramesConsumer, ProgressFn, ocr_outcome, run_speech, run_subtitles,
                              skipped)
from workers.models import OcrSettings, RunModels

log = logging.getLogger(__name__)
Guard = Callable[[Channel, Callable[[], ChannelOutcome]], ChannelOutcome]  # runs a channel, classifies its errors
OCR_BATCH_FRAMES = 16  # 960 px frames: 25 MB a batch
_PASSED = ChannelOutcome(Channel.FRAMES, ChannelStatus.DONE)  # placeholder: the guarded step did not fail


def ocr_policy(policy: SamplingPolicy, ocr: OcrSettings) -> SamplingPolicy:
    """The sampling of the shared decode: the frames channel's rate and cuts, at the OCR's size (OCR runs beside
    it, so the decoder keeps to one thread on a small machine)."""
    return SamplingPolicy(fps=ocr.fps, mode="uniform", max_frames=policy.max_frames,
                          shot_threshold=policy.shot_threshold, size_px=ocr.width_px, resize_mode="fit_width",
                          batch_frames=OCR_BATCH_FRAMES, decoder_threads=busy_decoder_threads(),
                          skip_nonref=policy.skip_nonref)


def one_pass_possible(info: MediaInfo, stream: StreamInfo | None, policy: SamplingPolicy, models: RunModels) -> bool:
    """Whether the frames channel and OCR want the same pictures (same times, uniform sampling)."""
    ocr = models.text.ocr
    if stream is None or ocr is None or policy.mode != "uniform":
        return False
    return effective_fps(policy, info.duration_s) == effective_fps(ocr_policy(policy, ocr), info.duration_s)


def encoder_squares(frames: np.ndarray, size_px: int, mode: str) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, size_px, size_px, 3): area-scaled like ``indexer.sampling``'s ffmpeg filters
    (``center_crop``: short side to size_px, then the centre; ``squash``: both sides to size_px)."""
    out = np.empty((len(frames), size_px, size_px, 3), np.uint8)
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        if mode == "center_crop":
            scale = size_px / min(h, w)
            sw, sh = max(size_px, round(w * scale)), max(size_px, round(h * scale))
            scaled = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
            x0, y0 = (sw - size_px) // 2, (sh - size_px) // 2
            out[i] = scaled[y0:y0 + size_px, x0:x0 + size_px]
        else:
            out[i] = cv2.resize(frame, (size_px, size_px), interpolation=cv2.INTER_AREA)
    return out


def _attempt(guard: Guard, channel: Channel, step: Callable[[], Any]) -> ChannelOutcome | None:
    """Run one step of a channel under ``guard``: None when it passed, the channel's failed outcome if not."""
    outcome = guard(channel, lambda: (step(), _PASSED)[1])
    return None if outcome is _PASSED else outcome


def _raise(exc: BaseException) -> ChannelOutcome:
    raise exc


def run_file_pass(info: MediaInfo, stream: StreamInfo, policy: SamplingPolicy, min_shot_s: float, models: RunModels,
                  progress: ProgressFn | None, guard: Guard) -> list[ChannelOutcome]:
    """[frames, ocr, subtitles, speech] of one file, from one decode (``one_pass_possible`` must hold: OCR is on)."""
    return with_audio_alongside(
        info, stream.index, models, guard,
        lambda shown: list(run_frames_and_ocr(info, stream, policy, min_shot_s, models, shown, guard)), progress)


def with_audio_alongside(info: MediaInfo, stream_index: int | None, models: RunModels, guard: Guard,
                         pictures: Callable[[ProgressFn | None], list[ChannelOutcome]],
                         progress: ProgressFn | None = None, preload: bool = True) -> list[ChannelOutcome]:
    """``pictures(progress)``'s outcomes, then [subtitles, speech] computed meanwhile in a thread of their own (the
    audio's decode, VAD and whisper do not wait for the frames, nor the frames for them). ``progress`` stands
    where the slower of the two is. ``preload``: that thread then loads the sentence model the commit embeds with
    (False in the queued frames task, whose process may never commit: a GPU worker)."""
    hears = models.text.speech and info.has_audio
    bar = SlowestProgress(progress, 2, info.duration_s) if progress is not None and hears else None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenedex-speech")
    audio: Future[list[ChannelOutcome]] = pool.submit(_subtitles_and_speech, info, stream_index, models, guard,
                                                      bar.part(1) if bar else None, preload)
    try:
        return [*pictures(bar.part(0) if bar else progress), *audio.result()]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


class SlowestProgress:
    """One progress report over channels that run at once: it stands where the slowest of them is (a bar that
    reached its end while speech still ran would say the file was done). Reports from several threads.

    >>> shown = []
    >>> bar = SlowestProgress(lambda t_s, duration_s: shown.append(t_s), 2, 100.0)
    >>> pictures, speech = bar.part(0), bar.part(1)
    >>> pictures(100.0, 100.0); speech(30.0, 100.0); speech(100.0, 100.0)
    >>> shown
    [0.0, 30.0, 100.0]
    """

    def __init__(self, progress: ProgressFn, parts: int, duration_s: float) -> None:
        self.progress, self.duration_s = progress, duration_s
        self.done = [0.0] * parts  # fraction of each part
        self.lock = threading.Lock()

    def part(self, index: int) -> ProgressFn:
        def report(t_s: float, duration_s: float) -> None:
            with self.lock:  # one report at a time, in order (the caller's may raise to stop the file)
                self.done[index] = min(t_s / duration_s, 1.0) if duration_s > 0 else 1.0
                self.progress(min(self.done) * self.duration_s, self.duration_s)

        return report


def _subtitles_and_speech(info: MediaInfo, stream_index: int | None, models: RunModels, guard: Guard,
                          progress: ProgressFn | None, preload: bool) -> list[ChannelOutcome]:
    text = models.text
    subtitles = guard(Channel.SUBTITLES, lambda: run_subtitles(info)) if text.subtitles \
        else skipped(Channel.SUBTITLES, "switched off")
    speech = guard(Channel.SPEECH, lambda: run_speech(info, stream_index, models, progress)) if text.speech \
        else skipped(Channel.SPEECH, "switched off")
    if preload:
        preload_text_encoder(models)
    return [subtitles, speech]


def preload_text_encoder(models: RunModels) -> bool:
    """Load the run's sentence model now, off the critical path, when text channels are on; whether it is
    loaded. Called only from the speech thread while the main thread does not ask for it (the commit comes
    after this thread is joined). A load that fails is left to the commit, which reports it."""
    if models.text_info is None:
        return False
    try:
        models.text_encoder()
    except Exception:  # noqa: BLE001 - the commit loads it again and records the error where it belongs
        log.debug("preloading the sentence model failed; the commit will load it", exc_info=True)
        return False
    return True


def run_frames_and_ocr(info: MediaInfo, stream: StreamInfo, policy: SamplingPolicy, min_shot_s: float,
                       models: RunModels, progress: ProgressFn | None,
                       guard: Guard) -> tuple[ChannelOutcome, ChannelOutcome]:
    """(frames, ocr) of one file from one decode, without the audio channels: part of ``run_file_pass``, and the
    queued frames task on its own, whose outcomes the text task picks up from staging (``one_pass_possible``
    must hold)."""
    from indexer.screen_text_segments import SegmentedScreenText

    assert models.text.ocr is not None
    ocr_settings = models.text.ocr
    box: dict[str, Any] = {}
    loading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenedex-ocr-load")
    engine: Future[Any] = loading.submit(models.ocr_engine)  # loads while ffmpeg decodes the first batch
    loading.shutdown(wait=False)

    def ocr_reader() -> SegmentedScreenText:
        if "reader" not in box:
            box["reader"] = SegmentedScreenText(box.setdefault("engine", engine.result()), ocr_settings.workers)
        return box["reader"]  # type: ignore[no-any-return]

    frames_failed = _attempt(guard, Channel.FRAMES, lambda: box.setdefault("frames", FramesConsumer(models)))
    ocr_failed: ChannelOutcome | None = None
    consumer: FramesConsumer | None = box.get("frames")
    sampler = FrameSampler(info, stream, ocr_policy(policy, ocr_settings))
    batches = prefetch(sampler.batches())
    fed_all = False
    try:
        for batch in batches:
            if frames_failed is None and consumer is not None:
                squares = encoder_squares(batch.frames, policy.size_px, policy.resize_mode) \
                    if consumer.needs_pixels else None
                frames_failed = _attempt(guard, Channel.FRAMES, lambda: consumer.feed(squares, batch.t_s))
            if ocr_failed is None:
                spans = shot_spans(sorted(sampler.result.cut_t_s), info.duration_s, min_shot_s)  # cuts so far
                frame_shot = np.asarray(assign_frames(batch.t_s, spans), dtype=np.int64)  # (B,)
                ocr_failed = _attempt(guard, Channel.OCR,
                                      lambda: ocr_reader().feed(batch.frames, batch.t_s, frame_shot))
            if frames_failed is not None and ocr_failed is not None:
                break
            if progress is not None:
                progress(float(batch.t_s[-1]), info.duration_s)
        fed_all = True
    except Exception as exc:  # noqa: BLE001 - the decode failed: both channels fail with its reason
        frames_failed = frames_failed or guard(Channel.FRAMES, lambda: _raise(exc))
        ocr_failed = ocr_failed or guard(Channel.OCR, lambda: _raise(exc))
    finally:
        batches.close()  # stops the decode thread (and ffmpeg) when the loop ended early
        if (ocr_failed is not None or not fed_all) and "reader" in box:
            box["reader"].close()  # its segment readers: OCR failed, the decode did or the run stops
    if ocr_failed is None:  # a file without frames still has its OCR channel (empty), or the engine's error
        ocr_failed = _attempt(guard, Channel.OCR, ocr_reader)
    reader: SegmentedScreenText | None = box.get("reader")
    if frames_failed is None and consumer is not None:
        frames = guard(Channel.FRAMES, lambda: consumer.outcome(sampler.result.cut_t_s, info.duration_s,
                                                                 min_shot_s, sampler.result.fps))
    else:
        frames = frames_failed or guard(Channel.FRAMES, lambda: _raise(RuntimeError("frames consumer missing")))
    if ocr_failed is None and reader is not None:
        frame_shot = getattr(frames, "frame_shot", None)
        final = frame_shot if frame_shot is not None and len(frame_shot) == reader.stats.frames_given else None
        producer = getattr(box["engine"], "key", "rapidocr")
        ocr = guard(Channel.OCR, lambda: ocr_outcome(reader, producer, info, sampler.result.fps, frame_shot=final))
    else:
        ocr = ocr_failed or guard(Channel.OCR, lambda: _raise(RuntimeError("OCR reader missing")))
    return frames, ocr
