"""The doctor's checks of the data folder and what it holds: room to write, the ONNX models
(usable or why not, demo or real) and the collections (their model still the one they were
built with)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sciceapp.commands.doctor.report import OK, PROBLEM, WARNING, Check

# Below these the data folder cannot take a collection's index and thumbnails comfortably.
PROBLEM_FREE_BYTES = 200 * 2**20
WARNING_FREE_BYTES = 2 * 2**30


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
