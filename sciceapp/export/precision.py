"""Smaller and faster variants of an fp32 export: fp16 weights and int8 dynamic quantisation.

fp16 uses the converter that ships inside ONNX Runtime (``onnxruntime.transformers.float16``,
the same code as onnxconverter-common, maintained with the runtime that executes the result),
so no extra dependency. The graph keeps float32 input and output (casts inside the graph), as
contract 1 requires. int8 is the engine's (``sciceapp.engine.int8``), which tuning uses too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sciceapp.engine.int8 import to_int8
from sciceapp.errors import ModelError
from sciceapp.export import parity

log = logging.getLogger(__name__)

# Floors below which a converted model is refused rather than shipped (cosine to fp32).
MIN_COSINE = {"fp16": 0.999, "int8": 0.99}


def to_fp16(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Write an fp16-weight copy of the fp32 ONNX file ``source`` to ``target``."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    converted = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    onnx.save(converted, str(target))


CONVERTERS = {"fp16": to_fp16, "int8": to_int8}


def convert_checked(precision: str, fp32_path: Path, target: Path, images, fp32_out) -> float:
    """Write the ``precision`` variant; its min cosine to fp32 on ``images``, checked."""
    CONVERTERS[precision](fp32_path, target)
    cosine = parity.compare(fp32_out, parity.run_onnx(target, images)).min_cosine
    if cosine < MIN_COSINE[precision]:
        raise ModelError(
            f"The {precision} model's descriptors agree with fp32 only to cosine {cosine:.5f} "
            f"(< {MIN_COSINE[precision]}); export with --precision fp32 instead."
        )
    return cosine
