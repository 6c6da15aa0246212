"""`sciceapp train teacher`, `train student` and `eval` end to end on the synthetic data."""

from __future__ import annotations

import json

import pytest
import torch
from training_support import small_config

from sciceapp.cli import main


def _run(capsys, *argv: str) -> str:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny-test.json"
    path.write_text(json.dumps(small_config()))
    return path


def test_train_both_stages_then_eval_and_export(capsys, tmp_path, gsv_root, vpr_root, config_file):
    quick = "--places-per-batch 8 --max-steps 3 --num-workers 0 --device cpu --lr 1e-3"
    data = ("--dataset-root", gsv_root, "--val-dataset-root", vpr_root, "--val-dataset", "synth")
    common = (*data, *quick.split())
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    teacher = ("train", "teacher", "--config", config_file, "--output-dir", teacher_dir)
    out = _run(capsys, *teacher, "--random-init", *common)
    assert "random backbone weights" in out
    assert (teacher_dir / "best.pth").is_file() and (teacher_dir / "last.pth").is_file()
    assert "validation R@1=" in (teacher_dir / "train.log").read_text()

    student = ("train", "student", "--teacher", teacher_dir / "best.pth")
    _run(capsys, *student, "--output-dir", student_dir, *common)
    student = torch.load(student_dir / "best.pth", weights_only=True)
    assert student["teacher"] is False and student["random_init"] is True
    assert student["config"]["image_size"] == 112

    def evaluate(*argv):
        return _run(capsys, "eval", *argv, "--dataset-root", vpr_root, "--dataset", "synth")

    report = tmp_path / "eval.json"
    out = evaluate("--model", student_dir / "best.pth", "--batch-size", 7, "--json", report)
    assert "R@1" in out and "demo, not accurate" in out
    result = json.loads(report.read_text())
    assert set(result["recalls"]) == {"1", "5", "10", "20"}
    assert result["database_images"] == 48 and result["query_images"] == 24
    assert result["extraction_s"] > 0
    first = result["queries"][0]
    assert first["query"].endswith(".jpg") and len(first["top"]) == 20

    # the student's best.pth goes straight into `sciceapp model export`
    onnx_path = tmp_path / "student.onnx"
    # no --preset/--config: our checkpoints record their network
    export = ("model", "export", "--output", onnx_path)
    _run(capsys, *export, "--checkpoint", student_dir / "best.pth")
    from sciceapp.engine.onnx_model import read_model_info

    info = read_model_info(onnx_path)
    # trained on a random backbone: still labelled a demo model
    assert info.random_init and "demo, not accurate" in info.display_name
    assert info.config["image_size"] == 112
    onnx_report = tmp_path / "eval-onnx.json"
    evaluate("--model", onnx_path, "--json", onnx_report)
    onnx_result = json.loads(onnx_report.read_text())
    assert onnx_result["query_images"] == 24
    # same network, other runtime and image loader: nearly the same ranking
    pairs = zip(result["queries"], onnx_result["queries"], strict=True)
    assert sum(a["top"][0] == b["top"][0] for a, b in pairs) >= 20

    models = (teacher_dir / "best.pth", student_dir / "best.pth")
    out = evaluate("--batch-stability", "--model", *models, "--stability-batch-sizes", 1, 6)
    assert "teacher/best: Recall@1 moves by" in out
    assert "student/best: Recall@1 moves by 0.00 points" in out


def test_eval_with_pca(capsys, tmp_path, vpr_root, trained_teacher):
    report = tmp_path / "pca.json"
    _run(
        capsys,
        "eval",
        "--model",
        trained_teacher.report.best_path,
        "--dataset-root",
        vpr_root,
        "--dataset",
        "synth",
        "--recall-values",
        1,
        5,
        "--pca-dim",
        16,
        "--pca-folder",
        vpr_root / "synth" / "images" / "val",
        "--json",
        report,
    )
    result = json.loads(report.read_text())
    assert set(result["recalls"]) == {"1", "5"} and result["pca_dim"] == 16
    assert result["descriptor_dim"] == 16


def _fails(capsys, *argv: object) -> str:
    """Run a command that must fail as a user error (exit 2); return its message."""
    assert main([str(a) for a in argv]) == 2
    return capsys.readouterr().err


def test_bad_input_gives_clear_errors(capsys, tmp_path, gsv_root, vpr_root):
    missing = tmp_path / "none.pth"
    eval_args = ("eval", "--model", missing, "--dataset", "synth", "--dataset-root")
    assert "does not exist" in _fails(capsys, *eval_args, vpr_root)
    assert "check --dataset-root" in _fails(capsys, *eval_args, tmp_path)
    train_args = ("train", "teacher", "--random-init", "--output-dir", tmp_path / "o")
    assert "nope" in _fails(capsys, *train_args, "--dataset-root", gsv_root, "--preset", "nope")
    err = _fails(capsys, *train_args, "--dataset-root", tmp_path)
    assert "Dataframes" in err


def test_eval_json_that_cannot_be_written_is_a_clear_error(
    capsys, tmp_path, vpr_root, tiny_onnx_model
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = _fails(capsys, "eval", "--model", tiny_onnx_model, "--dataset-root", vpr_root,
                 "--dataset", "synth", "--json", blocker / "out.json")  # fmt: skip
    assert f"Cannot write {blocker / 'out.json'}" in err
