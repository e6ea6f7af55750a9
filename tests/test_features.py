"""Per-media feature files: fp16, memory-mappable, row i <-> frame id i, written atomically."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from indexer.encoders.base import EncodedFrames
from indexer.errors import FeatureFileError
from indexer.features import read_feature_file, write_feature_file


def encoded(n: int, grid: bool) -> EncodedFrames:
    rng = np.random.default_rng(0)
    return EncodedFrames(rng.standard_normal((n, 16)).astype(np.float32), rng.standard_normal((n, 32)).astype(np.float32),
                         rng.standard_normal((n, 4, 32)).astype(np.float32) if grid else None)


@pytest.mark.parametrize("grid", [False, True])
def test_round_trip_keeps_rows_aligned_with_frame_ids(tmp_path: Path, grid: bool) -> None:
    ids = np.array([11, 12, 15], dtype=np.int64)
    data = encoded(3, grid)
    path = tmp_path / "model-1" / "7.npy"
    write_feature_file(path, ids, data)
    records = read_feature_file(path, expected_frame_ids=ids)
    assert isinstance(records, np.memmap)
    assert records["embedding"].dtype == np.float16
    assert np.allclose(records["embedding"], data.embeddings, atol=2e-3)
    assert np.allclose(records["pooled"], data.pooled, atol=2e-3)
    if grid:
        assert records["grid"].shape == (3, 4, 32)
    assert [p.name for p in path.parent.iterdir()] == ["7.npy"]  # no temporary file left behind


def test_frames_that_do_not_match_the_database_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "1.npy"
    write_feature_file(path, np.array([1, 2, 3]), encoded(3, False))
    with pytest.raises(FeatureFileError, match="do not match"):
        read_feature_file(path, expected_frame_ids=np.array([1, 2, 4]))


def test_a_missing_file_says_how_to_rebuild_it(tmp_path: Path) -> None:
    with pytest.raises(FeatureFileError, match="reindex --reencode"):
        read_feature_file(tmp_path / "nope.npy")


def test_a_dead_writers_temporary_is_removed_by_the_next_write_and_a_live_ones_kept(tmp_path: Path) -> None:
    """A writer SIGKILLed between writing and renaming leaves ``.<name>.<pid>.tmp``; the retry's write
    removes it (a queued worker's was left for good before session 17), not a running writer's temporary."""
    path = tmp_path / "features" / "7.npy"
    path.parent.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = path.with_name(f".7.npy.{gone.pid}.tmp")
    live = path.with_name(f".7.npy.{os.getppid()}.tmp")
    other = path.with_name(f".17.npy.{gone.pid}.tmp")  # another file's: not this write's business
    for temporary in (dead, live, other):
        temporary.write_bytes(b"half a feature file")
    write_feature_file(path, np.arange(3), encoded(3, grid=False))
    assert read_feature_file(path, np.arange(3)).shape == (3,)
    assert not dead.exists() and live.exists() and other.exists()
