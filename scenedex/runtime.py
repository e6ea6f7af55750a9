"""Wiring at the edge: Settings in, typed values and opened resources out."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from db.embedded import EmbeddedPostgres
from db.session import Database, upgrade
from indexer.encoders import EncoderSpec, describe_vision_encoder, load_vision_encoder
from indexer.sampling import SamplingPolicy
from qa.answering import AnswerModel
from qa.frames_cache import FramesCache
from scenedex.ask_service import AskConfig, AskService
from scenedex.loading import step
from scenedex.search_service import SearchConfig, SearchService
from scenedex.settings import Settings
from search.fusion import FusionWeights
from search.moments import MomentPolicy
from search.rerank import RerankSpec
from workers.ingest import IngestConfig
from workers.layout import DataLayout
from workers.models import OcrSettings, QaTowerChannel, TextChannels, VisionChannel

log = logging.getLogger(__name__)
FRAME_SIZE_WITHOUT_ENCODER_PX = 64  # frames only give times and shots then: decode small


@dataclass(frozen=True)
class IndexSetup:
    ingest: IngestConfig
    vision: VisionChannel | None
    text: TextChannels
    extensions: tuple[str, ...]
    qa_tower: QaTowerChannel | None = None


def qa_tower_channel(settings: Settings) -> QaTowerChannel | None:
    """LLaMA-VID's EVA tower, described from its directory without loading it (loaded on the first frame)."""
    if settings.llamavid_model is None:
        return None
    from qa.llamavid.checkpoint import EVA_FILE, load_vision_tower, read_config

    directory = Path(settings.llamavid_model)
    config = read_config(directory)
    eva = directory / EVA_FILE
    size = eva.stat().st_size if eva.is_file() else 0
    device = "cuda" if settings.device == "cuda" else "cpu"
    if settings.device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return QaTowerChannel(key=f"llamavid-eva:{directory.name}:{size}", feature_dim=config.vision.width,
                          load=lambda: load_vision_tower(eva, config.vision, device=device))


def encoder_spec(settings: Settings) -> EncoderSpec | None:
    if settings.vision_model is None:
        return None
    return EncoderSpec(model=settings.vision_model, device=settings.device, batch_size=settings.encode_batch_size,
                       feature_layer=settings.feature_layer, grid_k=settings.feature_grid_k)


def index_setup(settings: Settings) -> IndexSetup:
    spec = encoder_spec(settings)
    vision = None
    size_px, resize = FRAME_SIZE_WITHOUT_ENCODER_PX, "squash"
    if spec is not None:
        info = describe_vision_encoder(spec)
        vision = VisionChannel(info=info, load=lambda: load_vision_encoder(spec))
        size_px, resize = info.image_size, info.resize_mode
    qa_tower = qa_tower_channel(settings)
    if spec is None and qa_tower is not None:  # frames decoded for the answer model's tower alone
        size_px, resize = 224, "center_crop"
    skip_nonref = not settings.decode_all_frames  # every decode of a file: the frames channel's, OCR's
    sampling = SamplingPolicy(fps=settings.sample_fps, mode=settings.sampling_mode,
                              max_frames=settings.max_frames_per_media, shot_threshold=settings.shot_threshold,
                              size_px=size_px, resize_mode=resize, batch_frames=settings.encode_batch_size,
                              skip_nonref=skip_nonref)
    ingest = IngestConfig(layout=DataLayout(settings.data_dir), sampling=sampling, min_shot_s=settings.min_shot_s,
                          qa_tower_key=qa_tower.key if qa_tower is not None else None)
    ocr = OcrSettings(fps=settings.ocr_fps, width_px=settings.ocr_width_px,
                      min_confidence=settings.ocr_min_confidence, scripts=settings.ocr_scripts,
                      skip_nonref=skip_nonref, workers=settings.ocr_workers) if settings.ocr else None
    text = TextChannels(subtitles=settings.subtitles, speech=settings.speech, speech_model=settings.speech_model,
                        speech_language=settings.speech_language, speech_beam_size=settings.speech_beam_size,
                        speech_device=settings.device, ocr=ocr,
                        text_model=settings.text_model)
    return IndexSetup(ingest=ingest, vision=vision, text=text, extensions=settings.media_extensions,
                      qa_tower=qa_tower)


def search_config(settings: Settings) -> SearchConfig:
    weights = FusionWeights(visual=settings.search_weight_visual, speech=settings.search_weight_speech,
                            subtitles=settings.search_weight_subtitles, ocr=settings.search_weight_ocr,
                            semantic=settings.search_weight_semantic, lexical=settings.search_weight_lexical,
                            k=settings.search_rrf_k, agreement=settings.search_agreement)
    policy = MomentPolicy(join_gap_s=settings.moment_join_gap_s, max_moment_s=settings.moment_max_s,
                          pad_before_s=settings.moment_pad_before_s, pad_after_s=settings.moment_pad_after_s)
    rerank = RerankSpec(settings.rerank_model, settings.rerank_top, settings.rerank_weight) \
        if settings.rerank_model else None
    return SearchConfig(text_model=settings.text_model, vision=encoder_spec(settings), weights=weights,
                        policy=policy, rerank=rerank)


def ask_config(settings: Settings) -> AskConfig:
    return AskConfig(max_moments=settings.ask_max_moments, max_new_tokens=settings.ask_max_new_tokens)


