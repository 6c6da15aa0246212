"""The ONNX graph built with onnx's API computes what the PyTorch network computes."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from sciceapp.export.onnx_graph import build_model
from sciceapp.model import build, get_config

SMALL = {"embed_dim": 96, "depth": 3, "num_heads": 6}
GEM = {"architecture": "dinov2-gem", "fused_layers": [2], "fusion_dim": 96, "token_mixers": 0,
       "encoder_layers": 0, "teacher_encoder_layers": 0, "encoder_heads": 0,
       "encoder_ff_dim": 0}  # fmt: skip


@pytest.mark.parametrize(
    "config",
    [
        {**GEM, "backbone": SMALL},
        {**GEM, "backbone": {**SMALL, "num_register_tokens": 4}},
        {**GEM, "backbone": {**SMALL, "ffn": "swiglu"}},
        {**GEM, "backbone": SMALL, "fused_layers": [0, 2], "fusion_dim": 192},
        "tiny",
    ],
    ids=["gem", "registers", "swiglu", "two-layers", "scicevpr-student"],
)
def test_graph_equals_the_pytorch_network(config):
    network = build(config, seed=1)
    with torch.no_grad():  # trained-looking LayerNorm / LayerScale / GeM values
        for name, param in network.named_parameters():
            if "gamma" in name or "norm" in name:
                param.add_(0.1 * torch.randn_like(param))
            if name == "gem.p" and param.requires_grad:
                param.fill_(2.7)
    state = {k: v.numpy() for k, v in network.state_dict().items()}
    model = build_model(get_config(config), state)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = network(torch.from_numpy(images)).numpy()
    for batch in (images, images[:1]):  # the batch axis is dynamic
        got = session.run(["descriptors"], {"images": batch})[0]
        assert got.shape == (len(batch), network.descriptor_dim)
        assert np.abs(got - expected[: len(batch)]).max() < 1e-5


def test_graph_nodes_are_named_so_converters_can_derive_names(tmp_path):
    # Unnamed nodes made ONNX Runtime 1.23's fp16 converter emit duplicate cast names
    # ("Duplicate definition of name (_output_cast_0)"): found by the lowest-versions check.
    import onnx

    from sciceapp.export.precision import to_fp16

    config = {**GEM, "backbone": {**SMALL, "depth": 1}, "fused_layers": [0]}
    network = build(config, seed=2)
    model = build_model(get_config(config), {k: v.numpy() for k, v in network.state_dict().items()})
    names = [node.name for node in model.graph.node]
    assert all(names) and len(set(names)) == len(names)
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    to_fp16(tmp_path / "fp32.onnx", tmp_path / "fp16.onnx")
    session = ort.InferenceSession(str(tmp_path / "fp16.onnx"), providers=["CPUExecutionProvider"])
    images = np.zeros((1, 3, 224, 224), np.float32)
    assert session.run(["descriptors"], {"images": images})[0].shape == (1, network.descriptor_dim)
