"""Smaller and faster variants of an fp32 export: fp16 weights and int8 dynamic quantisation.

fp16 uses the converter that ships inside ONNX Runtime (``onnxruntime.transformers.float16``,
the same code as onnxconverter-common, maintained with the runtime that executes the result),
so no extra dependency. The graph keeps float32 input and output (casts inside the graph), as
contract 1 requires. int8 uses ONNX Runtime's own dynamic quantisation: weights of the matrix
products stored as int8 per output channel, activations quantised on the fly.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# Floors below which a converted model is refused rather than shipped (cosine to fp32).
MIN_COSINE = {"fp16": 0.999, "int8": 0.99}
INT8_OP_TYPES = ["MatMul", "Gemm"]


def to_fp16(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Write an fp16-weight copy of the fp32 ONNX file ``source`` to ``target``."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    converted = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    onnx.save(converted, str(target))


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


CONVERTERS = {"fp16": to_fp16, "int8": to_int8}
