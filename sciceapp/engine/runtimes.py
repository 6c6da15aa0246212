"""The ways this machine's CPU can run a model file: runtimes x precisions, and why not others.

A *candidate* is one runtime at one precision: ONNX Runtime's CPU provider on the file as it
is (fp32) or on its dynamically quantised int8 copy, OpenVINO at fp32, bf16 (only where the
CPU has native bf16: OpenVINO says so itself, AVX-512 BF16 or AMX on x86) or on the int8
copy, and CoreML through ONNX Runtime's provider on Apple silicon. ``tuning.py`` measures the
usable ones and picks the fastest that stays faithful. OpenVINO is optional
(``pip install 'sciceapp[openvino]'``); without it its candidates are left out with a reason.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from sciceapp.engine import providers

log = logging.getLogger(__name__)

Runner = Callable[[np.ndarray], np.ndarray]
"""float32 ``[B, 3, S, S]`` -> float32 ``[B, D]``."""

ORT, OPENVINO, COREML = "onnxruntime", "openvino", "coreml"
COREML_PROVIDER = "CoreMLExecutionProvider"
OPENVINO_INSTALL = "pip install 'sciceapp[openvino]'"


@dataclass(frozen=True)
class Candidate:
    name: str
    runtime: str  # ORT, OPENVINO or COREML
    precision: str  # what the arithmetic is: fp32, bf16, int8 (or the file's own)
    int8_copy: bool = False  # runs the dynamically quantised copy of an fp32 file


def candidates_for(file_precision: str) -> list[Candidate]:
    """Every candidate for a model file of ``file_precision``, the reference (ONNX Runtime on
    the file as it is) first. Derived precisions exist only for fp32 files."""
    own = file_precision
    found = [Candidate(f"{ORT}-{own}", ORT, own), Candidate(f"{OPENVINO}-{own}", OPENVINO, own)]
    if own == "fp32":
        found += [
            Candidate(f"{ORT}-int8", ORT, "int8", int8_copy=True),
            Candidate(f"{OPENVINO}-int8", OPENVINO, "int8", int8_copy=True),
            Candidate(f"{OPENVINO}-bf16", OPENVINO, "bf16"),
            Candidate(f"{COREML}-fp32", COREML, "fp32"),
        ]
    return found


def cpu_session_options(threads: int | None, spin: bool) -> ort.SessionOptions:
    """ONNX Runtime session options for CPU work (threads, busy-waiting)."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        # ONNX Runtime's CPU threads busy-wait between operators by default, taking the cores
        # that decoding threads need while a batch runs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def ort_runner(session: ort.InferenceSession) -> Runner:
    from sciceapp.engine.onnx_model import INPUT_NAME, OUTPUT_NAME

    return lambda images: session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


@functools.cache
def _openvino() -> tuple[Any, Any] | str:
    """(the openvino module, a Core) or why OpenVINO cannot be used."""
    try:
        import openvino
    except ImportError:
        if getattr(sys, "frozen", False):
            return "OpenVINO is not installed (the desktop app leaves it out; the Python package has it with sciceapp[openvino])"
        return f"OpenVINO is not installed ({OPENVINO_INSTALL} adds it)"
    except Exception as exc:  # a broken install can raise anything on import
        return f"OpenVINO cannot be imported: {exc}"
    try:
        return openvino, openvino.Core()
    except Exception as exc:
        return f"OpenVINO cannot start: {exc}"


