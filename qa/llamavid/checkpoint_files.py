"""Reading and writing checkpoint files safely: PyTorch files only with ``weights_only=True`` (tensors and
plain containers, never arbitrary pickled objects), safetensors as they are. Sharded checkpoints are read
shard by shard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch

from qa.errors import CheckpointError

BIN_INDEX = "pytorch_model.bin.index.json"
SAFETENSORS_INDEX = "model.safetensors.index.json"
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")


def load_tensor_file(path: Path) -> dict[str, torch.Tensor]:
    """One ``.bin``/``.pth``/``.safetensors`` file → its flat state dict (a ``"model"`` or ``"state_dict"``
    wrapper, as LAVIS files have, is unwrapped)."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist",
                              hint="check the path, or download the file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported with its path
        raise CheckpointError(f"cannot read checkpoint file {path}: {exc}",
                              hint="the file is damaged, truncated, or holds more than tensors (only "
                                   "weights-only PyTorch files and safetensors are loaded)") from exc
    for wrapper in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors",
                              hint="point at the weights file itself (.bin, .pth or .safetensors)")
    return state


def shard_paths(directory: Path) -> list[Path]:
    """The weight files of a checkpoint directory, in index order; every shard the index names must exist."""
    for index_name in (SAFETENSORS_INDEX, BIN_INDEX):
        index_path = directory / index_name
        if not index_path.is_file():
            continue
        try:
            weight_map = json.loads(index_path.read_text())["weight_map"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index_path} is not a valid index: {exc}",
                                  hint="download the index json again") from exc
        names = list(dict.fromkeys(weight_map.values()))
        missing = [name for name in names if not (directory / name).is_file()]
        if missing:
            raise CheckpointError(f"{directory} is missing shard(s) {', '.join(missing)} "
                                  f"named in {index_name}",
                                  hint="download the missing shard files into the checkpoint directory")
        return [directory / name for name in names]
    for name in SINGLE_FILES:
        if (directory / name).is_file():
            return [directory / name]
    raise CheckpointError(f"{directory} has no weights ({BIN_INDEX}, {SAFETENSORS_INDEX} or a single "
                          f"{' / '.join(SINGLE_FILES)})", hint="point at a LLaMA-VID checkpoint directory")


def iter_shards(directory: Path) -> Iterator[tuple[Path, dict[str, torch.Tensor]]]:
    for path in shard_paths(directory):
        yield path, load_tensor_file(path)


def save_sharded(state: dict[str, torch.Tensor], directory: Path, shards: int,
                 safetensors: bool = False) -> None:
    """Write ``state`` as ``shards`` files plus the index json, named as transformers (and the releases) name
    them."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = list(state)
    per_shard = -(-len(keys) // shards)
    weight_map: dict[str, str] = {}
    for i in range(shards):
        part = {key: state[key].contiguous() for key in keys[i * per_shard:(i + 1) * per_shard]}
        if safetensors:
            from safetensors.torch import save_file

            name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            save_file(part, str(directory / name), metadata={"format": "pt"})
        else:
            name = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
            torch.save(part, directory / name)
        weight_map.update({key: name for key in part})
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / (SAFETENSORS_INDEX if safetensors else BIN_INDEX)).write_text(json.dumps(index, indent=2))
