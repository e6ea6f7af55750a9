"""Per-media feature files: one memory-mappable ``.npy`` of fp16 records, row i <-> frame ``frame_id[i]``.

Each record holds ``frame_id`` (int64), ``embedding`` (embed_dim,), ``pooled`` (feature_dim,) and, when a grid
is kept, ``grid`` (k*k, feature_dim). Files are written to a temporary name and renamed, so a reader sees the
old file or the new one, never half of one; the temporaries of writers killed before their rename are removed
by the next write of the same file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from indexer.encoders.base import EncodedFrames
from indexer.errors import FeatureFileError


def record_dtype(embed_dim: int, feature_dim: int, grid_k: int) -> np.dtype:
    fields: list[tuple[str, str, tuple[int, ...]] | tuple[str, str]] = [
        ("frame_id", "<i8"), ("embedding", "<f2", (embed_dim,)), ("pooled", "<f2", (feature_dim,)),
    ]
    if grid_k:
        fields.append(("grid", "<f2", (grid_k * grid_k, feature_dim)))
    return np.dtype(fields)  # type: ignore[arg-type]


def write_feature_file(path: Path, frame_ids: np.ndarray, encoded: EncodedFrames) -> None:
    n = len(frame_ids)
    assert encoded.embeddings.shape[0] == n and encoded.pooled.shape[0] == n, (
        f"{n} frame ids but {encoded.embeddings.shape[0]} embeddings and {encoded.pooled.shape[0]} pooled rows")
    grid_k = int(round(encoded.grid.shape[1] ** 0.5)) if encoded.grid is not None else 0
    records = np.zeros(n, dtype=record_dtype(encoded.embeddings.shape[1], encoded.pooled.shape[1], grid_k))
    records["frame_id"] = frame_ids
    records["embedding"] = encoded.embeddings
    records["pooled"] = encoded.pooled
    if encoded.grid is not None:
        records["grid"] = encoded.grid
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, records, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    remove_dead_writers_temporaries(path)


def remove_dead_writers_temporaries(path: Path) -> list[Path]:
    """Remove ``.<name>.<pid>.tmp`` beside ``path`` whose writing process is gone (SIGKILLed between writing
    and renaming: a queued worker killed there left one for good, found in a fault test in session 17); a live
    writer's is kept. Returns what was removed."""
    removed = []
    for temporary in path.parent.glob(f".{path.name}.*.tmp"):
        pid = temporary.name[len(path.name) + 2:-len(".tmp")]
        if pid.isdigit() and not _alive(int(pid)):
            temporary.unlink(missing_ok=True)
            removed.append(temporary)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def read_feature_file(path: Path, expected_frame_ids: np.ndarray | None = None) -> np.ndarray:
    """Memory-map a feature file; with ``expected_frame_ids``, check it holds exactly those frames in order."""
    try:
        records = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError as exc:
        raise FeatureFileError(path, "feature file missing: run `scenedex reindex --reencode` to rebuild it") from exc
    except ValueError as exc:
        raise FeatureFileError(path, f"feature file unreadable ({exc}): run `scenedex reindex --reencode`") from exc
    if records.dtype.names is None or "frame_id" not in records.dtype.names:
        raise FeatureFileError(path, "not a scenedex feature file")
    if expected_frame_ids is not None and not np.array_equal(records["frame_id"], expected_frame_ids):
        raise FeatureFileError(path, f"holds {len(records)} frames that do not match the {len(expected_frame_ids)} "
                               "frames in the database: run `scenedex reindex --reencode`")
    return records
