"""The packaged sentence model on onnxruntime (``indexer.text_onnx``) gives sentence-transformers' vectors, and
loads without torch or sentence-transformers in the process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.text_embedding import MINILM_NAME as MINILM
from indexer.text_embedding import TextEncoder, resolve_text_model
from indexer.text_onnx import OnnxSentenceModel, down_projection, onnx_copy, supported, token_batches

TEXTS = ["Goddard Space Flight Center", "", "a", "WAVES break over the rail, Ünïcödé & émoji 🚂 …",
         "dinner on the train " * 120,  # longer than the 256 tokens the model reads: truncated alike
         "ORIGINAL STORY AND SCRIPT Sacha Goedegebure", "12:30 — 3.5 km/h?"]


def test_onnx_vectors_equal_sentence_transformers_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    encoder = TextEncoder(MINILM)
    assert encoder.on_onnxruntime, "the packaged model should run on onnxruntime"
    fast = encoder.encode(TEXTS)  # (N, 384)
    reference = SentenceTransformer(str(resolve_text_model(MINILM)), device="cpu").encode(
        TEXTS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert fast.shape == reference.shape == (len(TEXTS), 384)
    assert np.abs(fast - reference).max() < 1e-4
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)


def test_order_and_batches_do_not_change_a_text_s_vector(tmp_path) -> None:
    source = resolve_text_model(MINILM)
    model = OnnxSentenceModel(source, TextEncoder.revision_of(source), tmp_path)
    together = model.encode(TEXTS * 20)  # 140 texts: three batches, sorted by length inside
    for i, text in enumerate(TEXTS):
        assert np.abs(together[i] - model.encode([text])[0]).max() < 1e-5


def test_texts_are_not_padded_before_they_are_batched(tmp_path) -> None:
    """The packaged tokenizer file pads to 128 tokens; a batch must be padded to its own longest text only."""
    source = resolve_text_model(MINILM)
    model = OnnxSentenceModel(source, TextEncoder.revision_of(source), tmp_path)
    assert len(model.tokenizer.encode("honey bees").ids) == 4  # [CLS] honey bees [SEP]


@given(st.lists(st.integers(0, 600), max_size=200), st.integers(1, 64), st.integers(1, 9000),
       st.floats(0.0, 1.0))
def test_token_batches_take_each_text_once_and_bound_padding(lengths, max_texts, max_tokens, min_fill) -> None:
    batches = token_batches(lengths, max_texts, max_tokens, min_fill)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        longest = lengths[batch[0]]
        assert all(lengths[i] <= longest for i in batch)
        if len(batch) > 1:
            assert len(batch) <= max_texts and len(batch) * max(longest, 1) <= max_tokens
            assert all(lengths[i] >= min_fill * longest for i in batch)


def test_loading_the_packaged_model_imports_neither_torch_nor_sentence_transformers() -> None:
    TextEncoder()  # the default (MiniLM and the int8 mpnet joined); the exports are cached
    code = ("import sys; from indexer.text_embedding import TextEncoder; TextEncoder().encode(['hello']); "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_with_other_pooling_are_not_taken(tmp_path) -> None:
    source = resolve_text_model(MINILM)
    assert supported(source)
    for name in ("modules.json", "sentence_bert_config.json", "config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert not supported(tmp_path)
    assert not supported(tmp_path / "missing")


@pytest.mark.parametrize("broken", ["model.onnx"])
def test_a_broken_export_falls_back_to_sentence_transformers(tmp_path, monkeypatch, broken) -> None:
    import indexer.text_embedding as text_embedding

    monkeypatch.setattr(text_embedding, "default_cache_dir", lambda: tmp_path)
    first = TextEncoder(MINILM)
    assert first.on_onnxruntime
    [copy] = (tmp_path / "text-onnx").iterdir()
    (copy / broken).write_bytes(b"not a graph")
    second = TextEncoder(MINILM)
    assert not second.on_onnxruntime
    assert np.abs(second.encode(TEXTS[:1]) - first.encode(TEXTS[:1])).max() < 1e-4


def test_an_int8_copy_keeps_the_named_down_projections_float_and_stays_close_to_the_float_vectors(tmp_path) -> None:
    import onnx

    source = resolve_text_model(MINILM)
    revision = TextEncoder.revision_of(source)
    exact = OnnxSentenceModel(source, revision, tmp_path)
    int8 = OnnxSentenceModel(source, revision, tmp_path, int8_except=(1, 4))
    graph = onnx.load(str(onnx_copy(source, revision, tmp_path, (1, 4)) / "model.onnx")).graph
    float_products = {n.name for n in graph.node if n.op_type == "MatMul"}
    assert {down_projection(1), down_projection(4)} <= float_products
    assert down_projection(0) not in float_products
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 6 * 6 - 2  # q, k, v, out, up, down a layer
    texts = [t for t in TEXTS if t]
    a, b = int8.encode(texts), exact.encode(texts)  # (N, 384) each
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() > 0.95 and np.abs(a - b).max() > 1e-4  # close, yet another copy


def test_an_int8_text_gets_the_same_vector_whatever_is_embedded_with_it(tmp_path) -> None:
    """Dynamic int8 quantizes a batch's activations with one scale, set by its largest value: batched, a
    caption's vector would move with the other texts of its batch. Each text runs alone, so it is the vector
    its own words give as a query."""
    source = resolve_text_model(MINILM)
    int8 = OnnxSentenceModel(source, TextEncoder.revision_of(source), tmp_path, int8_except=(1, 4))
    caption = "Harbour lights at midnight"
    others = ["00:00:05.480 n=137", "Every Wednesday since nineteen fifty eight, members have met above the "
              "old post office on Mill Lane, and the older ones help set up the boards. " * 3, "Lot 47"]
    alone = int8.encode([caption])[0]  # (384,)
    for company in (others, others[:1], others[1:]):
        assert np.array_equal(int8.encode([*company, caption])[-1], alone)
    batched = np.concatenate([int8._batch([e]) for e in int8.tokenizer.encode_batch([caption])])[0]
    assert np.array_equal(batched, alone)  # alone is one batch of one


def test_a_graph_without_the_named_layers_is_not_quantized(tmp_path) -> None:
    source = resolve_text_model(MINILM)
    with pytest.raises(ValueError, match="layer.99"):
        onnx_copy(source, TextEncoder.revision_of(source), tmp_path, (99,))
    assert not list((tmp_path / "text-onnx").glob("*int8*")), "no half-made copy is left"


def test_int8_models_are_keyed_apart_from_their_float_vectors() -> None:
    source = resolve_text_model(MINILM)
    assert TextEncoder.revision_of(source, "all-mpnet-base-v2-int8").endswith("+int8-alone")
    assert "+" not in TextEncoder.revision_of(source, "all-mpnet-base-v2")
    assert "+" not in TextEncoder.revision_of(source)
