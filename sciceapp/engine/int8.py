"""int8 dynamic quantisation of an fp32 export, with ONNX Runtime's own tool (no torch).

Weights of the matrix products are stored as int8 per output channel, activations quantised
on the fly. Used by the toolkit's export (``--precision int8``) and by the engine's tuning,
which makes an int8 copy of an fp32 model to measure it. ONNX Runtime's quantiser needs the
``onnx`` package; without it :func:`int8_problem` says so.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

INT8_OP_TYPES = ["MatMul", "Gemm"]


def int8_problem() -> str | None:
    """None when an int8 copy can be made here, else why not."""
    if importlib.util.find_spec("onnx") is None:
        return "making the int8 copy needs the onnx package (pip install onnx)"
    return None


def to_int8(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Write an int8 dynamically quantised copy of the fp32 ONNX file ``source`` to ``target``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    hint = _DropPreprocessingHint()
    root.addFilter(hint)
    try:
        quantize_dynamic(
            Path(source),
            Path(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=INT8_OP_TYPES,
        )
    finally:
        root.removeFilter(hint)


class _DropPreprocessingHint(logging.Filter):
    """ONNX Runtime logs a hint to pre-process (shape inference, graph optimisation) on every
    call. We skip that step: the exporter's graph is already optimised, the int8 model is
    checked against fp32 by cosine, and its speed is measured (benchmarks/RESULTS.md)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")
