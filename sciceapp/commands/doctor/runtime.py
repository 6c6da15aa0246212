"""The doctor's ONNX Runtime check: which runtime package is installed, which execution
providers can run here, and why the GPU is not used."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

from sciceapp.commands.doctor.report import OK, PROBLEM, WARNING, Check

RUNTIME_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")
GPU_INSTALL = (
    "pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'onnxruntime-gpu[cuda,cudnn]'"
)


def runtime_distributions() -> list[str]:
    """Which ONNX Runtime packages are installed (CPU ``onnxruntime``, ``onnxruntime-gpu``)."""
    found = []
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(dist)
    return found


def cuda_library_problem(ort: Any) -> str | None:
    """None when onnxruntime's CUDA provider library loads (its CUDA and cuDNN dependencies
    are found), else the loader's message, which names the first library missing."""
    folder = Path(ort.__file__).parent / "capi"
    name = (
        "onnxruntime_providers_cuda.dll"
        if sys.platform == "win32"
        else "libonnxruntime_providers_cuda.so"
    )
    if not (folder / name).is_file():
        return f"{name} is not part of this onnxruntime"
    import ctypes

    try:
        ctypes.CDLL(str(folder / name))
    except OSError as exc:
        return f"CUDA libraries are missing: {exc}"
    return None


def check_providers() -> Check:
    """Which ONNX Runtime package and execution providers can run here, and why CUDA is not
    used."""
    installed = runtime_distributions()
    if len(installed) > 1:
        return Check(
            "onnxruntime",
            PROBLEM,
            "both onnxruntime and onnxruntime-gpu are installed: they overwrite each other's "
            "files, so which one runs is an accident",
            f"Keep one. For an NVIDIA GPU: {GPU_INSTALL}; for the CPU only: pip uninstall -y "
            "onnxruntime onnxruntime-gpu && pip install onnxruntime",
            {"packages": installed},
        )
    try:
        import onnxruntime as ort

        from sciceapp.engine import providers
    except Exception as exc:  # a broken install can raise anything on import
        return Check(
            "onnxruntime",
            PROBLEM,
            f"onnxruntime cannot be imported: {exc}",
            "Reinstall it: pip install --force-reinstall onnxruntime (or onnxruntime-gpu)",
        )
    usable, reasons = providers.plan("auto")
    details: dict[str, Any] = {
        "package": installed[0] if installed else "unknown (no package metadata)",
        "version": ort.__version__,
        "compiled_in": providers.available_providers(),
        "usable": usable,
        "not_used": reasons,
    }
    gpu_problem = providers.cuda_device_problem()
    if gpu_problem is not None:  # no GPU: CPU is the right choice, not a fault
        return Check("onnxruntime", OK, f"CPU, because {gpu_problem}", details=details)
    advice = (
        "Install the CUDA and cuDNN libraries this onnxruntime-gpu was built for (the message "
        "names the first one missing), e.g. its nvidia-* pip packages; CPU works meanwhile."
    )
    if installed == ["onnxruntime"]:
        return Check(
            "onnxruntime",
            WARNING,
            "a GPU is present but the CPU build of ONNX Runtime (onnxruntime) is installed",
            f"For the GPU: {GPU_INSTALL} (or pip install 'sciceapp[gpu]' after removing "
            "onnxruntime); CPU works meanwhile.",
            details,
        )
    if providers.CUDA not in usable:
        why = reasons.get(providers.CUDA, "CUDA is not offered")
        return Check("onnxruntime", WARNING, f"a GPU is present but unused: {why}", advice, details)
    details["preload"] = providers.preload_gpu_libraries()
    library_problem = cuda_library_problem(ort)
    if library_problem is not None:
        details["cuda_library_problem"] = library_problem
        return Check(
            "onnxruntime",
            WARNING,
            f"a GPU is present but CPU will be used: {library_problem}",
            advice,
            details,
        )
    names = ", ".join(p.removesuffix("ExecutionProvider") for p in usable)
    return Check("onnxruntime", OK, f"GPU can be used ({names})", details=details)
