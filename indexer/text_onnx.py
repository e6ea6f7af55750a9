"""The packaged sentence models run by onnxruntime, without torch or sentence-transformers in the process.

Importing sentence-transformers and loading all-MiniLM-L6-v2 costs 5.7-6.9 s of CPU (torch 2, transformers and
scikit-learn, which sentence-transformers imports, most of the rest); every `scenedex index` and the first search
of a process paid it. onnxruntime (already loaded for OCR), the ``tokenizers`` library and the exported graph
cost 0.6 s. The graph is exported once per model into the cache (``onnx_copy``: torch's exporter, ~2 s for
MiniLM) and gives the same vectors as sentence-transformers: the same tokenizer file and truncation, mean pooling
over the attention mask, L2 normalisation (``tests/test_text_onnx.py`` compares the two).

Only folders whose sentence-transformers modules are a Transformer, a mean Pooling and optionally Normalize
qualify (``supported``); anything else stays on sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when the exported graph changes: a new folder is made
OPSET = 17
BATCH_TEXTS = 64
# A batch is padded to its longest text, and padding costs as much as text (more: attention grows with its square).
# So texts run in order of their token count, a batch holds texts at least MIN_FILL of its longest one's length and
# at most BATCH_TOKENS tokens once padded. The Big Buck Bunny credits' 137 chunks (5,466 tokens, mashed names: from
# 9 to 130 tokens each), batched 64 at a time in order of characters, were 1.6-2.2x their own tokens once padded:
# 2.7 CPU s (MiniLM) + 6.2 (int8 mpnet); batched as here, 1.3 + 3.1; the same texts one at a time 1.5 + 4.7.
BATCH_TOKENS = 64 * 128
MIN_FILL = 2 / 3
# An int8 graph embeds each text alone. Its activations are quantized with one scale per tensor, set by the
# largest value in the batch, so a text's vector depended on the texts batched with it: the chunk texts of two
# libraries (session 21, holdout3 and frozen, int8 mpnet), embedded batched and alone, came out at cosine
# 0.978 on mean to themselves (0.92 at worst), enough to swap moments whose similarities are 0.01 apart;
# and as a file's chunks are embedded together, a rule that read or cut one of them otherwise moved the rest.
# Alone, a text gets the vector a query of the same words gets (queries are embedded alone), closer to the
# float model's (cosine to it 0.9794 -> 0.9835 on mean, 5th percentile 0.9655 -> 0.9714), for 1.46x the int8
# CPU (7.6 -> 11.1 s; the float model 18.5; the Big Buck Bunny run's 186 texts 4.6-4.7 -> 5.2-5.8 s).
PLAIN_MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                 "sentence_transformers.models.Normalize")


def supported(model_dir: Path) -> bool:
    """Whether the folder is a Transformer + mean Pooling (+ Normalize) sentence-transformers model."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        kinds = [m["type"] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith(".Pooling"))
        pool = json.loads((model_dir / pooling["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    modes = {k for k, v in pool.items() if k.startswith("pooling_mode") and v}
    return (kinds[:2] == list(PLAIN_MODULES[:2]) and set(kinds[2:]) <= {PLAIN_MODULES[2]}
            and modes == {"pooling_mode_mean_tokens"} and (model_dir / "tokenizer.json").is_file())


def onnx_copy(model_dir: Path, revision: str, cache_dir: Path, int8_except: tuple[int, ...] | None = None) -> Path:
    """The folder holding ``model.onnx`` and ``inputs.json`` for this model, exported once (atomic: made in a
    temporary folder and renamed into place, so a crash or a second process never leaves half a copy).
    ``int8_except``: quantize the graph's weights to int8 but the feed-forward down-projections of these layers
    (``quantize_int8``); None: float."""
    variant = "" if int8_except is None else "-int8" + "".join(f"-{i}" for i in int8_except)
    target = cache_dir / "text-onnx" / f"{model_dir.name}-{revision}-v{EXPORT_FORMAT}{variant}"
    if (target / "inputs.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".text-onnx-", dir=target.parent))
    try:
        _export(model_dir, work)
        if int8_except is not None:
            quantize_int8(work / "model.onnx", int8_except)
        os.replace(work, target)
    except OSError:  # another process put its copy there first
        if not (target / "inputs.json").is_file():
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("exported %s to %s", model_dir, target)
    return target


def _export(model_dir: Path, out: Path) -> None:
    import inspect

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
             if n in inspect.signature(model.forward).parameters]

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs))).last_hidden_state  # (B, T, D)

    example = tuple(torch.ones((2, 4), dtype=torch.int64) for _ in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in (*names, "last_hidden")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes; the graph is checked by tests
        torch.onnx.export(LastHidden(), example, str(out / "model.onnx"), input_names=names,
                          output_names=["last_hidden"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    (out / "inputs.json").write_text(json.dumps(names))


def down_projection(layer: int) -> str:
    """The name torch's exporter gives a BERT-style layer's feed-forward down-projection (intermediate -> hidden)."""
    return f"/model/encoder/layer.{layer}/output/dense/MatMul"


def quantize_int8(path: Path, float_layers: tuple[int, ...]) -> None:
    """Rewrite the exported graph at ``path`` with its weight matrix products in int8 (onnxruntime's dynamic
    quantization, per channel), except the feed-forward down-projections of ``float_layers`` and the products of
    two activations (attention scores), which stay float.

    Why not every weight: the inputs of some down-projections have outliers that one int8 scale per tensor cannot
    hold. Measured on all-mpnet-base-v2, 600 library sentences, this CPU (AVX-512 VNNI), against the float graph:
    all 72 weight products int8, mean cosine 0.877 and 3.3x less CPU; without the 12 down-projections 0.988 and
    1.8x; with one down-projection at a time added, layers 0-5 and 11 cost nothing, 6-10 bring it to 0.961-0.980.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(path))
    weights = {i.name for i in model.graph.initializer} | {n.output[0] for n in model.graph.node
                                                           if n.op_type == "Constant"}
    products = [n for n in model.graph.node if n.op_type == "MatMul"]
    names = {n.name for n in products}
    missing = [down_projection(i) for i in float_layers if down_projection(i) not in names]
    if missing:
        raise ValueError(f"the exported graph has no {missing}: not the BERT layout int8 was measured on")
    keep = [n.name for n in products if n.input[1] not in weights] + [down_projection(i) for i in float_layers]
    del model
    quantized = path.with_name("model.int8.onnx")
    # reduce_range: 7-bit weights, so CPUs without VNNI (whose u8 x s8 products saturate at 8 bits) read it right
    # too; on this VNNI CPU the same cosine (0.983 mean with the 6-10 exception) and the same speed as 8 bits.
    quantize_dynamic(str(path), str(quantized), per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=keep)
    os.replace(quantized, path)


class OnnxSentenceModel:
    """texts -> (N, D) float32 L2-normalised, like ``SentenceTransformer.encode(normalize_embeddings=True)``."""

    def __init__(self, model_dir: Path, revision: str, cache_dir: Path, threads: int = 0,
                 int8_except: tuple[int, ...] | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        copy = onnx_copy(model_dir, revision, cache_dir, int8_except)
        self.input_names: list[str] = json.loads((copy / "inputs.json").read_text())
        max_tokens = int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
        self.tokenizer: Any = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        pad = _pad_token(model_dir)
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()  # a tokenizer file may pad to a fixed length; batches are padded here
        self.pad_id = int(self.tokenizer.token_to_id(pad))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see indexer.ocr_sessions.quiet_sessions
        self.session = onnxruntime.InferenceSession(str(copy / "model.onnx"), options,
                                                    providers=["CPUExecutionProvider"])
        self.dim = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])
        self.alone = int8_except is not None  # each text embedded on its own (the note above PLAIN_MODULES)

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        lengths = [len(e.ids) for e in encodings]
        for idx in [[i] for i in range(len(texts))] if self.alone else token_batches(lengths):
            out[idx] = self._batch([encodings[i] for i in idx])
        return out

    def _batch(self, encodings: list[Any]) -> np.ndarray:
        """Tokenized texts -> (B, D) unit vectors: right-padded to the longest, run, mean-pooled over each text's
        own tokens."""
        length = max(max(len(e.ids) for e in encodings), 1)
        arrays = {name: np.full((len(encodings), length), fill, np.int64)  # (B, T)
                  for name, fill in (("input_ids", self.pad_id), ("attention_mask", 0), ("token_type_ids", 0))}
        for row, e in enumerate(encodings):
            arrays["input_ids"][row, :len(e.ids)] = e.ids
            arrays["attention_mask"][row, :len(e.ids)] = e.attention_mask
            arrays["token_type_ids"][row, :len(e.ids)] = e.type_ids
        hidden = self.session.run(None, {n: arrays[n] for n in self.input_names})[0]  # (B, T, D)
        mask = arrays["attention_mask"][..., None].astype(np.float32)  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)  # (B, D)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def token_batches(lengths: list[int], max_texts: int = BATCH_TEXTS, max_tokens: int = BATCH_TOKENS,
                  min_fill: float = MIN_FILL) -> list[list[int]]:
    """Indices of texts of ``lengths`` tokens in batches, longest first: each batch's texts are at least
    ``min_fill`` of its first one's length, and at most ``max_texts`` of them and ``max_tokens`` tokens once padded
    to it (a text longer than ``max_tokens`` runs alone).

    >>> token_batches([5, 100, 90, 10, 60, 8], max_tokens=250)
    [[1, 2], [4], [3, 5], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches:
            batch = batches[-1]
            longest = max(lengths[batch[0]], 1)
            if (len(batch) < max_texts and (len(batch) + 1) * longest <= max_tokens
                    and lengths[i] >= min_fill * longest):
                batch.append(i)
                continue
        batches.append([i])
    return batches


def _pad_token(model_dir: Path) -> str:
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        try:
            pad = json.loads((model_dir / name).read_text()).get("pad_token")
        except (OSError, ValueError):
            continue
        if isinstance(pad, dict):
            pad = pad.get("content")
        if pad:
            return str(pad)
    return "[PAD]"
