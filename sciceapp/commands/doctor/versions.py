"""The doctor's versions check: sciceapp, Python, the OS and the libraries the app runs on.
torch's version is read from its metadata, never by importing it."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import sys
from typing import Any

from sciceapp import __version__
from sciceapp.commands.doctor.report import OK, PROBLEM, Check

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
