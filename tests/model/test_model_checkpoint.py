"""Checkpoints: official DINOv2 files, the authors' files, our own format, and bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from model_support import official_dinov2_state

import sciceapp.model.saving as saving_module
from sciceapp.errors import ModelError, WeightsMissingError
from sciceapp.model import build, build_from_checkpoint, load_checkpoint, save_checkpoint
from sciceapp.model.checkpoint import file_sha256


def _authors_file(path: Path, network: torch.nn.Module) -> Path:
    """What the authors' training code writes: DataParallel keys plus bookkeeping."""
    state = {f"module.{key}": value.clone() for key, value in network.state_dict().items()}
    torch.save({"epoch_num": 4, "model_state_dict": state, "best_r5": 97.1}, path)
    return path


def test_official_dinov2_file_loads_the_backbone_only(tmp_path):
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    state = official_dinov2_state(width=96, depth=12, seed=1)
    torch.save(state, path)
    network = build("tiny", seed=0)
    conv_before = network.conv.weight.clone()
    report = load_checkpoint(network, path)
    assert report.kind == "dinov2-backbone" and report.parts == ["backbone"]
    assert report.sha256 == file_sha256(path) and len(report.loaded_keys) == len(state)
    assert torch.equal(network.backbone.dino_model.pos_embed, state["pos_embed"])
    assert torch.equal(network.backbone.dino_model.blocks[7].ls2.gamma, state["blocks.7.ls2.gamma"])
    assert torch.equal(network.conv.weight, conv_before)
    assert network.load_reports == [report]


def test_a_safetensors_backbone_loads_like_the_pth(tmp_path):
    # The Models dialog offers *.safetensors files: the toolkit's loader reads them too.
    from safetensors.torch import save_file

    state = official_dinov2_state(width=96, depth=12, seed=4)
    save_file(state, str(tmp_path / "dinov2_vits14_pretrain.safetensors"))
    network = build("tiny", seed=0)
    report = load_checkpoint(network, tmp_path / "dinov2_vits14_pretrain.safetensors")
    assert report.kind == "dinov2-backbone" and len(report.loaded_keys) == len(state)
    assert torch.equal(network.backbone.dino_model.pos_embed, state["pos_embed"])


def test_official_file_of_another_width_names_keys_and_cause(tmp_path):
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(official_dinov2_state(width=48, depth=14), path)
    network = build("tiny")
    before = network.backbone.dino_model.pos_embed.clone()
    with pytest.raises(ModelError) as err:
        load_checkpoint(network, path)
    text = str(err.value)
    assert "unexpected keys" in text and "blocks.12." in text and "another shape" in text
    assert "48 wide" in text and "wrong preset" in text and "14 backbone blocks" in text
    assert torch.equal(network.backbone.dino_model.pos_embed, before)  # nothing half-loaded


def test_authors_student_checkpoint_loads_strictly(tmp_path, images):
    source = build("tiny", seed=3)
    path = _authors_file(tmp_path / "best_model.pth", source)
    network = build("tiny", seed=4)
    report = load_checkpoint(network, path)
    assert report.kind == "authors" and report.extra["epoch_num"] == 4
    assert report.parts == ["backbone", "conv", "encoder", "gem", "tokenmix"]
    with torch.no_grad():
        assert torch.equal(network(images[:2]), source(images[:2]))


def test_authors_teacher_into_teacher_and_parts_into_student(tmp_path):
    teacher = build("tiny", teacher=True, seed=3)
    path = _authors_file(tmp_path / "super_cricavpr.pth", teacher)
    assert load_checkpoint(build("tiny", teacher=True), path).kind == "authors"
    student = build("tiny")
    with pytest.raises(ModelError) as err:
        load_checkpoint(student, path)
    assert "unexpected keys (encoder.layers.1." in str(err.value)
    assert "teacher (Super-CricaVPR) checkpoint loaded into a student" in str(err.value)
    report = load_checkpoint(student, path, parts=("backbone", "conv"))
    assert report.parts == ["backbone", "conv"] and report.skipped_keys
    assert torch.equal(student.conv.weight, teacher.conv.weight)


def test_missing_keys_are_named_with_counts(tmp_path):
    state = {f"module.{k}": v for k, v in build("tiny").state_dict().items()}
    for key in [k for k in state if ".tokenmix.1." in k]:
        del state[key]
    path = tmp_path / "cut.pth"
    torch.save({"model_state_dict": state}, path)
    with pytest.raises(ModelError, match=r"6 missing keys \(tokenmix\.1\.") as err:
        load_checkpoint(build("tiny"), path)
    assert "token_mixers" in str(err.value)


