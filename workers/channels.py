"""Each channel of one file, computed without touching the database: frames (sampling, shots, visual vectors),
on-screen text, subtitles and speech. A channel that fails says why; the others go on."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from db.models import Channel, ChannelStatus
from indexer.encoders.base import EncodedFrames
from indexer.errors import IndexerError
from indexer.probe import MediaInfo, StreamInfo
from indexer.sampling import FrameSampler, SamplingPolicy, busy_decoder_threads, prefetch
from indexer.shots import Shot, assign_frames, build_shots
from indexer.text_chunks import TimedText
from workers.models import RunModels

log = logging.getLogger(__name__)
ProgressFn = Callable[[float, float], None]  # (t_s done, duration_s)


@dataclass
class ChannelOutcome:
    channel: Channel
    status: ChannelStatus
    producer: str | None = None
    items: list[TimedText] = field(default_factory=list)
    reason: str | None = None
    hint: str | None = None

    @property
    def item_count(self) -> int:
        return len(self.items)


@dataclass
class FramesOutcome(ChannelOutcome):
    t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,) float64 seconds
    encoded: EncodedFrames | None = None
    shots: list[Shot] = field(default_factory=list)
    frame_shot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,) shot index per frame
    fps: float = 0.0
    qa_pooled: np.ndarray | None = None  # (N, D) float32: the answer model's tower, mean-pooled (content tokens)

    @property
    def item_count(self) -> int:
        return len(self.t_s)


def failed(channel: Channel, exc: BaseException) -> ChannelOutcome:
    """The outcome of a channel that raised: an IndexerError explains itself; anything else is a bug."""
    if isinstance(exc, IndexerError):
        return ChannelOutcome(channel, ChannelStatus.FAILED, reason=exc.reason, hint=exc.hint)
    log.warning("unexpected error in the %s channel:\n%s", channel, traceback.format_exc())
    return ChannelOutcome(channel, ChannelStatus.FAILED, reason=f"unexpected error: {type(exc).__name__}: {exc}",
                          hint="this is a bug in scenedex; please report it with `scenedex status --json`")


def skipped(channel: Channel, reason: str) -> ChannelOutcome:
    return ChannelOutcome(channel, ChannelStatus.SKIPPED, reason=reason)


class FramesConsumer:
    """What the frames channel does with each batch of encoder-sized frames (visual vectors, the answer model's
    pooled features), and the outcome once the decode is over. ``run_frames`` feeds it from its own decode,
    ``workers.file_pass`` from the decode it shares with OCR."""

    def __init__(self, models: RunModels) -> None:
        self.models = models
        self.encoder = models.vision_encoder() if models.vision is not None else None
        self.qa_tower = models.qa_tower_model() if models.qa_tower is not None else None
        self._times: list[np.ndarray] = []
        self._embeds: list[np.ndarray] = []
        self._pooled: list[np.ndarray] = []
        self._grids: list[np.ndarray] = []
        self._qa: list[np.ndarray] = []

    @property
    def needs_pixels(self) -> bool:
        return self.encoder is not None or self.qa_tower is not None

    def feed(self, frames: np.ndarray | None, t_s: np.ndarray) -> None:
        """frames: (B, S, S, 3) uint8 RGB at the encoder's size (None when ``needs_pixels`` is False); t_s: (B,)."""
        self._times.append(t_s)
        if self.qa_tower is not None:
            assert frames is not None
            self._qa.append(self.qa_tower.pooled_features(list(frames)))  # (B, D)
        if self.encoder is not None:
            assert frames is not None
            out = self.encoder.encode(frames)
            self._embeds.append(out.embeddings)
            self._pooled.append(out.pooled)
            if out.grid is not None:
                self._grids.append(out.grid)

    def outcome(self, cut_t_s: list[float], duration_s: float, min_shot_s: float, fps: float) -> FramesOutcome:
        models, encoder = self.models, self.encoder
        t_s = np.concatenate(self._times) if self._times else np.zeros(0)
        encoded = None
        if encoder is not None:
            if self._embeds:
                encoded = EncodedFrames(np.concatenate(self._embeds), np.concatenate(self._pooled),
                                        np.concatenate(self._grids) if self._grids else None)
            else:
                size = encoder.info.image_size
                encoded = encoder.encode(np.zeros((0, size, size, 3), np.uint8))
        shots, frame_shot = build_shots(t_s, cut_t_s, duration_s, min_shot_s)
        producer = models.vision.info.key if models.vision is not None else "ffmpeg"
        qa = None
        if models.qa_tower is not None:
            qa = np.concatenate(self._qa) if self._qa else np.zeros((0, models.qa_tower.feature_dim), np.float32)
        return FramesOutcome(Channel.FRAMES, ChannelStatus.DONE, producer=producer, t_s=t_s, encoded=encoded,
                             shots=shots, frame_shot=frame_shot, fps=fps, qa_pooled=qa)


def run_frames(info: MediaInfo, stream: StreamInfo, policy: SamplingPolicy, min_shot_s: float, models: RunModels,
               progress: ProgressFn | None) -> FramesOutcome:
    """Sample frames, find shots, and encode the frames when a vision model is configured."""
    consumer = FramesConsumer(models)
    sampler = FrameSampler(info, stream, policy)
    for batch in prefetch(sampler.batches()):  # decoding overlaps the encoder
        consumer.feed(batch.frames, batch.t_s)
        if progress is not None:
            progress(float(batch.t_s[-1]), info.duration_s)
    return consumer.outcome(sampler.result.cut_t_s, info.duration_s, min_shot_s, sampler.result.fps)