def openvino_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin says this CPU computes natively (FP32, BF16, INT8, ...)."""
    found = _openvino()
    if isinstance(found, str):
        return []
    return [str(c) for c in found[1].get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def problem(candidate: Candidate, int8_problem: str | None) -> str | None:
    """None when ``candidate`` can run on this machine, else why not."""
    if candidate.int8_copy and int8_problem:
        return int8_problem
    if candidate.runtime == OPENVINO:
        found = _openvino()
        if isinstance(found, str):
            return found
        if candidate.precision == "bf16" and "BF16" not in openvino_capabilities():
            return "this CPU has no native bf16 (no AVX-512 BF16 or AMX), so bf16 would be emulated"
    if candidate.runtime == COREML and COREML_PROVIDER not in providers.available_providers():
        return "CoreML exists only on Apple computers (ONNX Runtime's CoreML provider is absent)"
    return None


def open_runner(
    candidate: Candidate,
    model_file: Path,
    *,
    threads: int | None,
    spin: bool,
    cache_dir: Path | None = None,
) -> Runner:
    """A runner for ``candidate`` on ``model_file`` (the int8 copy for an int8 candidate).

    ``cache_dir``: where OpenVINO keeps the models it compiled, so the next start loads the
    compiled form instead of compiling again (seconds for the base model)."""
    if candidate.runtime == OPENVINO:
        return _openvino_runner(model_file, candidate.precision, threads, cache_dir)
    names = [COREML_PROVIDER, providers.CPU] if candidate.runtime == COREML else [providers.CPU]
    session = ort.InferenceSession(
        str(model_file), sess_options=cpu_session_options(threads, spin), providers=names
    )
    if session.get_providers()[0] != names[0]:
        raise RuntimeError(f"{names[0]} did not start (running on {session.get_providers()})")
    return ort_runner(session)


def _openvino_runner(
    model_file: Path, precision: str, threads: int | None, cache_dir: Path | None
) -> Runner:
    found = _openvino()
    if isinstance(found, str):
        raise RuntimeError(found)
    _, core = found
    config: dict[str, Any] = {
        # Where the CPU has bf16, OpenVINO computes in bf16 unless told otherwise: say it.
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        # One batch at a time on all cores, the way the pipeline calls it.
        "PERFORMANCE_HINT": "LATENCY",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    compiled = core.compile_model(str(model_file), "CPU", config)  # a path: the cache applies
    request = compiled.create_infer_request()
    lock = threading.Lock()  # one infer request: calls from several threads take turns

    def run(images: np.ndarray) -> np.ndarray:
        with lock:
            request.infer({0: images})
            return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    return run


def runtime_versions() -> dict[str, str | None]:
    """The versions a measurement depends on; a change invalidates it."""
    return {ORT: ort.__version__, OPENVINO: openvino_version()}


def openvino_version() -> str | None:
    """The installed OpenVINO's release (None: not installed), read from its package record
    without importing it: importing OpenVINO took 0.25 s idle and 4 s at load 10 here, at every
    start of every indexing run, also where ONNX Runtime is the path in use. Without a package
    record (a build installed by hand), or once the module is imported (or blocked), the
    module says."""
    if "openvino" not in sys.modules:
        import importlib.metadata  # here: 0.1 s at load 9, and most callers never ask

        try:
            return importlib.metadata.version("openvino")
        except importlib.metadata.PackageNotFoundError:
            pass
    found = _openvino()
    return None if isinstance(found, str) else str(found[0].get_version()).split("-")[0]


def same_versions(recorded: dict[str, str | None], now: dict[str, str | None]) -> bool:
    """Whether ``recorded`` runtime versions are ``now``'s. A record may name OpenVINO by its
    full build (``2026.4.1-22982-...``, as the module says): the same release counts."""

    def same(name: str) -> bool:
        old, new = recorded[name], now[name]
        return old == new or (
            name == OPENVINO and new is not None and f"{old}".startswith(f"{new}-")
        )

    return set(recorded) == set(now) and all(same(name) for name in now)


CPU_FLAGS_SHOWN = (
    "avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
    "asimd", "bf16", "i8mm", "sve",
)  # fmt: skip
"""The CPU features that decide which candidate wins (x86 and Arm spellings)."""


@functools.cache
def cpu_description() -> dict[str, Any]:
    """This CPU: model name, logical CPUs and the features in ``CPU_FLAGS_SHOWN`` it has."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name in ("", platform.machine(), platform.processor()):
                    name = value.strip()
                elif key in ("flags", "Features"):
                    flags.update(value.split())
                if key == "" and flags:
                    break  # the first CPU says it all
    except OSError:
        pass  # not Linux: name only
    return {
        "name": name,
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count() or 1,
        "flags": sorted(f for f in CPU_FLAGS_SHOWN if f in flags),
    }
