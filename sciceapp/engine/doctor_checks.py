"""The local checks of `sciceapp doctor`: versions, ONNX Runtime providers, the data folder,
models and collections. No Qt, no torch (torch's version is read from its metadata)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from sciceapp import __version__
from sciceapp.engine.doctor import OK, PROBLEM, WARNING, Check

log = logging.getLogger(__name__)

# Below these the data folder cannot take a collection's index and thumbnails comfortably.
PROBLEM_FREE_BYTES = 200 * 2**20
WARNING_FREE_BYTES = 2 * 2**30

# (distribution names to try, module to import, needed by the app)
PACKAGES: tuple[tuple[tuple[str, ...], str, bool], ...] = (
    (("onnxruntime", "onnxruntime-gpu"), "onnxruntime", True),
    (("faiss-cpu", "faiss-gpu", "faiss"), "faiss", True),
    (("PySide6", "PySide6-Essentials"), "PySide6", True),
    (("numpy",), "numpy", True),
    (("pillow",), "PIL", True),
    (("pillow-heif",), "pillow_heif", False),
    (("folium",), "folium", True),
)


def package_version(distributions: tuple[str, ...], module: str) -> str | None:
    """The installed version, from package metadata or else from the module itself.

    The frozen app may lack the metadata; the module is imported only as a fallback.
    """
    for dist in distributions:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        return str(getattr(importlib.import_module(module), "__version__", "unknown version"))
    except Exception:  # a broken install is reported as missing, whatever it raised
        return None


def torch_version() -> str | None:
    """torch's version without importing it (optional and slow to import); None when this
    interpreter cannot import it, whatever metadata may be lying around (the frozen app)."""
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def check_versions() -> Check:
    """sciceapp, Python, OS and the libraries the app runs on."""
    versions: dict[str, Any] = {
        "sciceapp": __version__,
        "python": platform.python_version(),
        "os": platform.platform(),
        "frozen": bool(getattr(sys, "frozen", False)),
    }
    missing = []
    for distributions, module, needed in PACKAGES:
        found = package_version(distributions, module)
        versions[distributions[0]] = found
        if found is None and needed:
            missing.append(distributions[0])
    versions["torch"] = torch_version()
    libraries = [f"{dist[0]} {versions[dist[0]]}" for dist, _, _ in PACKAGES if versions[dist[0]]]
    torch_text = f"torch {versions['torch']}" if versions["torch"] else "no torch (only needed "
    torch_text += "" if versions["torch"] else "to export and train models)"
    summary = "; ".join(
        [f"sciceapp {__version__}", f"Python {versions['python']}", versions["os"], *libraries]
        + [torch_text]
    )
    if missing:
        return Check(
            "versions",
            PROBLEM,
            f"missing: {', '.join(missing)}; {summary}",
            "Reinstall sciceapp (pip install --force-reinstall sciceapp) or the packaged app.",
            versions,
        )
    return Check("versions", OK, summary, details=versions)


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


def check_data_folder(folder: Path) -> Check:
    """The data folder exists, can be written to, and has room."""
    details: dict[str, Any] = {"path": str(folder)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            "data folder",
            PROBLEM,
            f"{folder} cannot be written: {exc.strerror or exc}",
            "Choose another folder with --data-dir or SCICEAPP_DATA_DIR, or fix its permissions.",
            details,
        )
    free_bytes = shutil.disk_usage(folder).free
    details["free_bytes"] = free_bytes
    summary = f"{folder} ({free_bytes / 2**30:.1f} GiB free)"
    advice = "Free some space, or move the data folder (--data-dir / SCICEAPP_DATA_DIR)."
    if free_bytes < PROBLEM_FREE_BYTES:
        return Check("data folder", PROBLEM, f"{summary}: nearly full", advice, details)
    if free_bytes < WARNING_FREE_BYTES:
        return Check("data folder", WARNING, f"{summary}: little room for indexes", advice, details)
    return Check("data folder", OK, summary, details=details)


def _model_entry(path: Path, info: Any | None, error: str | None) -> dict[str, Any]:
    if info is None:
        return {"path": str(path), "usable": False, "error": error}
    return {
        "path": str(path),
        "usable": True,
        "label": info.display_name,
        "random_init": bool(info.random_init),
        "descriptor_dim": int(info.descriptor_dim),
    }


def check_models(data_dir: Path) -> Check:
    """The ONNX models in the data folder: usable or why not, demo (random weights) or real."""
    from sciceapp.engine.manifests import list_local_models

    models = [_model_entry(m.path, m.info, m.error) for m in list_local_models(data_dir)]
    details = {"models": models}
    if not models:
        return Check(
            "models",
            WARNING,
            "no ONNX model in the data folder yet",
            "Export one (sciceapp model export, needs sciceapp[torch]) or import a .onnx file.",
            details,
        )
    broken = [m for m in models if not m["usable"]]
    names = ", ".join(m.get("label") or Path(m["path"]).name for m in models)
    if broken:
        reasons = "; ".join(f"{Path(m['path']).name}: {m['error']}" for m in broken)
        return Check(
            "models",
            PROBLEM,
            f"{len(broken)} of {len(models)} unusable: {reasons}",
            "Re-export or re-import those files, or delete them.",
            details,
        )
    if all(m["random_init"] for m in models):
        return Check(
            "models",
            WARNING,
            f"only demo models (random weights, not accurate): {names}",
            "Get real weights: see 'Getting a real model' in the user guide.",
            details,
        )
    return Check("models", OK, names, details=details)


def check_collections(data_dir: Path) -> Check:
    """Every collection, its model and its photo counts; a missing model is a problem."""
    from sciceapp.engine.labels import model_text
    from sciceapp.engine.library import Library
    from sciceapp.errors import SciceappError

    try:
        library = Library(data_dir)
        summaries = library.list_collections()
    except SciceappError as exc:  # a damaged or too new catalogue
        return Check("collections", PROBLEM, str(exc), "Follow the advice in the message.")
    rows, troubled = [], []
    for summary in summaries:
        row = {
            "name": summary.name,
            "model": model_text(summary.model_label, summary.model_random_init),
            "random_init": bool(summary.model_random_init),
            "indexed": summary.indexed,
            "without_gps": summary.without_gps,
            "skipped": summary.skipped,
        }
        try:
            # checks that the model file is there and is the one the collection was built with
            library.open_collection(summary.name).model_info  # noqa: B018
        except SciceappError as exc:
            row["error"] = str(exc)
            troubled.append(f"{summary.name}: {exc}")
        rows.append(row)
    details = {"collections": rows}
    if not rows:
        return Check("collections", OK, "none yet", details=details)
    listing = "; ".join(f"{r['name']} ({r['model']}: {r['indexed']} photos)" for r in rows)
    if troubled:
        return Check(
            "collections",
            PROBLEM,
            "; ".join(troubled),
            "Follow the advice in the message; the photos and the rest of the collection are kept.",
            details,
        )
    if any(r["random_init"] for r in rows):
        return Check(
            "collections",
            WARNING,
            listing,
            "Collections built with a demo model give meaningless matches; rebuild them "
            "with a real model.",
            details,
        )
    return Check("collections", OK, listing, details=details)


def check_cpu_paths(data_dir: Path) -> Check:
    """How each model runs on this CPU: the measured choice, every candidate's images/s, and
    why a candidate (OpenVINO, bf16, CoreML, the int8 copy) is left out here."""
    from sciceapp.engine import runtimes, tuning
    from sciceapp.engine.int8 import int8_problem
    from sciceapp.engine.manifests import list_local_models

    cpu = runtimes.cpu_description()
    versions = runtimes.runtime_versions()
    details: dict[str, Any] = {"cpu": cpu, "runtimes": versions, "models": []}
    left_out = {
        c.name: why
        for c in runtimes.candidates_for("fp32")
        if (why := runtimes.problem(c, int8_problem()))
    }
    details["left_out"] = left_out
    lines = [f"{cpu['name']}, {cpu['cpus']} CPUs, features: {' '.join(cpu['flags']) or 'none'}"]
    lines += [f"{name} left out: {why}" for name, why in left_out.items()]
    for model in list_local_models(data_dir):
        if model.info is None:
            continue
        record, why = tuning.load(data_dir, model.info.sha256)
        entry = {"path": str(model.path), "tuning": record.to_json() if record else None}
        details["models"].append({**entry, "why_not": why})
        name = model.path.name
        if record is None:
            lines.append(f"{name}: {why}; calibrates at its first use (or `sciceapp model tune`)")
        else:
            lines += [f"{name}: {record.lines()[0]}", *record.lines()[1:]]
            if record.active in left_out:  # measured here, and its runtime is gone since
                lines.append(
                    f"{name}: its measured choice {record.active} cannot run here now "
                    f"({left_out[record.active]}): ONNX Runtime runs the model as it is; "
                    f"`sciceapp model tune {name}` measures again"
                )
    native_bf16 = bool({"avx512_bf16", "amx_bf16", "bf16"} & set(cpu["flags"]))
    if native_bf16 and "not installed" in left_out.get("openvino-bf16", ""):
        # The one case where the user leaves much speed unused (bf16: about 1.5x int8).
        advice = (
            f"This CPU has native bf16: {runtimes.OPENVINO_INSTALL}, then `sciceapp model tune`."
        )
        return Check("cpu paths", WARNING, "\n    ".join(lines), advice, details)
    return Check("cpu paths", OK, "\n    ".join(lines), details=details)
