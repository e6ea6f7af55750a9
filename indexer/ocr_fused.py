"""The PP-OCRv4 detector and recogniser rewritten to compute the same functions with fewer passes over memory.

Their backbone (PP-LCNetV3, exported from Paddle at opset 12) spells every activation out in elementwise nodes:
each convolution is followed by a learnable affine (``Mul`` by a scalar, ``Add`` a scalar), a hard swish as four
nodes (``Add 3``, ``Clip 0..6``, ``Mul``, ``Div 6``) and a second learnable affine. On a 48 px line those eight
nodes read and write the whole feature map each time: profiled on 20 credit lines 1300-2000 px wide (1 thread),
53 % of the recogniser's time went to Mul/Add/Clip/Div, 31 % to the convolutions. onnxruntime fuses a
convolution with a following ``HardSwish`` node, not with the four nodes spelled out.

The rewrite is exact algebra (the same numbers up to float rounding):

1. an affine right after a convolution is folded into its weights and bias (W' = aW, B' = aB + b);
2. the four hard-swish nodes become one ``HardSwish`` (the model is converted to opset 14 for it);
3. an affine right before a pointwise convolution without padding is folded into that convolution
   (W' = aW, B' = B + b sum(W)); before a padded (depthwise) convolution it stays, since its padding reads
   zeros, not b.

Measured on the credits excerpt's 503 recognised lines (load ~7, 1 thread, CPU): recognition 30.7 -> 19.5 s
(under 320 px of input 15 -> 12 ms a line, 1280-2560 px 142 -> 87 ms), all 503 readings and scores the same;
detection of 40 frames of both excerpts 81 -> 62 ms a frame at 640 px, 43 -> 29 at 480 px, every box the same.
(int8 quantisation was measured too, and not taken: dynamic 5x slower and 464/503 readings wrong; static QDQ
per channel 18 % faster than the original but 291/503 readings changed.)

What is left is arithmetic (session 8, ``bench/ocr_cpu.py`` and onnxruntime's profiler, 1 thread): on the credits
excerpt the recogniser is ~75 % of the OCR's CPU, and of its time on lines 1280-2560 px wide the convolutions
take 78 %, NCHWc reorders 6.5 %, Add/Mul 6 %, MatMul 5 %. A 1600 px input is 3.2 GMAC (the 1x1 convolutions at
240-480 channels most of it), done at ~31 GMAC/s on one core, about two thirds of what AVX2 FMA can do; a call
costs ~2.7 ms more than its width (a 16 px input). Not taken, measured the same session at load 5-12:
onnxruntime's CPU memory arena (193-204 vs 198-203 ms for four widths), denormals as zero, no memory pattern: no
difference beyond noise; ORT_ENABLE_EXTENDED (no NCHWc layout) 1.7x the CPU; lines of like widths batched again:
under 320 px, 4 within 5 % a call, 3.4-3.6 vs 3.5 s and 2 of 207 readings changed; 320-1280 px 10.9-12.0 vs
9.2-9.4 s and 31 of 182 changed (the padding reaches the neck's attention).

``rewrite(model)`` takes and returns ``onnx.ModelProto``. ``fused_models(source_dir)`` writes both files once
into the cache folder (``indexer.model_files.build_once``, checked against pinned digests); the onnx package is
needed only to build them. The arithmetic of the folding is done in float64 (sums exactly rounded) and rounded
once to float32, so the same onnx version writes the same bytes.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

OPSET = 14  # the first with HardSwish
RECIPE = "fused1"  # names the rewrite in the cache folder's name: a changed rewrite builds a new folder


class _Graph:
    """The model's nodes, constants and consumers, for rewriting in place."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.model = model
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        for node in self.graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        # The node objects held for the whole rewrite: protobuf may hand out a new wrapper on each access, whose
        # id() could be reused; these stay alive, so their ids name them.
        self.nodes = list(self.graph.node)
        self.dead: set[int] = set()  # ids of nodes removed
        self._index()

    def _index(self) -> None:
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for node in self.nodes:
            if id(node) not in self.dead:
                for name in node.input:
                    self.consumers[name].append(node)
        self.outputs = {o.name for o in self.graph.output}

    def only_consumer(self, tensor: str, op_type: str) -> Any | None:
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == op_type and tensor not in self.outputs:
            return users[0]
        return None

    def scalar_operand(self, node: Any, tensor: str) -> float | None:
        """The scalar constant ``node`` combines ``tensor`` with, or None when the other input is not one."""
        others = [i for i in node.input if i != tensor]
        if len(others) != 1 or others[0] not in self.consts or self.consts[others[0]].size != 1:
            return None
        return float(self.consts[others[0]].ravel()[0])

    def set_const(self, name: str, value: np.ndarray) -> str:
        """A new float32 initializer holding ``value`` (float64, rounded here once); returns its name."""
        from onnx import numpy_helper

        new = f"{name}_fused{len(self.consts)}"
        value = value.astype(np.float32)
        self.graph.initializer.append(numpy_helper.from_array(value, new))
        self.consts[new] = value
        return new

    def affine_after(self, tensor: str) -> tuple[float, float, Any, Any] | None:
        """(a, b, mul, add) when ``tensor`` feeds only ``Mul`` by a scalar a whose output feeds only ``Add`` b."""
        mul = self.only_consumer(tensor, "Mul")
        a = self.scalar_operand(mul, tensor) if mul is not None else None
        add = self.only_consumer(mul.output[0], "Add") if a is not None else None
        b = self.scalar_operand(add, mul.output[0]) if add is not None else None
        return None if a is None or b is None else (a, b, mul, add)

    def finish(self) -> Any:
        kept = [n for n in self.nodes if id(n) not in self.dead]
        used = {i for n in kept for i in n.input} | self.outputs
        kept = [n for n in kept if n.op_type != "Constant" or n.output[0] in used]
        copies = [type(n)() for n in kept]
        for copy, node in zip(copies, kept):
            copy.CopyFrom(node)
        del self.graph.node[:]
        self.graph.node.extend(copies)
        inits = [i for i in self.graph.initializer if i.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(inits)
        return self.model


def _conv_weights(g: _Graph, conv: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if len(conv.input) < 2 or conv.input[1] not in g.consts:
        return None
    w = g.consts[conv.input[1]].astype(np.float64)  # (out, in / group, kh, kw)
    b = g.consts[conv.input[2]].astype(np.float64) if len(conv.input) > 2 and conv.input[2] in g.consts \
        else np.zeros(w.shape[0])  # (out,)
    return w, b


def _set_conv_weights(g: _Graph, conv: Any, w: np.ndarray, b: np.ndarray) -> None:
    conv.input[1] = g.set_const(conv.input[1], w)
    bias = g.set_const(conv.input[1] + "_bias", b)
    if len(conv.input) > 2:
        conv.input[2] = bias
    else:
        conv.input.append(bias)


def fold_affine_into_conv_before(g: _Graph) -> int:
    """Conv -> Mul a -> Add b  becomes  Conv with W' = aW, B' = aB + b. Returns how many were folded."""
    folded = 0
    for conv in g.nodes:
        if conv.op_type != "Conv" or id(conv) in g.dead or (wb := _conv_weights(g, conv)) is None:
            continue
        found = g.affine_after(conv.output[0])
        if found is None:
            continue
        a, b, mul, add = found
        w, bias = wb
        _set_conv_weights(g, conv, w * a, bias * a + b)
        conv.output[0] = add.output[0]
        g.dead |= {id(mul), id(add)}
        g._index()
        folded += 1
    return folded


def fuse_hard_swish(g: _Graph) -> int:
    """x -> Add 3 -> Clip 0, 6 -> Mul x -> Div 6  becomes  HardSwish(x). Returns how many were fused."""
    fused = 0
    for add in g.nodes:
        if add.op_type != "Add" or id(add) in g.dead:
            continue
        x = next((i for i in add.input if i not in g.consts), None)
        if x is None or g.scalar_operand(add, x) != 3.0:
            continue
        clip = g.only_consumer(add.output[0], "Clip")
        if clip is None or [float(g.consts[i].ravel()[0]) if i in g.consts else None
                            for i in clip.input[1:]] != [0.0, 6.0]:
            continue
        mul = g.only_consumer(clip.output[0], "Mul")
        if mul is None or set(mul.input) != {x, clip.output[0]}:
            continue
        div = g.only_consumer(mul.output[0], "Div")
        if div is None or div.input[0] != mul.output[0] or g.scalar_operand(div, mul.output[0]) != 6.0:
            continue
        div.op_type = "HardSwish"  # in the Div's place, so the nodes stay in topological order
        del div.input[:], div.attribute[:]
        div.input.append(x)
        g.dead |= {id(add), id(clip), id(mul)}
        g._index()
        fused += 1
    return fused


def fold_affine_into_conv_after(g: _Graph) -> int:
    """y -> Mul a -> Add b -> Conv (1x1, no padding, y's only use)  becomes  Conv with W' = aW, B' = B + b sum(W).
    Returns how many were folded."""
    from onnx import helper

    folded = 0
    for mul in g.nodes:
        if mul.op_type != "Mul" or id(mul) in g.dead:
            continue
        y = next((i for i in mul.input if i not in g.consts), None)
        if y is None or g.consumers.get(y) != [mul] or (found := g.affine_after(y)) is None:
            continue
        a, b, _, add = found
        conv = g.only_consumer(add.output[0], "Conv")
        if conv is None or (wb := _conv_weights(g, conv)) is None:
            continue
        attrs = {at.name: helper.get_attribute_value(at) for at in conv.attribute}
        w, bias = wb
        if w.shape[2:] != (1, 1) or any(attrs.get("pads", [0])) or attrs.get("auto_pad", b"NOTSET") != b"NOTSET":
            continue
        sums = np.array([math.fsum(row) for row in w.reshape(len(w), -1)])  # (out,) exactly rounded
        _set_conv_weights(g, conv, w * a, bias + b * sums)
        conv.input[0] = y
        g.dead |= {id(mul), id(add)}
        g._index()
        folded += 1
    return folded


def rewrite(model: Any) -> Any:
    """onnx.ModelProto of the PP-OCRv4 recogniser (opset 12) -> an equivalent one at OPSET with the learnable
    affines folded and the hard swishes fused (see the module's docstring)."""
    from onnx import checker, version_converter

    model = version_converter.convert_version(model, OPSET)
    g = _Graph(model)
    before = fold_affine_into_conv_before(g)
    swish = fuse_hard_swish(g)
    after = fold_affine_into_conv_after(g)
    model = g.finish()
    checker.check_model(model)
    log.info("OCR model rewritten: %d affines folded into the convolution before, %d after, %d hard swishes",
             before, after, swish)
    return model


def write_fused(source_dir: Path, names: tuple[str, ...], work: Path) -> Path:
    """Each model ``names`` of ``source_dir`` rewritten into ``work`` under the same name; returns ``work``."""
    import onnx

    for name in names:
        onnx.save(rewrite(onnx.load(str(source_dir / name))), str(work / name))
    return work


def fused_dir(cache_dir: Path, source_sha256: Mapping[str, str]) -> Path:
    """The cache folder of the fused models, named by the rewrite and the sources' digests."""
    sources = "".join(digest[:8] for digest in source_sha256.values())
    return cache_dir / "models" / f"ppocrv4-{RECIPE}-{sources}"


def fused_models(source_dir: Path, source_sha256: Mapping[str, str], fused_sha256: Mapping[str, str],
                 cache_dir: Path | None = None) -> Path:
    """The folder holding the fused models of ``source_dir`` (its files already checked against
    ``source_sha256``), built once into ``cache_dir`` and checked against ``fused_sha256``. Raises
    ``indexer.model_files.ModelFileError`` when a built file differs from its pin (another onnx version), and
    ImportError when it must be built and the onnx package is missing."""
    from indexer.model_files import build_once, default_cache_dir, is_built

    target = fused_dir(cache_dir or default_cache_dir(), source_sha256)
    if not is_built(target, fused_sha256):
        import onnx  # noqa: F401 - fail before a temporary folder is made

        log.info("fusing the OCR models' activations once into %s", target)
    return build_once(target, fused_sha256, lambda work: write_fused(source_dir, tuple(fused_sha256), work),
                      temp_prefix=".ppocrv4-fused-")
