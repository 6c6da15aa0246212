"""Model metadata (contract 1), refusing bad model files, provider choice and fallback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from sciceapp.engine import onnx_model, providers
from sciceapp.engine.download import sha256_file
from sciceapp.engine.onnx_model import Embedder, read_model_info
from sciceapp.errors import ModelError


def test_metadata_is_read_without_a_session(toy_model: Path, monkeypatch):
    def no_session(*args, **kwargs):
        raise AssertionError("read_model_info must not build a session")

    monkeypatch.setattr(ort, "InferenceSession", no_session)
    info = read_model_info(toy_model)
    assert (info.variant, info.descriptor_dim, info.image_size) == ("toy", 48, 32)
    assert info.mean == (0.485, 0.456, 0.406) and info.precision == "fp32"
    assert info.random_init and info.display_name.endswith("(random weights: demo, not accurate)")
    assert info.sha256 == sha256_file(toy_model)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sciceapp.format": "2"}, "format is '2'"),
        ({"sciceapp.image_size": None}, "sciceapp.image_size"),
        ({"sciceapp.mean": "[0.5, 0.5]"}, "2 values instead of 3"),
        ({"sciceapp.config": "{not json"}, "does not parse"),
        ({"sciceapp.random_init": "maybe"}, "random_init"),
    ],
)
def test_foreign_metadata_refused(tmp_path: Path, model_builder, overrides, reason):
    path = model_builder(tmp_path / "m.onnx", model_builder.meta(**overrides))
    with pytest.raises(ModelError, match="not a usable sciceapp model") as info:
        read_model_info(path)
    assert reason in str(info.value)
    assert "export" in str(info.value)  # says what to do


def test_model_without_sciceapp_metadata_refused(tmp_path: Path, model_builder):
    path = model_builder(tmp_path / "m.onnx", {"producer": "someone else"})
    with pytest.raises(ModelError, match="no sciceapp metadata"):
        read_model_info(path)


def test_non_onnx_truncated_and_missing_files_refused(tmp_path: Path, toy_model: Path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model")
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(toy_model.read_bytes()[:-40])
    for path in (text, truncated):
        with pytest.raises(ModelError, match="not an ONNX file or damaged"):
            read_model_info(path)
    with pytest.raises(ModelError, match="not found"):
        read_model_info(tmp_path / "absent.onnx")


def test_graph_that_disagrees_with_metadata_is_refused(tmp_path: Path, model_builder):
    meta = model_builder.meta(**{"sciceapp.descriptor_dim": "64"})
    path = model_builder(tmp_path / "m.onnx", meta)
    with pytest.raises(ModelError, match="altered after export"):
        Embedder(path, provider="cpu")


def test_embedding_is_l2_normalised_and_batch_independent(toy_model: Path):
    embedder = Embedder(toy_model, provider="cpu")
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(5, 3, 32, 32)).astype(np.float32)
    out = embedder.embed(batch)
    assert out.shape == (5, 48) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(embedder.embed(batch[2:3])[0], out[2], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        embedder.embed(batch[:, :, :16])


def test_asking_for_cuda_without_gpu_falls_back_to_cpu_with_reason(toy_model: Path, monkeypatch):
    monkeypatch.setattr(providers, "cuda_device_problem", lambda: "no NVIDIA driver (test)")
    # the CUDA build's provider list, so the test holds with the CPU build (what CI installs) too
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CUDA, providers.CPU])
    embedder = Embedder(toy_model, provider="cuda")
    assert embedder.provider == providers.CPU
    assert (
        "CUDAExecutionProvider: compiled in, but no NVIDIA driver (test)"
        in embedder.provider_report
    )
    assert embedder.provider_report.startswith("Using CPUExecutionProvider")
    assert embedder.batch_size == providers.batch_size_for(providers.CPU, 32)


def test_gpu_session_that_fails_to_start_falls_back_to_cpu(toy_model: Path, monkeypatch):
    """A GPU that the driver reports but ONNX Runtime cannot use (e.g. a cuDNN mismatch)."""
    monkeypatch.setattr(providers, "cuda_device_problem", lambda: None)
    monkeypatch.setattr(providers, "preload_gpu_libraries", lambda: "preloaded (test)")
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CUDA, providers.CPU])
    real_session = ort.InferenceSession
    attempts = []

    def session(path, sess_options=None, providers=None):
        attempts.append(list(providers))
        if any("CUDA" in str(p) for p in providers):
            raise RuntimeError("CUDA failure 35: driver version is insufficient")
        return real_session(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", session)
    embedder = Embedder(toy_model, provider="cuda")
    assert attempts == [[providers.CUDA, providers.CPU], [providers.CPU]]
    assert embedder.provider == providers.CPU
    assert "driver version is insufficient" in embedder.provider_report
    assert "preloaded (test)" in embedder.provider_report
    assert embedder.embed(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 48)


def test_batch_size_follows_provider_and_input_size():
    assert providers.batch_size_for(providers.CPU, 224) == 8
    assert providers.batch_size_for(providers.CUDA, 224) == 64
    assert providers.batch_size_for(providers.CPU, 448) == 2
    assert providers.batch_size_for(providers.CUDA, 16) == providers.MAX_BATCH_SIZE


def test_unknown_provider_lists_choices(toy_model: Path):
    with pytest.raises(ModelError, match="auto, tensorrt, cuda, cpu"):
        Embedder(toy_model, provider="metal")


def test_provider_report_explains_every_provider(monkeypatch):
    monkeypatch.setattr(providers, "cuda_device_problem", lambda: "no CUDA device (test)")
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CUDA, providers.CPU])
    report = onnx_model.provider_report()
    assert "usable: CPUExecutionProvider" in report
    for name in onnx_model.available_providers():
        if name != providers.CPU:
            assert f"{name}: compiled in, but no CUDA device (test)" in report


def test_tiny_scicevpr_export_is_understood(tiny_onnx_model: Path):
    info = read_model_info(tiny_onnx_model)
    assert info.random_init and info.image_size == 224
    embedder = Embedder(tiny_onnx_model, provider="cpu")
    out = embedder.embed(np.zeros((2, 3, 224, 224), np.float32))
    assert out.shape == (2, info.descriptor_dim)
    assert json.dumps(info.config)


def test_cuda_request_on_this_machine_uses_what_is_there(toy_model: Path):
    """No monkeypatching: without a GPU the reason is the real one; with one, CUDA is used."""
    embedder = Embedder(toy_model, provider="cuda")
    problem = providers.cuda_device_problem()
    if problem is None and providers.CUDA in onnx_model.available_providers():
        assert embedder.provider == providers.CUDA
        assert "Using CUDAExecutionProvider" in embedder.provider_report
    else:
        assert embedder.provider == providers.CPU
        reason = embedder.provider_report.split("CUDAExecutionProvider: ")[1]
        if providers.CUDA in onnx_model.available_providers():
            assert problem in reason
        else:  # the CPU build of ONNX Runtime
            assert "not compiled" in reason and "onnxruntime-gpu" in reason
