"""Loading a LLaMA-VID checkpoint directory as released, and writing one in the same layout.

A directory holds ``config.json`` (Llama fields plus ``mm_hidden_size``, ``num_query``,
``compress_type``…), the weights (``pytorch_model-0000x-of-0000y.bin`` + ``pytorch_model.bin.index.json``,
or safetensors shards + index), the LLM tokenizer, and ``qformer_tokenizer/`` (bert-base-uncased with
``[DEC]``; the reference code fetches it from a hub, scenedex never does). Next to them, or given
explicitly: ``eva_vit_g.pth`` (the EVA tower, LAVIS names) and optionally
``instruct_blip_vicuna7b_trimmed.pth`` (Q-Former initialisation, used for whatever the main checkpoint
lacks). An optional ``llamavid.json`` states every size when they are not the released ones.

Every key must land somewhere and every model weight must be filled: a missing shard, an unexpected key, a
wrong shape or a missing weight raises ``CheckpointError`` naming it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from qa.errors import CheckpointError
from qa.llamavid.checkpoint_files import iter_shards, load_tensor_file, save_sharded
from qa.llamavid.checkpoint_keys import (eva_to_tower, qformer_file_name, released_name, route_qformer_file,
                                         route_released, tower_to_eva)
from qa.llamavid.config import LlamaVidConfig, Mode, VisionTowerConfig
from qa.llamavid.config_json import (OWN_CONFIG, config_from_dict, config_from_released, config_to_dict,
                                     released_config_json)
from qa.llamavid.model import LlamaVidModel, LlamaVidTokenizers
from qa.llamavid.position import fit_positions
from qa.llamavid.vision import VisionTower

log = logging.getLogger(__name__)

EVA_FILE = "eva_vit_g.pth"
QFORMER_FILE = "instruct_blip_vicuna7b_trimmed.pth"
QFORMER_TOKENIZER_DIR = "qformer_tokenizer"
_SHOWN = 12  # names listed in an error before "… and N more"


@dataclass(frozen=True)
class LoadOptions:
    eva_file: Path | None = None  # default: <directory>/eva_vit_g.pth
    qformer_file: Path | None = None  # default: <directory>/instruct_blip_vicuna7b_trimmed.pth when present
    qformer_tokenizer: Path | None = None  # default: <directory>/qformer_tokenizer
    mode: Mode | None = None  # default: the checkpoint's own (from compress_type and RoPE scaling)
    block_frames: int | None = None
    device: str = "cpu"
    dtype: torch.dtype = torch.float32


@dataclass(frozen=True)
class LoadedLlamaVid:
    model: LlamaVidModel
    tokenizers: LlamaVidTokenizers
    directory: Path


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" … and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def read_config(directory: Path, options: LoadOptions = LoadOptions()) -> LlamaVidConfig:
    own, released = directory / OWN_CONFIG, directory / "config.json"
    if own.is_file():
        config = config_from_dict(json.loads(own.read_text()))
    elif released.is_file():
        config = config_from_released(json.loads(released.read_text()))
    else:
        raise CheckpointError(f"{directory} has no config.json",
                              hint="point at a LLaMA-VID checkpoint directory")
    if options.mode is not None:
        config = replace(config, mode=options.mode)
    if options.block_frames is not None:
        config = replace(config, block_frames=options.block_frames)
    return config


@contextmanager
def _made_on(device: str, dtype: torch.dtype) -> Iterator[None]:
    """Modules constructed inside are made on ``device`` in ``dtype`` (no float32 copy of 7B weights)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def build_model(config: LlamaVidConfig, device: str = "cpu",
                dtype: torch.dtype = torch.float32) -> LlamaVidModel:
    """Randomly initialised modules of the configured sizes, ready for weights (or for benchmarks)."""
    with _made_on(device, dtype):
        model = LlamaVidModel(config)
    return model.to(dtype=dtype).eval()


