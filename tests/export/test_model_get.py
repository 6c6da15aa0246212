"""`sciceapp model get`: a real model without PyTorch, equal to the toolkit's export.

The torch-free runs happen in a subprocess where ``import torch`` fails
(``sys.modules['torch'] = None``), so nothing on that path can lean on PyTorch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from local_server import serve_folder
from official_files import (
    authors_student_state,
    official_backbone_state,
    save_safetensors,
    save_torch,
)

from sciceapp.engine.download import sha256_file
from sciceapp.engine.onnx_model import read_model_info
from sciceapp.errors import CancelledError
from sciceapp.export import parity
from sciceapp.progress import CancelToken

REPO_ROOT = Path(__file__).resolve().parents[2]
NO_TORCH = (
    "import sys; sys.modules['torch'] = None\n"
    "from sciceapp.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    "raise SystemExit(code)\n"
)
PARITY_MAX_ABS_DIFF = 1e-5


def run_without_torch(args: list[str], data_dir: Path, timeout_s: float = 600):
    env = {**os.environ, "SCICEAPP_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args],
        capture_output=True, text=True, env=env, timeout=timeout_s,
    )  # fmt: skip


def descriptors(path: Path) -> np.ndarray:
    images = parity.random_images(3, 224, parity.IMAGENET_MEAN, parity.IMAGENET_STD, seed=11)
    return parity.run_onnx(path, images)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> tuple[str, Path]:
    """A random-weight ViT-S/14 in the official layout, as .pth and .safetensors, served."""
    folder = tmp_path_factory.mktemp("server")
    state = official_backbone_state("dinov2_vits14", seed=3)
    save_torch(state, folder / "dinov2_vits14_pretrain.pth")
    save_safetensors(state, folder / "dinov2_vits14_pretrain.safetensors")
    with serve_folder(folder) as url:
        yield url, folder


@pytest.fixture(scope="module")
def got_model(served, tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    """`model get dinov2-gem-s --url ... --precision fp32 --json`, run without torch."""
    url, _ = served
    data = tmp_path_factory.mktemp("data")
    result = run_without_torch(
        ["model", "get", "dinov2-gem-s", "--url", f"{url}/dinov2_vits14_pretrain.pth",
         "--precision", "fp32", "--json"], data,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return Path(events[-1]["output"]), data, events


@pytest.mark.slow
def test_model_get_without_torch_equals_the_toolkit_export(got_model, tmp_path):
    from sciceapp.export import export_onnx

    model, data, events = got_model
    assert events[-1]["event"] == "done"
    assert any(e["event"] == "progress" and "bytes" in e["message"] for e in events)
    assert model == data / "models" / "dinov2-gem-s-fp32.onnx"
    info = read_model_info(model)
    assert (info.variant, info.precision, info.random_init) == ("dinov2-gem-s", "fp32", False)
    assert info.descriptor_dim == 14 * 384 and "torch-free" in info.exporter
    weights = data / "models" / "dinov2_vits14_pretrain.pth"
    assert info.weights_sha256 == {weights.name: sha256_file(weights)}
    # the accepted download is recorded with its size and hash
    record = json.loads((data / "models" / "dinov2_vits14_pretrain.pth.json").read_text())
    assert record["size_bytes"] == weights.stat().st_size
    assert record["sha256"] == sha256_file(weights)

    toolkit = export_onnx(tmp_path / "tk.onnx", preset="dinov2-gem-s", backbone_weights=weights)
    diff = np.abs(descriptors(toolkit.output) - descriptors(model)).max()
    assert diff <= PARITY_MAX_ABS_DIFF


@pytest.mark.slow
def test_a_safetensors_backbone_gives_the_same_model(served, got_model, tmp_path):
    url, _ = served
    result = run_without_torch(
        ["model", "get", "dinov2-gem-s", "--url", f"{url}/dinov2_vits14_pretrain.safetensors",
         "--precision", "fp32", "--output", str(tmp_path / "st.onnx")], tmp_path / "data",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "data" / "models" / "dinov2_vits14_pretrain.safetensors").is_file()
    diff = np.abs(descriptors(tmp_path / "st.onnx") - descriptors(got_model[0])).max()
    assert diff <= PARITY_MAX_ABS_DIFF


@pytest.mark.slow
def test_default_precision_on_a_cpu_is_int8_and_checked(served, got_model, tmp_path):
    _, folder = served
    local = folder / "dinov2_vits14_pretrain.pth"
    result = run_without_torch(
        ["model", "get", "dinov2-gem-s", "--checkpoint", str(local), "--json"], tmp_path / "d"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["precision"] == "int8" and done["precision_cosine"] >= 0.99
    assert read_model_info(Path(done["output"])).precision == "int8"
    cosine = parity.compare(descriptors(got_model[0]), descriptors(Path(done["output"])))
    assert cosine.min_cosine >= 0.99


@pytest.mark.slow
def test_the_authors_checkpoint_layout_imports_without_torch(tmp_path):
    from sciceapp.export import export_onnx

    checkpoint = save_torch(
        authors_student_state("tiny", seed=5), tmp_path / "student.pth", wrap="model_state_dict"
    )
    result = run_without_torch(
        ["model", "get", "tiny", "--checkpoint", str(checkpoint), "--precision", "fp32",
         "--output", str(tmp_path / "free.onnx")], tmp_path / "data",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    toolkit = export_onnx(tmp_path / "tk.onnx", preset="tiny", checkpoint=checkpoint)
    assert not read_model_info(tmp_path / "free.onnx").random_init
    diff = np.abs(descriptors(toolkit.output) - descriptors(tmp_path / "free.onnx")).max()
    assert diff <= PARITY_MAX_ABS_DIFF


def test_a_wrong_or_hostile_file_is_refused_and_nothing_is_kept(tmp_path):
    folder = tmp_path / "srv"
    folder.mkdir()
    # the ViT-S file served where the ViT-B one is expected
    save_torch(official_backbone_state("dinov2_vits14"), folder / "small.pth")
    (folder / "hostile.pth").write_bytes(
        b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93"
        b"\x94\x8c\x04true\x94\x85\x94R\x94."
    )
    data = tmp_path / "data"
    with serve_folder(folder) as url:
        wrong = run_without_torch(
            ["model", "get", "dinov2-gem-b", "--url", f"{url}/small.pth"], data
        )
        hostile = run_without_torch(
            ["model", "fetch", "dinov2_vitb14", "--url", f"{url}/hostile.pth"], data
        )
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "wrong shape" in wrong.stderr and "dinov2_vitb14" in wrong.stderr
    assert hostile.returncode == 2 and "Traceback" not in hostile.stderr
    assert "holds code or objects other than tensors, refused for safety" in hostile.stderr
    assert "weights_only" not in hostile.stderr
    assert sorted(p.name for p in (data / "models").iterdir()) == []


def _get_until_cancelled(url: str, data: Path, progress, token: CancelToken) -> None:
    from sciceapp.export.get import get_model

    with pytest.raises(CancelledError):
        get_model(
            "dinov2-gem-s", data_dir=data, precision="fp32", progress=progress, cancel=token,
            url=f"{url}/dinov2_vits14_pretrain.pth",
        )  # fmt: skip
    assert token.cancelled


def _cancel_when(token: CancelToken, wanted):
    """A progress callback that cancels ``token`` on the first report ``wanted`` accepts."""

    def progress(done: int, total: int | None, message: str = "") -> None:
        if wanted(done, total, message):
            token.cancel()

    return progress


def test_cancel_while_downloading_leaves_the_data_folder_as_it_was(served, tmp_path, monkeypatch):
    url, _ = served
    monkeypatch.setattr("sciceapp.engine.download.CHUNK_BYTES", 1 << 16)
    token = CancelToken()
    progress = _cancel_when(token, lambda done, total, message: message.endswith("(bytes)"))
    _get_until_cancelled(url, tmp_path, progress, token)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == []  # no .part either


def test_cancel_after_the_download_removes_what_this_run_fetched_only(served, tmp_path):
    url, folder = served
    models = tmp_path / "models"

    building = lambda d, t, m: "building" in m  # noqa: E731
    token = CancelToken()  # cancelled while building: at the check of the next step
    progress = _cancel_when(token, building)
    _get_until_cancelled(url, tmp_path, progress, token)
    assert sorted(p.name for p in models.iterdir()) == []
    # a backbone fetched before (`model fetch`, an earlier get) is the user's: a cancel keeps it
    kept = models / "dinov2_vits14_pretrain.pth"
    kept.write_bytes((folder / kept.name).read_bytes())
    token = CancelToken()
    progress = _cancel_when(token, building)
    _get_until_cancelled(url, tmp_path, progress, token)
    assert kept.read_bytes() == (folder / kept.name).read_bytes()
    assert sorted(p.name for p in models.iterdir()) == [kept.name]
