"""Which ONNX Runtime execution provider to use, and why the others were not.

``onnxruntime-gpu`` lists CUDA and TensorRT as available whether or not the machine has a
GPU, so "compiled in" says little. Before asking ONNX Runtime for a GPU provider we look for
the driver ourselves (``libcuda``: ``cuInit`` and a device count), which gives the user a
precise reason when there is none, and let ONNX Runtime load the CUDA/cuDNN libraries from
the ``nvidia-*`` pip packages (``onnxruntime.preload_dlls``) when there is one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys

import onnxruntime as ort

from sciceapp.errors import ModelError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
CHOICES = {
    "auto": (TENSORRT, CUDA, CPU),
    "tensorrt": (TENSORRT, CUDA, CPU),
    "cuda": (CUDA, CPU),
    "cpu": (CPU,),
}
"""What each ``provider=`` argument asks for, best first; CPU always closes the list."""

REFERENCE_IMAGE_SIZE = 224
BATCH_SIZE_AT_224 = {CPU: 8, CUDA: 64, TENSORRT: 64}
"""Images per inference call at 224 px: enough to keep a GPU busy, small enough on a CPU that
progress and cancellation stay responsive. Scaled by pixel count for other input sizes."""
MAX_BATCH_SIZE = 256


def available_providers() -> list[str]:
    """Execution providers compiled into the installed ONNX Runtime, best first."""
    return list(ort.get_available_providers())


@functools.cache
def cuda_device_problem() -> str | None:
    """None when the NVIDIA driver reports at least one CUDA device, else why not."""
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    driver = None
    for name in names:
        try:
            driver = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if driver is None:
        return "no NVIDIA driver (libcuda) was found, so there is no CUDA device"
    status = driver.cuInit(0)
    if status != 0:
        return f"the NVIDIA driver could not initialise (cuInit error {status}): no usable GPU"
    count = ctypes.c_int(0)
    status = driver.cuDeviceGetCount(ctypes.byref(count))
    if status != 0 or count.value == 0:
        return "the NVIDIA driver reports no CUDA device"
    return None


@functools.cache
def tensorrt_problem() -> str | None:
    """None when the TensorRT runtime library can be loaded, else why not."""
    candidates = ["libnvinfer.so.10", "libnvinfer.so"]
    found = ctypes.util.find_library("nvinfer")
    if found:
        candidates.insert(0, found)
    for name in candidates:
        try:
            ctypes.CDLL(name)
            return None
        except OSError:
            continue
    return "the TensorRT libraries (libnvinfer) are not installed"


@functools.cache
def preload_gpu_libraries() -> str:
    """Let ONNX Runtime load CUDA/cuDNN from the nvidia-* pip packages; returns what happened."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return f"onnxruntime {ort.__version__} cannot preload CUDA libraries (needs 1.21 or newer)"
    try:
        preload()
    except Exception as exc:  # a missing or broken nvidia-* package must not stop CPU work
        log.info("onnxruntime.preload_dlls failed", exc_info=True)
        return f"preloading the CUDA/cuDNN libraries failed: {exc}"
    return "CUDA/cuDNN libraries preloaded from the installed nvidia-* packages"


def _gpu_problem(provider: str) -> str | None:
    if provider == CPU:
        return None
    return cuda_device_problem() or (tensorrt_problem() if provider == TENSORRT else None)


def plan(requested: str) -> tuple[list[str], dict[str, str]]:
    """Providers to try for ``requested`` (best first, CPU last) and why others are left out."""
    if requested not in CHOICES:
        raise ModelError(f"Unknown provider {requested!r}; choose one of: {', '.join(CHOICES)}.")
    compiled = set(available_providers())
    reasons: dict[str, str] = {}
    candidates: list[str] = []
    for provider in CHOICES["auto"]:
        if provider not in CHOICES[requested]:
            reasons[provider] = f"not requested (provider={requested!r})"
        elif provider not in compiled:
            reasons[provider] = "not compiled into this onnxruntime build (install onnxruntime-gpu)"
        elif problem := _gpu_problem(provider):
            reasons[provider] = f"compiled in, but {problem}"
        else:
            candidates.append(provider)
    if CPU not in candidates:
        candidates.append(CPU)
    return candidates, reasons


def recommended_precision(requested: str = "auto") -> str:
    """The export precision that runs fastest with the provider this machine would use: fp16
    on a GPU, int8 on the CPU (benchmarks/RESULTS.md)."""
    best = plan(requested)[0][0]
    return "int8" if best == CPU else "fp16"


def batch_size_for(provider: str, image_size: int) -> int:
    """Images per inference call for ``provider`` at ``image_size`` px."""
    base = BATCH_SIZE_AT_224.get(provider, BATCH_SIZE_AT_224[CPU])
    scaled = int(base * (REFERENCE_IMAGE_SIZE / max(image_size, 1)) ** 2)
    return max(1, min(MAX_BATCH_SIZE, scaled))


def provider_report() -> str:
    """Human text: which providers this machine could use and why the others cannot."""
    candidates, reasons = plan("auto")
    lines = [f"onnxruntime {ort.__version__}; usable: {', '.join(candidates)}"]
    lines += [f"{provider}: {reason}" for provider, reason in reasons.items()]
    return "\n".join(lines)
