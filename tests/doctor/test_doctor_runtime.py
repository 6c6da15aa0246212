"""The doctor's ONNX Runtime check: why the CPU is used here, a GPU that cannot be used,
both runtime packages installed, a broken onnxruntime."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from sciceapp.commands.doctor import runtime
from sciceapp.commands.doctor.report import OK, PROBLEM, WARNING


def test_providers_explain_why_cpu_is_used_here():
    from sciceapp.engine import providers

    check = runtime.check_providers()
    assert "CPUExecutionProvider" in check.details["usable"]
    gpu_problem = providers.cuda_device_problem()
    if gpu_problem is None:  # a machine with a working NVIDIA driver
        assert check.status in (OK, WARNING)
    else:
        assert check.status == OK
        assert gpu_problem in check.summary
        assert "CUDAExecutionProvider" in check.details["not_used"]


def test_providers_warn_when_a_gpu_cannot_be_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Pretend the driver reports a GPU and give onnxruntime a CUDA provider library the
    loader rejects: the check must warn with the loader's own message."""
    import onnxruntime as ort

    from sciceapp.engine import providers

    fake_capi = tmp_path / "onnxruntime" / "capi"
    fake_capi.mkdir(parents=True)
    (fake_capi / "libonnxruntime_providers_cuda.so").write_bytes(b"not a shared library")
    monkeypatch.setattr(ort, "__file__", str(fake_capi.parent / "__init__.py"))
    monkeypatch.setattr(providers, "cuda_device_problem", lambda: None)
    monkeypatch.setattr(providers, "tensorrt_problem", lambda: "no TensorRT here")
    monkeypatch.setattr(providers, "preload_gpu_libraries", lambda: "not preloaded")
    # the GPU build is what is installed (CI installs the CPU one, which has its own warning)
    monkeypatch.setattr(runtime, "runtime_distributions", lambda: ["onnxruntime-gpu"])
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CUDA, providers.CPU])
    check = runtime.check_providers()
    assert check.status == WARNING
    assert "CUDA libraries are missing" in check.summary
    assert "libonnxruntime_providers_cuda.so" in check.summary
    assert "cuDNN" in check.advice


def test_providers_say_which_runtime_package_is_installed_and_refuse_both(monkeypatch):
    check = runtime.check_providers()
    assert check.details["package"] in ("onnxruntime", "onnxruntime-gpu")
    real_version = importlib.metadata.version

    def both_installed(name: str) -> str:
        if name in ("onnxruntime", "onnxruntime-gpu"):
            return "1.31.1"
        return real_version(name)

    monkeypatch.setattr(runtime.importlib.metadata, "version", both_installed)
    check = runtime.check_providers()
    assert check.status == PROBLEM and "both onnxruntime and onnxruntime-gpu" in check.summary
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in check.advice


def test_providers_report_a_broken_onnxruntime(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    check = runtime.check_providers()
    assert check.status == PROBLEM
    assert "onnxruntime cannot be imported" in check.summary