class _Filler:
    """Copies tensors into a model's weights by name, checking shapes and keeping count of what is filled."""

    def __init__(self, model: LlamaVidModel) -> None:
        self.targets = model.state_dict(keep_vars=True)
        self.filled: set[str] = set()
        self.unexpected: list[str] = []

    def put(self, key: str, tensor: torch.Tensor, source: str) -> None:
        target = self.targets.get(key)
        if target is None:
            self.unexpected.append(source)
            return
        if tuple(target.shape) != tuple(tensor.shape):
            raise CheckpointError(f"{source}: expected shape {tuple(target.shape)}, "
                                  f"found {tuple(tensor.shape)}",
                                  hint="the weights were made for other sizes than config.json / "
                                       "llamavid.json describe; use the config that came with them")
        with torch.no_grad():
            target.copy_(tensor)
        self.filled.add(key)

    def raise_unexpected(self) -> None:
        if self.unexpected:
            raise CheckpointError(f"unexpected key(s) in the checkpoint: {_names(self.unexpected)}",
                                  hint="these weights belong to no part of LLaMA-VID: check that the "
                                       "directory holds a LLaMA-VID checkpoint and that config.json "
                                       "matches it")


def _source_name(module_key: str, like: torch.Tensor) -> str:
    """How a user finds a model weight in the released files: its released name (and file, for the tower)."""
    if module_key.startswith("vision_tower."):
        names = tower_to_eva({module_key[len("vision_tower."):]: like.detach()})
        return " + ".join(sorted(names)) + f" ({EVA_FILE})"
    return released_name(module_key)


def load_weights(model: LlamaVidModel, directory: Path, eva_file: Path | None,
                 qformer_file: Path | None) -> None:
    """Fill every weight of ``model`` from the checkpoint directory, the Q-Former file and the EVA file."""
    filler = _Filler(model)
    eva_in_main: dict[str, torch.Tensor] = {}
    for path, shard in iter_shards(directory):
        for name, tensor in shard.items():
            route = route_released(name)
            if route.kind == "module":
                filler.put(route.target, tensor, f"{name} ({path.name})")
            elif route.kind == "eva":
                eva_in_main[route.target] = tensor
            elif route.kind == "unexpected":
                filler.unexpected.append(f"{name} ({path.name})")
        del shard
    if qformer_file is not None:
        for name, tensor in load_tensor_file(qformer_file).items():
            route = route_qformer_file(name)
            if route.kind == "module" and route.target not in filler.filled:
                filler.put(route.target, tensor, f"{name} ({qformer_file.name})")
    eva_state, eva_source = ((load_tensor_file(eva_file), eva_file.name) if eva_file is not None
                             else (eva_in_main, "model.vision_tower.vision_tower.* of the checkpoint"))
    mapped = eva_to_tower(eva_state, model.config.vision.layers_used)
    filler.unexpected += [f"{name} ({eva_source})" for name in mapped.unexpected]
    if mapped.unused:
        log.info("EVA tower: %d weights of blocks past the %d used are not loaded", len(mapped.unused),
                 model.config.vision.layers_used)
    tower_state = fit_positions(mapped.tensors, model.config.vision.patches_per_side)  # 224-px file, 336-px tower
    for key, tensor in tower_state.items():
        filler.put("vision_tower." + key, tensor, f"{key} ({eva_source})")
    filler.raise_unexpected()
    missing = sorted(set(filler.targets) - filler.filled)
    if missing:
        tower = [key for key in missing if key.startswith("vision_tower.")]
        missing = [_source_name(key, filler.targets[key]) for key in missing]
        hint = ("the vision tower comes from eva_vit_g.pth: put it in the checkpoint directory or give its "
                "path; " if tower else "")
        raise CheckpointError(f"the checkpoint lacks weight(s): {_names(missing)}",
                              hint=hint + "a shard may be incomplete, or the files belong to another model "
                                          "size")


def load_vision_tower(eva_file: Path, config: VisionTowerConfig = VisionTowerConfig(), device: str = "cpu",
                      dtype: torch.dtype = torch.float32) -> VisionTower:
    """The EVA tower alone from ``eva_vit_g.pth`` (for ingest: ``pooled_features`` without loading the
    LLM)."""
    with _made_on(device, dtype):
        tower = VisionTower(config)
    tower = tower.to(dtype=dtype).eval()
    mapped = eva_to_tower(load_tensor_file(Path(eva_file)), config.layers_used)
    tensors = fit_positions(mapped.tensors, config.patches_per_side)
    targets = tower.state_dict(keep_vars=True)
    problems = [f"unexpected {name}" for name in mapped.unexpected]
    problems += [f"missing {key}" for key in sorted(set(targets) - set(tensors))]
    problems += [f"{key}: expected shape {tuple(targets[key].shape)}, found {tuple(t.shape)}"
                 for key, t in tensors.items() if key in targets and targets[key].shape != t.shape]
    if problems:
        raise CheckpointError(f"{eva_file} does not fit the vision tower: {_names(problems)}",
                              hint="use the EVA ViT-g file of LAVIS (eva_vit_g.pth) with the tower's sizes")
    with torch.no_grad():
        for key, tensor in tensors.items():
            targets[key].copy_(tensor)
    return tower


