"""FAISS index: ids are frame ids, manifests guard against mixing models, saves are atomic, ANN is checked
against exact search on seeded data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search.errors import IndexMismatchError, IndexMissingError
from search.vector_index import VectorIndex, choose_kind, load_index, read_manifest, watermark_of


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_returns_frame_ids_not_positions() -> None:
    index = VectorIndex("m", 16, "flat")
    xb = unit_vectors(50, 16, 0)
    ids = np.arange(1000, 1050, dtype=np.int64)
    index.add(ids, xb)
    D, I = index.search(xb[[7, 31]], 1)
    assert I[:, 0].tolist() == [1007, 1031]
    assert np.allclose(D[:, 0], 1.0, atol=1e-5)


def test_removed_ids_are_never_returned() -> None:
    index = VectorIndex("m", 8, "flat")
    xb = unit_vectors(20, 8, 1)
    index.add(np.arange(20), xb)
    assert index.remove(np.array([3, 4])) == 2
    _, I = index.search(xb, 20)
    assert not np.isin(I, [3, 4]).any()
    assert sorted(index.ids().tolist()) == [i for i in range(20) if i not in (3, 4)]


def test_manifest_records_model_dim_count_and_watermark(tmp_path: Path) -> None:
    index = VectorIndex("clip:x@1", 8, "flat")
    index.add(np.array([5, 9]), unit_vectors(2, 8, 2))
    index.save(tmp_path, watermark_of(np.array([5, 9])))
    manifest = read_manifest(tmp_path)
    assert (manifest.model_key, manifest.dim, manifest.metric, manifest.count) == ("clip:x@1", 8, "ip", 2)
    assert (manifest.watermark.count, manifest.watermark.max_id, manifest.watermark.id_sum) == (2, 9, 14)


@pytest.mark.parametrize("model_key, dim, field", [("siglip:y@2", 8, "model_key"), ("clip:x@1", 16, "dim")])
def test_loading_an_index_built_for_another_model_or_dim_raises(tmp_path: Path, model_key, dim, field) -> None:
    index = VectorIndex("clip:x@1", 8, "flat")
    index.add(np.array([1]), unit_vectors(1, 8, 3))
    index.save(tmp_path, watermark_of(np.array([1])))
    with pytest.raises(IndexMismatchError) as err:
        load_index(tmp_path, model_key, dim)
    assert err.value.field == field and "scenedex reindex" in str(err.value)


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="scenedex reindex"):
        load_index(tmp_path, "m", 8)


def test_saving_twice_leaves_one_index_file_that_the_manifest_names(tmp_path: Path) -> None:
    index = VectorIndex("m", 8, "flat")
    index.add(np.array([1]), unit_vectors(1, 8, 4))
    index.save(tmp_path, watermark_of(np.array([1])))
    index.add(np.array([2]), unit_vectors(1, 8, 5))
    manifest = index.save(tmp_path, watermark_of(np.array([1, 2])))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([manifest.index_file, "manifest.json"])
    assert json.loads((tmp_path / "manifest.json").read_text())["count"] == 2
    loaded, _ = load_index(tmp_path, "m", 8)
    assert sorted(loaded.ids().tolist()) == [1, 2]


def test_hnsw_recall_at_10_against_exact_search_is_high() -> None:
    d, nb, nq, k = 32, 5000, 200, 10
    xb, xq = unit_vectors(nb, d, 10), unit_vectors(nq, d, 11)
    ids = np.arange(nb, dtype=np.int64) * 3 + 7  # ids unrelated to positions
    exact, ann = VectorIndex("m", d, "flat"), VectorIndex("m", d, "hnsw")
    exact.add(ids, xb)
    ann.add(ids, xb)
    _, I_exact = exact.search(xq, k)
    _, I_ann = ann.search(xq, k)
    recall = np.mean([len(set(a) & set(e)) / k for a, e in zip(I_ann, I_exact)])
    assert recall >= 0.95, recall


def test_small_libraries_get_exact_search_and_large_ones_ann() -> None:
    assert choose_kind(10_000) == "flat"
    assert choose_kind(800_000) == "hnsw"
    assert choose_kind(5_000_000) == "ivf"  # HNSW at 10M would need ~22 GiB; IVF-SQ8 512 B a vector


def test_ivf_trains_on_first_add_finds_neighbours_removes_and_survives_a_reload(tmp_path: Path) -> None:
    """The compressed index of very large libraries, at a small size (256 lists over clustered vectors)."""
    d, nb, nq, k = 32, 20_000, 100, 10
    centres = unit_vectors(400, d, 12)
    rng = np.random.default_rng(13)
    xb = centres[rng.integers(0, 400, nb)] + 0.15 * rng.normal(size=(nb, d)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq = xb[:nq] + 0.02 * rng.normal(size=(nq, d)).astype(np.float32)
    ids = np.arange(nb, dtype=np.int64) * 5 + 1
    exact, ivf = VectorIndex("m", d, "flat"), VectorIndex("m", d, "ivf", expected_vectors=nb)
    exact.add(ids, xb)
    ivf.add(ids, xb)
    _, I_exact = exact.search(xq, k)
    _, I_ivf = ivf.search(xq, k)
    recall = np.mean([len(set(a) & set(e)) / k for a, e in zip(I_ivf, I_exact)])
    assert recall >= 0.9, recall
    assert ivf.supports_remove and ivf.remove(ids[:10]) == 10
    assert not set(ivf.search(xq[:10], k)[1].ravel()) & set(ids[:10].tolist())
    ivf.save(tmp_path, watermark_of(ids[10:]))
    loaded, manifest = load_index(tmp_path, "m", d)
    assert manifest.kind == "ivf" and loaded.count == nb - 10
    assert np.array_equal(loaded.search(xq[10:20], k)[1], ivf.search(xq[10:20], k)[1])
    _, filtered = loaded.search(xq[10:20], k, allowed_ids=ids[10:60])
    assert set(filtered.ravel()) - {-1} <= set(ids[10:60].tolist())