def load_answer_model(settings: Settings) -> AnswerModel:
    """The configured answer model: LLaMA-VID when llamavid_model names its directory (the setting decides; the
    model kind is never guessed from files), else the text model (the packaged SmolLM2 unless ask_model names a
    directory). A LLaMA-VID directory that is missing or does not load raises CheckpointError/AnswerModelError."""
    from qa.text_answerer import TextAnswerer, resolve_text_model

    if settings.llamavid_model is not None:
        import torch

        from qa.errors import AnswerModelError, QaError
        from qa.llamavid import LlamaVidAnswerer, LoadOptions

        directory = Path(settings.llamavid_model).expanduser()
        where = f"the LLaMA-VID answer model at {directory} (llamavid_model, SCENEDEX_LLAMAVID_MODEL)"
        unset = "or unset SCENEDEX_LLAMAVID_MODEL to answer with the text-only model"
        cuda = settings.device == "cuda" or (settings.device == "auto" and torch.cuda.is_available())
        if cuda and not torch.cuda.is_available():
            raise AnswerModelError(f"{where} was asked to run on CUDA, but no CUDA GPU is available",
                                   hint=f"set SCENEDEX_DEVICE=cpu or auto, {unset}")
        options = LoadOptions(device="cuda" if cuda else "cpu", dtype=torch.bfloat16 if cuda else torch.float32)
        try:
            return LlamaVidAnswerer.from_directory(directory, options)
        except QaError as exc:  # CheckpointError, AnswerModelError: said again with the setting that chose it
            raise type(exc)(f"{where} does not load: {exc.message}",
                            hint=f"{exc.hint}; {unset}" if exc.hint else unset) from exc
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, MemoryError) as exc:  # unreadable files,
            raise AnswerModelError(f"{where} does not load: {exc}",  # bad json, out of memory
                                   hint=f"check that it is a complete LLaMA-VID checkpoint directory, {unset}"
                                   ) from exc

    from qa.grounding.model_off import OFF_KEYS, ExtractiveOnly

    if settings.ask_model is not None and settings.ask_model.strip().lower() in OFF_KEYS:
        return ExtractiveOnly()  # SCENEDEX_ASK_MODEL=none: answers quote the evidence line
    spec = resolve_text_model(settings.ask_model, settings.cache_dir, settings.ask_context_tokens)
    if settings.device != "cpu":
        import torch

        if settings.device == "cuda" or torch.cuda.is_available():
            spec = replace(spec, device="cuda")
    return TextAnswerer(spec)


def ask_service(settings: Settings, db: Database) -> AskService:
    """Questions answered over ``db``; the answer model loads on the first question."""
    search = SearchService(db, DataLayout(settings.data_dir), search_config(settings))
    frames = FramesCache(settings.cache_dir / "frames", settings.ask_frames_cache_mb * 1024 * 1024)

    def load() -> AnswerModel:
        from qa.packaged_llm import is_prepared

        action = "loading the answer model"
        if settings.ask_model is None and settings.llamavid_model is None and not is_prepared(settings.cache_dir):
            action = "making the packaged answer model's dense copy, once (`scenedex prepare` does it ahead)"
        with step(action):
            return load_answer_model(settings)

    return AskService(search, load, ask_config(settings), frames)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a service manager, `docker stop`, a closed terminal): unwinds like Ctrl-C, so every
    ``finally`` runs and the embedded Postgres this process started is stopped."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


_deferred: list[int] = []  # signals received inside signals_deferred(), raised when it ends
_deferring = threading.Event()


def stop_on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> None:
    """Make ``signums`` raise Terminated in the main thread, once: a second signal during the cleanup is ignored,
    so the cleanup completes. (uvicorn and Celery hand these signals back, or install their own, while they run.)"""
    if threading.current_thread() is not threading.main_thread():
        return
    raised = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if _deferring.is_set():
            _deferred.append(signum)
            return
        if raised.is_set():
            log.warning("%s again: still stopping", signal.Signals(signum).name)
            return
        raised.set()
        raise Terminated(signum)

    for signum in signums:
        signal.signal(signum, handler)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGTERM, SIGHUP and Ctrl-C until the block ends (then raise Terminated or KeyboardInterrupt): for a
    step that must not be cut in half, like starting the embedded Postgres and registering as its user."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def hold_interrupt(signum: int, _frame: object) -> None:
        _deferred.append(signum)

    previous_int = signal.signal(signal.SIGINT, hold_interrupt)
    _deferring.set()
    try:
        yield
    finally:
        _deferring.clear()
        signal.signal(signal.SIGINT, previous_int)
    if _deferred:
        signum = _deferred.pop(0)
        _deferred.clear()
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """The configured Postgres, or the embedded one in the data directory; migrated to the latest schema."""
    embedded = EmbeddedPostgres(settings.data_dir) if settings.database_url is None else None
    url = settings.database_url
    db = None
    try:
        if embedded is not None:
            # A signal half-way would leave a server running that no one stops: it is held until the start ends.
            with signals_deferred(), step("starting the embedded Postgres"):
                url = embedded.start()
        assert url is not None
        upgrade(url)
        db = Database(url)
        yield db
    finally:
        if db is not None:
            db.dispose()
        if embedded is not None:
            embedded.stop()
