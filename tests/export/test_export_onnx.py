"""Export of the student to ONNX: parity with PyTorch, metadata, weights, refusals, atomicity."""

from __future__ import annotations

import errno
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from sciceapp import model
from sciceapp.engine.download import sha256_file
from sciceapp.errors import ModelError, WeightsMissingError
from sciceapp.export import export_onnx, torch_to_onnx
from sciceapp.export.metadata import KEYS, read_metadata
from sciceapp.export.onnx_export import OPSET
from sciceapp.export.parity import compare, random_images, run_onnx
from sciceapp.model import get_config

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def torch_descriptors(network: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return network(torch.from_numpy(images)).numpy()


def test_tiny_export_matches_pytorch_at_any_batch_size(tiny_onnx_model: Path):
    network = model.build("tiny", seed=0)
    images = random_images(5, 224, MEAN, STD, seed=7)  # not the images the export checked
    for batch_size in (1, 2, 5):
        onnx_out = run_onnx(tiny_onnx_model, images, batch_size=batch_size)
        agreement = compare(torch_descriptors(network, images), onnx_out)
        assert agreement.max_abs_diff <= 1e-4
        assert agreement.min_cosine >= 0.99999
    assert np.allclose(np.linalg.norm(onnx_out, axis=1), 1, atol=1e-5)


def test_tiny_export_has_the_interface_and_metadata_of_contract_1(tiny_onnx_model: Path):
    proto = onnx.load(str(tiny_onnx_model))
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [o.name for o in proto.graph.output] == ["descriptors"]
    dims = [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, 224, 224] and isinstance(dims[0], str)  # static S, dynamic batch
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) == OPSET
    # Position embeddings are baked: no resampling left in the graph.
    assert not {"Resize", "Upsample"} & {node.op_type for node in proto.graph.node}

    meta = read_metadata(tiny_onnx_model)
    assert set(meta) == set(KEYS) | {"sciceapp.seed"}  # random weights: their seed too
    assert meta["sciceapp.format"] == "1"
    assert meta["sciceapp.variant"] == "tiny"
    assert meta["sciceapp.label"] == "tiny SciceVPR"
    assert json.loads(meta["sciceapp.config"]) == model.get_config("tiny").to_dict()
    assert meta["sciceapp.descriptor_dim"] == "1344"
    assert meta["sciceapp.image_size"] == "224"
    assert json.loads(meta["sciceapp.mean"]) == MEAN
    assert json.loads(meta["sciceapp.std"]) == STD
    assert meta["sciceapp.random_init"] == "true"
    assert meta["sciceapp.precision"] == "fp32"
    assert json.loads(meta["sciceapp.weights_sha256"]) == {}
    assert meta["sciceapp.exporter"] == f"sciceapp 0.1.0, torch {torch.__version__}"


@pytest.mark.parametrize(
    ("preset", "flag"), [("tiny", "--checkpoint"), ("dinov2-gem-b", "--backbone-weights")]
)
def test_export_without_weights_is_refused(tmp_path: Path, preset: str, flag: str):
    output = tmp_path / "m.onnx"
    with pytest.raises(WeightsMissingError, match=flag) as caught:
        export_onnx(output, preset=preset)
    assert "--random-init" in str(caught.value)
    assert not output.exists()


def test_backbone_alone_does_not_make_a_scicevpr_model_real(tmp_path: Path):
    backbone = tmp_path / "dinov2_tiny_pretrain.pth"
    torch.save(model.build("tiny", seed=3).backbone.dino_model.state_dict(), backbone)
    with pytest.raises(WeightsMissingError, match="--checkpoint"):
        export_onnx(tmp_path / "m.onnx", preset="tiny", backbone_weights=backbone)


def test_export_from_an_authors_checkpoint_uses_its_weights(tmp_path: Path):
    trained = model.build("tiny", seed=1)
    checkpoint = tmp_path / "authors_best_model.pth"
    state = {f"module.{k}": v for k, v in trained.state_dict().items()}
    torch.save({"model_state_dict": state, "epoch_num": 3, "recalls": [90.0]}, checkpoint)

    report = export_onnx(tmp_path / "m.onnx", preset="tiny", checkpoint=checkpoint, seed=0)

    images = random_images(2, 224, MEAN, STD, seed=11)
    expected = torch_descriptors(trained, images)
    assert compare(expected, run_onnx(report.output, images)).max_abs_diff <= 1e-4
    meta = read_metadata(report.output)
    assert meta["sciceapp.random_init"] == "false"
    assert json.loads(meta["sciceapp.weights_sha256"]) == {checkpoint.name: sha256_file(checkpoint)}


