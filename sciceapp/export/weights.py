"""Weight files as the torch-free path sees them: read, checked against an architecture, and
recorded once accepted (no torch here: the desktop app fetches and builds with this module).

A downloaded backbone is accepted only if it opens with the tensors-only reader and has
exactly the names and shapes of the architecture it is fetched for. The size and SHA-256 of
what was accepted are written beside it (``<file>.json``, the local manifest entry), so a later
run can tell that the file changed. No official hashes are published for the DINOv2 files.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine.download import sha256_file
from sciceapp.engine.tensor_file import read_tensor_file
from sciceapp.errors import ModelError
from sciceapp.model.layout import backbone_shapes, mismatch, official_backbone

RECORD_SUFFIX = ".json"
_BACKBONE_PREFIXES = ("module.backbone.dino_model.", "backbone.dino_model.")


def state_dict_of(obj: Any, name: str) -> dict[str, np.ndarray]:
    """The name -> array mapping inside a file's object (a bare state dict, or the authors'
    ``{"model_state_dict": ...}``), without the ``module.`` prefix of DataParallel."""
    if isinstance(obj, Mapping) and isinstance(obj.get("model_state_dict"), Mapping):
        obj = obj["model_state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ModelError(f"{name} does not hold a dictionary of tensors.")
    state = {str(key).removeprefix("module."): value for key, value in obj.items()}
    bad = [k for k, v in state.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
    if bad:
        raise ModelError(f"{name} holds NaN or infinite weights ({', '.join(bad[:3])}).")
    return state


def read_state(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """A checkpoint's tensors by name (PyTorch zip or safetensors), read without torch."""
    path = Path(path)
    return state_dict_of(read_tensor_file(path), path.name)


def backbone_part(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The DINOv2 tensors of a state dict, under their official names (a whole-network file
    keeps them under ``backbone.dino_model.``)."""
    for prefix in _BACKBONE_PREFIXES:
        found = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        if found:
            return found
    return dict(state)


def check_backbone_file(path: str | os.PathLike[str], backbone: str) -> dict[str, np.ndarray]:
    """The tensors of an official DINOv2 file, after checking every name and shape against
    ``backbone`` (``dinov2_vitb14``, ...); ``ModelError`` saying what differs."""
    path = Path(path)
    state = read_state(path)
    problem = mismatch(backbone_shapes(official_backbone(backbone)), state, source=path.name)
    if problem:
        raise ModelError(f"{problem}: it is not the {backbone} backbone.")
    return state


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def record_accepted(path: str | os.PathLike[str], *, url: str, checked: str) -> dict[str, Any]:
    """Write the local manifest entry of an accepted download: where from, size, SHA-256."""
    path = Path(path)
    entry = {
        "file": path.name,
        "url": url,
        "size_bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "checked": checked,
        "accepted_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    write_bytes_atomic(record_path(path), (json.dumps(entry, indent=2) + "\n").encode())
    return entry


def read_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest entry written when ``path`` was accepted, if there is a readable one."""
    try:
        entry = json.loads(record_path(Path(path)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def matches_record(path: str | os.PathLike[str]) -> bool | None:
    """Whether ``path`` still has the size and SHA-256 recorded when it was accepted (None
    when there is no record)."""
    path = Path(path)
    entry = read_record(path)
    if entry is None:
        return None
    if entry.get("size_bytes") != path.stat().st_size:
        return False
    return entry.get("sha256") == sha256_file(path)
