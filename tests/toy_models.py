"""Small ONNX models with the app's interface and metadata, built at test time (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

TOY_SIZE = 32
TOY_GRID = 4
TOY_DIM = 3 * TOY_GRID * TOY_GRID


def toy_metadata(**overrides: str) -> dict[str, str]:
    meta = {
        "sciceapp.format": "1",
        "sciceapp.variant": "toy",
        "sciceapp.label": "Toy pooling model",
        "sciceapp.config": json.dumps({"grid": TOY_GRID}),
        "sciceapp.descriptor_dim": str(TOY_DIM),
        "sciceapp.image_size": str(TOY_SIZE),
        "sciceapp.mean": json.dumps([0.485, 0.456, 0.406]),
        "sciceapp.std": json.dumps([0.229, 0.224, 0.225]),
        "sciceapp.random_init": "true",
        "sciceapp.precision": "fp32",
        "sciceapp.weights_sha256": json.dumps({}),
        "sciceapp.exporter": "tests/toy_models.py",
    }
    meta.update(overrides)
    return {k: v for k, v in meta.items() if v is not None}


def build_toy_model(
    path: Path, metadata: dict[str, str] | None = None, dim_out: int = TOY_DIM
) -> Path:
    """``images [B,3,32,32] -> descriptors [B,48]``: 8x8 average pool, flatten, L2-normalise."""
    from onnx import helper

    kernel = TOY_SIZE // TOY_GRID
    nodes = [
        helper.make_node(
            "AveragePool",
            ["images"],
            ["pooled"],
            kernel_shape=[kernel, kernel],
            strides=[kernel, kernel],
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("LpNormalization", ["flat"], ["descriptors"], axis=1, p=2),
    ]
    return save_model(path, nodes, TOY_SIZE, dim_out, metadata)


def save_model(
    path: Path,
    nodes: list,
    size: int,
    dim: int,
    metadata: dict[str, str] | None = None,
    initializer: list | None = None,
    **save_options: object,
) -> Path:
    """A model of ``nodes`` with the app's interface (``images [B,3,size,size] ->
    descriptors [B,dim]``) and ``metadata`` (default: the toy's), saved to ``path``;
    ``save_options`` go to ``onnx.save`` (external data)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "toy",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["B", 3, size, size])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["B", dim])],
        initializer=initializer or [],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata if metadata is not None else toy_metadata()).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path), **save_options)
    return path