def test_training_free_baseline_exports_from_backbone_weights(tmp_path: Path):
    config = {
        "architecture": "dinov2-gem",
        "backbone": {"embed_dim": 96, "depth": 4, "num_heads": 6},
        "fused_layers": [3],
        "fusion_dim": 96,
        "token_mixers": 0,
        "encoder_layers": 0,
        "teacher_encoder_layers": 0,
        "encoder_heads": 0,
        "encoder_ff_dim": 0,
    }
    config_file = tmp_path / "gem.json"
    config_file.write_text(json.dumps(config))
    source = model.build(config, seed=5)
    backbone = tmp_path / "dinov2_small_pretrain.pth"
    torch.save(source.backbone.dino_model.state_dict(), backbone)

    report = export_onnx(tmp_path / "gem.onnx", config=config_file, backbone_weights=backbone)

    meta = read_metadata(report.output)
    assert meta["sciceapp.label"] == "training-free baseline"
    assert meta["sciceapp.variant"] == "custom"
    assert meta["sciceapp.random_init"] == "false"
    assert meta["sciceapp.descriptor_dim"] == str(14 * 96)
    assert json.loads(meta["sciceapp.weights_sha256"]) == {backbone.name: sha256_file(backbone)}
    images = random_images(2, 224, MEAN, STD, seed=13)
    assert compare(
        torch_descriptors(source, images), run_onnx(report.output, images)
    ).min_cosine > (0.99999)


def test_fp16_export_keeps_float32_io_and_reports_cosine(tmp_path: Path, tiny_onnx_model: Path):
    report = export_onnx(
        tmp_path / "h.onnx", preset="tiny", random_init=True, seed=0, precision="fp16"
    )

    assert 0.999 <= report.precision_cosine < 1.0  # converted, and close to fp32
    assert report.size_bytes < 0.7 * tiny_onnx_model.stat().st_size
    proto = onnx.load(str(report.output))
    float32 = onnx.TensorProto.FLOAT
    assert proto.graph.input[0].type.tensor_type.elem_type == float32
    assert proto.graph.output[0].type.tensor_type.elem_type == float32
    assert read_metadata(report.output)["sciceapp.precision"] == "fp16"
    images = random_images(3, 224, MEAN, STD, seed=17)
    fp32_out = run_onnx(tiny_onnx_model, images)
    assert compare(fp32_out, run_onnx(report.output, images)).min_cosine >= 0.999


def test_failed_export_leaves_the_old_file_untouched(tmp_path: Path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    output = folder / "m.onnx"
    output.write_bytes(b"the model that was there before")
    killed = folder / ".sciceapp-export-999999999-x1"  # no such process: a killed export's
    killed.mkdir()
    (killed / "fp32.onnx").write_bytes(b"left behind")
    running = folder / f".sciceapp-export-{os.getpid()}-y2"  # a live export's: kept
    running.mkdir()

    def disk_fills_up(network, path, image_size, opset):
        path.write_bytes(b"half an onnx file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch_to_onnx, "torch_export", disk_fills_up)
    with pytest.raises(ModelError, match="disk"):
        export_onnx(output, preset="tiny", random_init=True)
    assert output.read_bytes() == b"the model that was there before"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["m.onnx", running.name])


def test_parity_check_catches_a_graph_of_other_weights(tiny_onnx_model: Path):
    images = random_images(3, 224, MEAN, STD)
    other = model.build("tiny", seed=99)
    with pytest.raises(ModelError, match="disagrees with PyTorch"):
        torch_to_onnx.verify_against_torch(other, tiny_onnx_model, images)


def test_every_attention_is_one_fused_node(tiny_onnx_model: Path):
    """ONNX Runtime's fast attention kernels need the ``Attention`` op, not its spelled-out
    MatMul-Softmax-MatMul (1.46x in fp16 on an H100, benchmarks/RESULTS.md)."""
    config = get_config("tiny")
    ops = Counter(node.op_type for node in onnx.load(str(tiny_onnx_model)).graph.node)
    # One per ViT block and one per layer of the student's self-enhanced encoder.
    assert ops["Attention"] == config.backbone.depth + config.encoder_layers
    assert ops["Softmax"] == 0
    assert ops["Gelu"] >= config.backbone.depth and ops["Erf"] == 0
