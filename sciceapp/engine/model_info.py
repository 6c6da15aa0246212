"""A model file's metadata (contract 1 in docs/DEVELOPING.md) as the app sees it.

``read_model_info`` is cheap (it reads the metadata without building a session) and refuses
any file whose interface the engine does not understand; ``model_fingerprint`` is the file's
SHA-256, remembered per path, size and mtime.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sciceapp.engine.download import sha256_file
from sciceapp.engine.labels import model_text
from sciceapp.engine.onnx_proto import NotOnnxError, read_metadata_props
from sciceapp.errors import ModelError

FORMAT_VERSION = "1"
INPUT_NAME = "images"
OUTPUT_NAME = "descriptors"
REQUIRED_KEYS = (
    "format",
    "variant",
    "label",
    "config",
    "descriptor_dim",
    "image_size",
    "mean",
    "std",
    "random_init",
    "precision",
    "weights_sha256",
    "exporter",
)
PRECISIONS = ("fp32", "fp16", "int8")
NORMALISATION_RANGES = {"mean": (-1.0, 2.0), "std": (1e-3, 10.0)}
"""Pixels are scaled to [0, 1] before ``(x - mean) / std``: values outside these ranges (or
NaN, or infinite) give the network inputs it never saw, and descriptors that match nothing."""
MAX_DESCRIPTOR_DIM = 1 << 20
MAX_IMAGE_SIZE = 4096
_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str  # fingerprint: SHA-256 of the .onnx file
    variant: str
    label: str
    config: dict[str, Any]
    descriptor_dim: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    random_init: bool
    precision: str
    weights_sha256: dict[str, str] = field(default_factory=dict)
    exporter: str = ""
    kind: str = "onnx"  # the model kind (``model_kinds.py``): "onnx" or "classical"
    trained: bool = True  # False: a classical model whose vocabulary is not learned yet

    @property
    def display_name(self) -> str:
        return model_text(self.label, self.random_init)


def model_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a model file, remembered per (path, size, mtime) within this process."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    with _sha_lock:
        if key in _sha_cache:
            return _sha_cache[key]
    digest = sha256_file(path)
    with _sha_lock:
        _sha_cache[key] = digest
    return digest


def _refuse(path: Path, why: str) -> ModelError:
    return ModelError(
        f"{path} is not a usable sciceapp model: {why}. Export it again with "
        "`sciceapp model export` (or pick another .onnx file)."
    )


def _triple(path: Path, key: str, text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in json.loads(text))
    except (ValueError, TypeError) as exc:
        raise _refuse(path, f"metadata sciceapp.{key} is not a JSON list of numbers") from exc
    if len(values) != 3:
        raise _refuse(path, f"metadata sciceapp.{key} has {len(values)} values instead of 3")
    low, high = NORMALISATION_RANGES[key]
    if not all(low <= v <= high for v in values):  # also false for NaN
        raise _refuse(path, f"sciceapp.{key} must be 3 numbers from {low} to {high}, got {text}")
    return values  # type: ignore[return-value]


def info_from_props(path: Path, props: dict[str, str], sha256: str) -> ModelInfo:
    """Validate contract-1 metadata (``sciceapp.*`` keys) and build the ``ModelInfo``."""
    meta = {
        key[len("sciceapp.") :]: value
        for key, value in props.items()
        if key.startswith("sciceapp.")
    }
    if not meta:
        raise _refuse(path, "it has no sciceapp metadata (was it exported by sciceapp?)")
    if meta.get("format") != FORMAT_VERSION:
        raise _refuse(
            path,
            f"its metadata format is {meta.get('format')!r} and this version understands only "
            f"{FORMAT_VERSION!r} (update sciceapp, or re-export the model)",
        )
    missing = [f"sciceapp.{key}" for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise _refuse(path, f"metadata keys missing: {', '.join(missing)}")
    try:
        config = json.loads(meta["config"])
        weights = json.loads(meta["weights_sha256"])
        descriptor_dim = int(meta["descriptor_dim"])
        image_size = int(meta["image_size"])
    except ValueError as exc:
        raise _refuse(path, f"a metadata value does not parse ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(weights, dict):
        raise _refuse(path, "sciceapp.config and sciceapp.weights_sha256 must be JSON objects")
    std = _triple(path, "std", meta["std"])
    if not 0 < descriptor_dim <= MAX_DESCRIPTOR_DIM or not 0 < image_size <= MAX_IMAGE_SIZE:
        raise _refuse(
            path,
            f"descriptor_dim must be 1 to {MAX_DESCRIPTOR_DIM} and image_size 1 to "
            f"{MAX_IMAGE_SIZE}, got {descriptor_dim} and {image_size}",
        )
    if meta["random_init"] not in ("true", "false"):
        raise _refuse(path, "sciceapp.random_init must be 'true' or 'false'")
    if meta["precision"] not in PRECISIONS:
        raise _refuse(path, f"sciceapp.precision must be one of {', '.join(PRECISIONS)}")
    return ModelInfo(
        path=path,
        sha256=sha256,
        variant=meta["variant"],
        label=meta["label"],
        config=config,
        descriptor_dim=descriptor_dim,
        image_size=image_size,
        mean=_triple(path, "mean", meta["mean"]),
        std=std,
        random_init=meta["random_init"] == "true",
        precision=meta["precision"],
        weights_sha256={str(k): str(v) for k, v in weights.items()},
        exporter=meta["exporter"],
    )


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The metadata of an exported model, without building a session.

    Raises ``ModelError`` saying why for a missing, unreadable, non-ONNX, truncated or foreign
    file (one without sciceapp's contract-1 metadata, or of a newer format).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}. Check the path or export the model again.")
    try:
        props = read_metadata_props(path)
    except NotOnnxError as exc:
        raise _refuse(path, f"not an ONNX file or damaged ({exc})") from exc
    except OSError as exc:
        raise ModelError(f"Cannot read the model file {path}: {exc.strerror or exc}") from exc
    return info_from_props(path, props, model_fingerprint(path))