def run_ocr(info: MediaInfo, stream: StreamInfo, shots: list[Shot], models: RunModels,
            progress: ProgressFn | None) -> ChannelOutcome:
    """On-screen text, batch by batch (``indexer.screen_text``): a small text detector says where text is,
    and only lines that are new on screen are recognised, so only a batch is ever held at OCR resolution."""
    from indexer.screen_text_segments import SegmentedScreenText

    settings = models.text.ocr
    assert settings is not None
    engine = models.ocr_engine()
    sampler = FrameSampler(info, stream, SamplingPolicy(fps=settings.fps, size_px=settings.width_px,
                                                        resize_mode="fit_width", batch_frames=16,
                                                        decoder_threads=busy_decoder_threads(),
                                                        skip_nonref=settings.skip_nonref))
    spans_of_shots = [(s.start_s, s.end_s) for s in shots]
    reader = SegmentedScreenText(engine, settings.workers)
    try:
        for batch in sampler.batches():
            frame_shot = np.asarray(assign_frames(batch.t_s, spans_of_shots), dtype=np.int64)  # (B,)
            reader.feed(batch.frames, batch.t_s, frame_shot)
            if progress is not None:
                progress(float(batch.t_s[-1]), info.duration_s)
    except BaseException:
        reader.close()
        raise
    return ocr_outcome(reader, getattr(engine, "key", "rapidocr"), info, sampler.result.fps)


def ocr_outcome(reader: Any, producer: str, info: MediaInfo, fps: float,
                frame_shot: np.ndarray | None = None) -> ChannelOutcome:
    """The OCR channel's outcome from a ``SegmentedScreenText`` that has been fed every frame of the file;
    ``frame_shot`` (N,), when given, replaces the shots the frames were fed with (the final ones)."""
    spans = reader.finish(1.0 / fps, info.duration_s, frame_shot=frame_shot)
    log.info("ocr %s: %d spans", info.path.name, len(spans))
    items = [TimedText("ocr", s.start_s, s.end_s, s.text, confidence=s.confidence, source=producer,
                       detail={"box": [list(p) for p in s.box], "frames": s.frame_count}) for s in spans]
    return ChannelOutcome(Channel.OCR, ChannelStatus.DONE, producer=producer, items=items)


def run_subtitles(info: MediaInfo) -> ChannelOutcome:
    """Embedded text tracks and sidecar files; unreadable tracks are reported, readable ones kept."""
    from indexer.subtitles import extract_subtitles

    result = extract_subtitles(info)
    items = [TimedText("subtitles", c.start_s, c.end_s, c.text, language=c.language, source=c.source)
             for c in result.cues]
    if not result.cues and not result.skipped:
        return skipped(Channel.SUBTITLES, "no subtitle track and no sidecar subtitle file")
    reason = hint = None
    if result.skipped or result.notes:
        reason = "; ".join([*(f"{s.source}: {s.reason}" for s in result.skipped),
                            *(f"{n.source}: {n.note}" for n in result.notes)])
        hint = "; ".join(dict.fromkeys(s.hint for s in result.skipped if s.hint)) or None
    broken = [t for t in result.skipped if "bitmap" not in t.reason]  # bitmap tracks are normal, not failures
    status = ChannelStatus.DONE if result.cues else ChannelStatus.FAILED if broken else ChannelStatus.SKIPPED
    return ChannelOutcome(Channel.SUBTITLES, status, producer="ffmpeg", items=items, reason=reason, hint=hint)


def run_speech(info: MediaInfo, video_stream_index: int | None, models: RunModels,
               progress: ProgressFn | None) -> ChannelOutcome:
    """Speech recognition with word times on the audio track that goes with the chosen video."""
    from indexer.speech import transcribe_media

    if not info.has_audio:
        return skipped(Channel.SPEECH, "no audio track")
    recognizer = models.speech_recognizer()
    transcript = transcribe_media(recognizer, info, video_stream_index, progress)
    producer = recognizer.info.key
    items = [TimedText("speech", s.start_s, s.end_s, s.text.strip(), language=transcript.language,
                       source=producer, confidence=float(np.exp(s.avg_logprob)),
                       detail={"words": [[round(w.start_s, 3), round(w.end_s, 3), w.text] for w in s.words]})
             for s in transcript.segments if s.text.strip()]
    notes = [_audio_track_note(info, transcript.audio_stream_index)]
    if transcript.concealed_errors:
        notes.append(f"{transcript.concealed_errors} audio decode errors concealed (damaged packets): the "
                     "transcript may have gaps")
    return ChannelOutcome(Channel.SPEECH, ChannelStatus.DONE, producer=producer, items=items,
                          reason="; ".join(n for n in notes if n) or None)


def _audio_track_note(info: MediaInfo, chosen: int | None) -> str | None:
    """Which audio track speech was read from, when the file has several (shown by `scenedex status`)."""
    audio = [s for s in info.streams if s.kind == "audio"]
    stream = next((s for s in audio if s.index == chosen), None)
    if len(audio) < 2 or stream is None:
        return None
    return f"read audio stream #{stream.index} ({stream.language or 'no language tag'}) of {len(audio)}"
