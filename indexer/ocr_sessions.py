"""The onnxruntime side of OCR: which provider runs the models, and the sessions RapidOCR built rebuilt the way
scenedex runs them (idle threads not spinning on the CPU, cuDNN's heuristic search on CUDA).

``indexer.ocr.load_ocr_engine`` is the caller; nothing here knows the models or what they read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def quiet_sessions(wrapper: Any, threads: int) -> None:
    """Rebuild the onnxruntime session inside one of RapidOCR's wrappers with its threads not spinning.

    By default onnxruntime's idle threads spin for the next run; on 2 shared cores, with decoding and speech
    in threads of their own, that burns the cores the others need. Measured on credit lines under load 14
    (ms of CPU / wall a line): 2 threads spinning 166 / 507, 2 threads not spinning 101 / 319, 1 thread 87-95.
    """
    import onnxruntime

    old = wrapper.session
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    options.enable_cpu_mem_arena = False
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    model = old._model_path if hasattr(old, "_model_path") else None
    assert model, "RapidOCR's session does not say which model it loaded"
    wrapper.session = onnxruntime.InferenceSession(model, sess_options=options,
                                                   providers=with_cuda_options(old.get_providers()))


def with_cuda_options(providers: Sequence[str]) -> list[Any]:
    """onnxruntime providers with the CUDA provider's cuDNN algorithm search made HEURISTIC.

    Every text line has its own width, and onnxruntime's CUDA convolutions set themselves up again whenever the
    input's shape differs from the call before (measured on an H200, onnxruntime-gpu 1.31.1, recogniser, one
    800 px line 1.7 ms; a call whose width differs from the last ~42 ms heuristic, ~430 ms exhaustive, the
    provider's default search, even for widths seen before; the default algorithm without search 87 ms).

    >>> with_cuda_options(["CUDAExecutionProvider", "CPUExecutionProvider"])[0]
    ('CUDAExecutionProvider', {'cudnn_conv_algo_search': 'HEURISTIC'})
    >>> with_cuda_options(["CPUExecutionProvider"])
    ['CPUExecutionProvider']
    """
    return [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}) if p == "CUDAExecutionProvider"
            else p for p in providers]


def ocr_providers(device: str, available: Sequence[str] | None = None) -> tuple[bool, str]:
    """(use CUDA, the provider that will run) for ``device`` "auto", "cpu" or "cuda", given onnxruntime's
    ``available`` providers (default: the installed onnxruntime's).

    "auto" is the CPU even where onnxruntime-gpu is installed: OCR reads each line at its own width and each
    change of input shape costs onnxruntime's CUDA convolutions ~40-60 ms of set-up (``with_cuda_options``),
    so on an H200 the credits excerpt's OCR took 33.0 s on CUDA against 16.1 s on that machine's CPU
    (``bench/ocr_cpu.py --device``; widths rounded up to 256 px: 25.7 s, and 21 fewer spans). "cuda" is
    there to measure it.

    >>> ocr_providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    (False, 'CPUExecutionProvider')
    >>> ocr_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    (True, 'CUDAExecutionProvider')
    """
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    cuda = "CUDAExecutionProvider" in available and device == "cuda"
    if device == "cuda" and not cuda:
        log.warning("OCR on CUDA asked for, but onnxruntime has no CUDA provider (%s): using the CPU", available)
    return cuda, "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"
