"""A deep check of an ONNX model file: metadata, graph interface, and one real forward pass.

``sciceapp model info`` uses it; the engine's cheap ``read_model_info`` only reads metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciceapp.engine.onnx_model import ModelInfo
from sciceapp.errors import ModelError
from sciceapp.export import parity

NORM_TOLERANCE = 1e-2  # fp16/int8 descriptors are unit length only to about this


@dataclass(frozen=True)
class ModelCheck:
    """The metadata of a model file that passed every check, and what the checks saw."""

    info: ModelInfo
    input_shape: list
    output_shape: list
    descriptor_norm: float


def check_model_file(path: str | os.PathLike[str]) -> ModelCheck:
    """Read the metadata, open the graph, compare its interface to the metadata, run it once.

    ``ModelError`` (with the reason) for a missing, corrupt, foreign or tampered file.
    """
    from sciceapp.engine.manifests import read_info

    path = Path(path)
    info = read_info(path)
    try:
        session = parity.cpu_session(path, threads=1)
    except Exception as exc:  # onnxruntime raises untyped errors for broken graphs
        raise ModelError(f"{path.name} cannot be loaded by ONNX Runtime: {exc}") from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != ["images"] or [o.name for o in outputs] != ["descriptors"]:
        raise ModelError(
            f"{path.name} does not have one input 'images' and one output 'descriptors'; it "
            "was not exported by sciceapp or was altered afterwards."
        )
    size, dim = int(info.image_size), int(info.descriptor_dim)
    input_shape, output_shape = list(inputs[0].shape), list(outputs[0].shape)
    if input_shape[1:] != [3, size, size] or output_shape[1:] not in ([dim], [None]):
        raise ModelError(
            f"{path.name} says image size {size} and descriptor size {dim} in its metadata, "
            f"but its graph takes {input_shape} and gives {output_shape}: the file was altered."
        )
    images = parity.random_images(1, size, list(info.mean), list(info.std))
    try:
        result = session.run(["descriptors"], {"images": images})[0]
    except Exception as exc:
        raise ModelError(f"{path.name} fails when run: {exc}") from exc
    norm = float(np.linalg.norm(result[0]))
    if result.shape != (1, dim) or not np.isfinite(result).all() or abs(norm - 1) > NORM_TOLERANCE:
        raise ModelError(
            f"{path.name} gives descriptors of shape {result.shape} and length {norm:.3f} "
            f"instead of ({1}, {dim}) unit vectors: the file is damaged or altered."
        )
    return ModelCheck(
        info=info, input_shape=input_shape, output_shape=output_shape, descriptor_norm=norm
    )