def load_tokenizers(directory: Path, qformer_tokenizer: Path, config: LlamaVidConfig) -> LlamaVidTokenizers:
    from transformers import AutoTokenizer

    try:
        llm = AutoTokenizer.from_pretrained(str(directory))
    except Exception as exc:  # noqa: BLE001 - reported with the directory and what to do
        raise CheckpointError(f"cannot load the LLM tokenizer from {directory}: {exc}",
                              hint="the checkpoint directory must hold the Vicuna tokenizer files "
                                   "(tokenizer.model or tokenizer.json); sentencepiece reads tokenizer.model"
                              ) from exc
    if not qformer_tokenizer.is_dir():
        raise CheckpointError(f"no Q-Former tokenizer at {qformer_tokenizer}",
                              hint="save bert-base-uncased's tokenizer with the added bos token [DEC] there "
                                   "(or pass its directory); scenedex downloads nothing")
    qformer = AutoTokenizer.from_pretrained(str(qformer_tokenizer))
    if len(qformer) > config.qformer.vocab_size:
        raise CheckpointError(f"the Q-Former tokenizer at {qformer_tokenizer} has {len(qformer)} entries, "
                              f"the Q-Former only {config.qformer.vocab_size}",
                              hint="use the tokenizer the model was trained with (bert-base-uncased + [DEC])")
    return LlamaVidTokenizers(llm=llm, qformer=qformer)


def load_llamavid(directory: Path, options: LoadOptions = LoadOptions()) -> LoadedLlamaVid:
    """The one loading path: config, tokenizers, modules, weights (safe loading only), ready for inference."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"LLaMA-VID checkpoint directory {directory} does not exist",
                              hint="point at a local directory; nothing is downloaded")
    config = read_config(directory, options)
    qformer_tokenizer = options.qformer_tokenizer or directory / QFORMER_TOKENIZER_DIR
    tokenizers = load_tokenizers(directory, qformer_tokenizer, config)
    eva_file = options.eva_file or (directory / EVA_FILE if (directory / EVA_FILE).is_file() else None)
    qformer_file = options.qformer_file or (directory / QFORMER_FILE if (directory / QFORMER_FILE).is_file()
                                            else None)
    model = build_model(config, options.device, options.dtype)
    load_weights(model, directory, eva_file, qformer_file)
    log.info("loaded LLaMA-VID from %s (%s, %d tokens per frame)", directory, type(config.mode).__name__,
             config.tokens_per_frame)
    return LoadedLlamaVid(model=model, tokenizers=tokenizers, directory=directory)


def released_state(model: LlamaVidModel) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                                  dict[str, torch.Tensor]]:
    """The model's weights under the released names: (LLaMA-VID checkpoint, EVA file, Q-Former file)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tower = {k[len("vision_tower."):]: v for k, v in state.items() if k.startswith("vision_tower.")}
    main = {released_name(k): v for k, v in state.items() if not k.startswith("vision_tower.")}
    qformer = {name: v for k, v in state.items() if (name := qformer_file_name(k)) is not None}
    return main, tower_to_eva(tower), qformer


def save_llamavid(model: LlamaVidModel, directory: Path, shards: int = 2, safetensors: bool = False) -> Path:
    """Write ``model`` as a released-layout directory: config.json + llamavid.json, sharded weights with
    index, eva_vit_g.pth and instruct_blip_vicuna7b_trimmed.pth (tokenizers are the caller's to add)."""
    directory = Path(directory)
    main, eva, qformer = released_state(model)
    save_sharded(main, directory, shards=shards, safetensors=safetensors)
    torch.save(eva, directory / EVA_FILE)
    torch.save({"model": qformer}, directory / QFORMER_FILE)
    (directory / "config.json").write_text(json.dumps(released_config_json(model.config), indent=2))
    (directory / OWN_CONFIG).write_text(json.dumps(config_to_dict(model.config), indent=2))
    return directory
