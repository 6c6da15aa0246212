"""`sciceapp model export|info|list|import` as a user (or the GUI's subprocess) runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from sciceapp import model
from sciceapp.cli import main
from sciceapp.engine.download import sha256_file


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_export_int8_from_our_checkpoint_with_json_progress(tmp_path: Path, capsys):
    checkpoint = model.save_checkpoint(tmp_path / "trained.pt", model.build("tiny", seed=2))
    output = tmp_path / "tiny-int8.onnx"

    code, out, err = run_cli(
        capsys, "model", "export", "--preset", "tiny", "--checkpoint", str(checkpoint),
        "--precision", "int8", "--output", str(output), "--json",
    )  # fmt: skip

    assert code == 0, err
    events = json_lines(out)
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["done"] for e in progress] == sorted(e["done"] for e in progress)
    assert progress[-1]["done"] == progress[-1]["total"]
    assert {e["total"] for e in progress} == {progress[-1]["total"]}
    assert any("int8" in e["message"] for e in progress)
    done = events[-1]
    assert done["event"] == "done"
    assert done["precision"] == "int8"
    assert 0.99 <= done["precision_cosine"] < 1.0  # quantised, and close to fp32
    assert done["min_cosine"] >= 0.99999 and done["max_abs_diff"] <= 1e-4
    assert done["random_init"] is False
    assert done["weights_sha256"] == {checkpoint.name: sha256_file(checkpoint)}
    assert done["sha256"] == sha256_file(output)

    code, out, err = run_cli(capsys, "model", "info", str(output), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert (info["precision"], info["random_init"], info["descriptor_dim"]) == ("int8", False, 1344)


def test_json_output_stays_json_lines_when_the_exporter_prints(tmp_path, capsys, monkeypatch):
    """onnxscript 0.5 (the toolkit's lowest) prints "Applied N of general pattern rewrite
    rules." to stdout inside torch.onnx.export; stdout is the JSON stream the GUI reads."""
    import torch

    real_export = torch.onnx.export

    def chatty_export(*args, **kwargs):
        print("Applied 35 of general pattern rewrite rules.")
        return real_export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", chatty_export)
    code, out, err = run_cli(
        capsys, "model", "export", "--preset", "tiny", "--random-init",
        "--output", str(tmp_path / "tiny.onnx"), "--json",
    )  # fmt: skip
    assert code == 0, err
    events = json_lines(out)
    assert events[-1]["event"] == "done"
    assert "rewrite rules" not in err  # nor on the terminal: it goes to the debug log


def test_export_at_an_older_opset_for_older_runtimes(tmp_path: Path, capsys):
    output = tmp_path / "tiny-18.onnx"
    code, out, err = run_cli(
        capsys, "model", "export", "--preset", "tiny", "--random-init", "--opset", "18",
        "--output", str(output), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json_lines(out)[-1]["min_cosine"] >= 0.99999  # the parity check ran on it too
    proto = onnx.load(str(output))
    assert [op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")] == [18]
    ops = {node.op_type for node in proto.graph.node}
    assert "Attention" not in ops and "Softmax" in ops  # attention spelled out

    with pytest.raises(SystemExit) as exit_info:
        main(["model", "export", "--preset", "tiny", "--random-init", "--opset", "17",
              "--output", str(output)])  # fmt: skip
    assert exit_info.value.code == 2 and "--opset" in capsys.readouterr().err


def test_export_without_weights_fails_with_what_to_add(tmp_path: Path, capsys):
    output = tmp_path / "m.onnx"
    code, out, err = run_cli(
        capsys, "model", "export", "--preset", "tiny", "--output", str(output), "--json"
    )
    assert code == 2
    assert "--random-init" in err and "Traceback" not in err
    assert json_lines(out)[-1]["event"] == "error"
    assert json_lines(out)[-1]["kind"] == "WeightsMissingError"
    assert not output.exists()


def test_info_shows_a_random_weight_model_as_a_demo(tiny_onnx_model: Path, capsys):
    code, out, err = run_cli(capsys, "model", "info", str(tiny_onnx_model))
    assert code == 0, err
    assert "demo, not accurate" in out
    assert "1344" in out


def _tamper_metadata(source: Path, target: Path, key: str, value: str) -> Path:
    proto = onnx.load(str(source))
    for entry in proto.metadata_props:
        if entry.key == key:
            entry.value = value
    onnx.save(proto, str(target))
    return target


def test_info_refuses_garbage_truncated_and_tampered_files(
    tiny_onnx_model: Path, tmp_path: Path, capsys
):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n this is not a model" * 50)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(tiny_onnx_model.read_bytes()[: tiny_onnx_model.stat().st_size // 2])
    wrong_dim = _tamper_metadata(
        tiny_onnx_model, tmp_path / "dim.onnx", "sciceapp.descriptor_dim", "10752"
    )
    future = _tamper_metadata(tiny_onnx_model, tmp_path / "fmt.onnx", "sciceapp.format", "2")
    expected = {
        garbage: "not an ONNX file",
        truncated: "truncated",
        wrong_dim: "altered",
        future: "format",
    }
    for path, reason in expected.items():
        code, out, err = run_cli(capsys, "model", "info", str(path))
        assert code == 2, path.name
        assert reason in err, (path.name, err)
        assert "Traceback" not in err


def test_list_marks_random_weight_models_and_survives_broken_files(
    tiny_onnx_model: Path, data_dir: Path, capsys
):
    models = data_dir / "models"
    models.mkdir()
    shutil.copyfile(tiny_onnx_model, models / "tiny.onnx")
    (models / "broken.onnx").write_bytes(b"not a model")

    code, out, err = run_cli(capsys, "model", "list")
    assert code == 0, err
    built_line = next(line for line in out.splitlines() if "built: tiny.onnx" in line)
    assert "demo, not accurate" in built_line
    assert "broken.onnx" in out and "unusable" in out
    assert "scicevpr-b" in out and "training-free baseline" in out

    code, out, err = run_cli(capsys, "model", "list", "--json")
    listing = json.loads(out)
    tiny = next(m for m in listing["manifests"] if m["name"] == "tiny")
    assert [b["random_init"] for b in tiny["built"]] == [True]
    base = next(m for m in listing["manifests"] if m["name"] == "scicevpr-b")
    assert base["built"] == [] and base["backbone_downloaded"] is False
    assert [Path(m["path"]).name for m in listing["other_local"]] == ["broken.onnx"]


def test_import_copies_a_valid_model_and_refuses_others(
    tiny_onnx_model: Path, tmp_path: Path, data_dir: Path, capsys
):
    code, out, err = run_cli(capsys, "model", "import", str(tiny_onnx_model))
    assert code == 0, err
    copied = data_dir / "models" / "tiny.onnx"
    assert sha256_file(copied) == sha256_file(tiny_onnx_model)

    other = _tamper_metadata(tiny_onnx_model, tmp_path / "tiny.onnx", "sciceapp.label", "other")
    code, out, err = run_cli(capsys, "model", "import", str(other))
    assert code == 2 and "already" in err
    garbage = tmp_path / "junk.onnx"
    garbage.write_bytes(b"junk")
    code, out, err = run_cli(capsys, "model", "import", str(garbage))
    assert code == 2
    assert not (data_dir / "models" / "junk.onnx").exists()
    assert sha256_file(copied) == sha256_file(tiny_onnx_model)


def test_stopping_an_export_subprocess_leaves_nothing_behind(tmp_path: Path):
    """The GUI runs the export in a subprocess and stops it with SIGTERM."""
    import signal
    import subprocess
    import sys

    output = tmp_path / "out" / "tiny.onnx"
    command = [
        sys.executable, "-m", "sciceapp", "model", "export", "--preset", "tiny",
        "--random-init", "--output", str(output), "--json",
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        for line in proc.stdout:
            if json.loads(line).get("message") == "exporting to ONNX":
                proc.send_signal(signal.SIGTERM)
                break
        rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert json_lines(rest)[-1]["event"] == "error"
    assert list(output.parent.iterdir()) == []