def test_our_checkpoint_round_trip_for_a_custom_width(tmp_path, images):
    config = {
        "backbone": {"embed_dim": 96, "depth": 12, "num_heads": 6},
        "fusion_dim": 96,
        "encoder_heads": 6,
        "encoder_ff_dim": 192,
    }
    network = build(config, seed=9)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    path = save_checkpoint(
        tmp_path / "ckpt" / "last.pth",
        network,
        epoch=2,
        best_recall_at_5=88.5,
        optimizer_state_dict=optimizer.state_dict(),
    )
    assert [p.name for p in path.parent.iterdir()] == ["last.pth"]  # no temp file left
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "sciceapp-checkpoint/1" and raw["teacher"] is False
    assert not any(key.startswith("module.") for key in raw["model_state_dict"])
    again = build_from_checkpoint(path)
    assert again.config == network.config
    report = again.load_reports[0]
    assert report.kind == "sciceapp" and report.extra["epoch"] == 2
    with torch.no_grad():
        assert torch.equal(again(images[:2]), network(images[:2]))


def test_our_checkpoint_refuses_another_config_or_kind(tmp_path):
    path = save_checkpoint(tmp_path / "tiny.pth", build("tiny"))
    with pytest.raises(ModelError, match="different network configuration"):
        load_checkpoint(
            build(
                {
                    "backbone": {"embed_dim": 96, "num_heads": 6},
                    "fusion_dim": 48,
                    "encoder_heads": 4,
                }
            ),
            path,
        )
    with pytest.raises(ModelError, match="holds a student, but the network is a teacher"):
        load_checkpoint(build("tiny", teacher=True), path)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"model_state_dict": {}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(
        ModelError, match="evil.pth holds code or objects other than tensors, refused for safety"
    ) as refused:
        load_checkpoint(build("tiny"), path)
    assert "weights_only" not in str(refused.value)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # proof that the file really carries code
    assert marker.exists()


class _CallsSystem:
    def __reduce__(self):
        return (os.system, ("true",))


def test_a_refused_pickle_is_never_called_corrupt_nor_repeats_torchs_hint(tmp_path):
    # Issue 11, item 18: torch reports a REDUCE of os.system as a generic weights-only failure
    # whose text says to set weights_only=False; that was shown to the user as "corrupt".
    path = tmp_path / "hostile.pth"
    torch.save({"model_state_dict": {}, "payload": _CallsSystem()}, path)
    with pytest.raises(ModelError) as refused:
        load_checkpoint(build("tiny"), path)
    message = str(refused.value)
    assert "holds code or objects other than tensors, refused for safety" in message
    assert "weights_only" not in message and "corrupt" not in message


def test_corrupt_truncated_foreign_and_missing_files(tmp_path):
    network = build("tiny")
    good = save_checkpoint(tmp_path / "good.pth", network)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights")
    other = tmp_path / "other.pth"
    torch.save({"weights": [1, 2, 3]}, other)
    for path, words in [
        (truncated, "not a readable PyTorch checkpoint"),
        (text, "not a readable PyTorch checkpoint"),
        (other, "not a SciceVPR, Super-CricaVPR or DINOv2 checkpoint"),
    ]:
        with pytest.raises(ModelError, match=words):
            load_checkpoint(network, path)
    with pytest.raises(WeightsMissingError, match="does not exist"):
        load_checkpoint(network, tmp_path / "absent.pth")
    with pytest.raises(ModelError, match="not a sciceapp checkpoint"):
        build_from_checkpoint(other)


def test_tampered_values_and_hash_are_caught(tmp_path):
    network = build("tiny")
    state = {k: v.clone() for k, v in network.state_dict().items()}
    state["conv.weight"][0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save({"model_state_dict": state}, path)
    with pytest.raises(ModelError, match="NaN or infinite"):
        load_checkpoint(network, path)
    good = save_checkpoint(tmp_path / "good.pth", network)
    with pytest.raises(ModelError, match="expected 0000"):
        load_checkpoint(network, good, expected_sha256="0000")


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    network = build("tiny", seed=0)
    path = save_checkpoint(tmp_path / "runs" / "last.pth", network, epoch=1)
    before = path.read_bytes()

    def no_space(obj, stream):
        stream.write(b"partial")
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(saving_module.torch, "save", no_space)
    with pytest.raises(ModelError, match="Free some disk space"):
        save_checkpoint(path, network, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["last.pth"]


def test_extra_entries_must_load_back_safely(tmp_path):
    with pytest.raises(ValueError, match="weights_only"):
        save_checkpoint(tmp_path / "x.pth", build("tiny"), args=object())


def test_build_is_the_function_whichever_name_is_used_first():
    """``sciceapp.model`` resolves its names lazily; importing the checkpoint module (as
    ``model.save_checkpoint`` does) imports ``sciceapp.model.build``, and the import system
    then binds that module to the package's ``build``, where the function must stay."""
    script = (
        "import sciceapp.model as model\n"
        "model.save_checkpoint\n"
        "assert callable(model.build), model.build\n"
        "import sciceapp.model.build\n"
        "assert callable(model.build), model.build\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
