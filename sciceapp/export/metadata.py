"""The metadata an exported ONNX file carries (contract 1 in docs/DEVELOPING.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

FORMAT_VERSION = "1"
KEYS = (
    "sciceapp.format",
    "sciceapp.variant",
    "sciceapp.label",
    "sciceapp.config",
    "sciceapp.descriptor_dim",
    "sciceapp.image_size",
    "sciceapp.mean",
    "sciceapp.std",
    "sciceapp.random_init",
    "sciceapp.precision",
    "sciceapp.weights_sha256",
    "sciceapp.exporter",
)
PRECISIONS = ("fp32", "fp16", "int8")


def build_metadata(
    *,
    variant: str,
    label: str,
    config: Mapping[str, object],
    descriptor_dim: int,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    random_init: bool,
    precision: str,
    weights_sha256: Mapping[str, str],
    seed: int | None = None,
    exporter: str | None = None,
) -> dict[str, str]:
    """Every key of contract 1, as strings (JSON where the contract says so). ``seed`` (of a
    random-weight model) is recorded as ``sciceapp.seed`` so the demo can be rebuilt;
    ``exporter``: what built the file (default: this sciceapp and the torch it runs with)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if len(mean) != 3 or len(std) != 3:
        raise ValueError("mean and std need one value per RGB channel")
    extra = {"sciceapp.seed": str(int(seed))} if random_init and seed is not None else {}
    return {
        **extra,
        "sciceapp.format": FORMAT_VERSION,
        "sciceapp.variant": variant,
        "sciceapp.label": label,
        "sciceapp.config": json.dumps(dict(config), sort_keys=True),
        "sciceapp.descriptor_dim": str(int(descriptor_dim)),
        "sciceapp.image_size": str(int(image_size)),
        "sciceapp.mean": json.dumps([float(v) for v in mean]),
        "sciceapp.std": json.dumps([float(v) for v in std]),
        "sciceapp.random_init": "true" if random_init else "false",
        "sciceapp.precision": precision,
        "sciceapp.weights_sha256": json.dumps(dict(weights_sha256), sort_keys=True),
        "sciceapp.exporter": exporter or exporter_version(),
    }


def exporter_version() -> str:
    import torch

    from sciceapp import __version__

    return f"sciceapp {__version__}, torch {torch.__version__}"


def write_metadata(path: str | os.PathLike[str], metadata: Mapping[str, str]) -> None:
    """Replace the ONNX file's metadata properties with ``metadata`` (in place)."""
    import onnx

    model = onnx.load(str(path))
    set_metadata(model, metadata)
    onnx.save(model, str(path))


def set_metadata(model: object, metadata: Mapping[str, str]) -> None:
    """Replace the metadata properties of an in-memory ``onnx.ModelProto``."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata properties of an ONNX file (weights not loaded)."""
    import onnx

    model = onnx.load(str(Path(path)), load_external_data=False)
    return {entry.key: entry.value for entry in model.metadata_props}
