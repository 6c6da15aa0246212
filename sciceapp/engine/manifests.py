"""Known models (the JSON manifests in ``models/``), the official backbone files, and the
ONNX models a user has built, downloaded or imported into the data folder.

No torch here: the GUI lists models with this module alone.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sciceapp.atomic import copy_atomic
from sciceapp.errors import ModelError
from sciceapp.paths import models_dir, repo_or_package_dir

if TYPE_CHECKING:
    from sciceapp.engine.onnx_model import ModelInfo

log = logging.getLogger(__name__)

DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/{name}/{file}"
# A folder (URL) holding the backbone files under their official names, used instead of the
# official addresses: an organisation's own mirror, or a machine without internet access.
MIRROR_ENV = "SCICEAPP_WEIGHTS_MIRROR"
DINOV2_BACKBONES = (
    "dinov2_vits14",
    "dinov2_vitb14",
    "dinov2_vitl14",
    "dinov2_vitg14",
    "dinov2_vits14_reg4",
    "dinov2_vitb14_reg4",
    "dinov2_vitl14_reg4",
    "dinov2_vitg14_reg4",
)
# Sizes (bytes) and SHA-256 of the official files, recorded only once measured from the real
# files; a backbone missing here is checked for completeness (Content-Length) but not by hash.
KNOWN_BACKBONE_FILES: dict[str, dict[str, Any]] = {}

REQUIRED_KEYS = ("name", "label", "preset", "description", "descriptor_dim", "image_size")


@dataclass(frozen=True)
class Manifest:
    """One known model: what it is and where its weights come from."""

    name: str
    label: str
    preset: str
    description: str
    descriptor_dim: int
    image_size: int
    mean: list[float]
    std: list[float]
    backbone: str | None
    weights: str
    training_free: bool = False
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def backbone_url(self) -> str | None:
        return backbone_url(self.backbone) if self.backbone else None


@dataclass(frozen=True)
class BackboneFile:
    """An official DINOv2 backbone checkpoint and what we know about it."""

    name: str
    url: str
    filename: str
    sha256: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class LocalModel:
    """An ONNX file in the model folder (its metadata, or why it cannot be used), or a
    built-in model kind."""

    path: Path
    info: ModelInfo | None
    error: str | None = None
    external_files: list[str] = field(default_factory=list)  # weights beside the .onnx
    builtin: bool = False  # a model kind that needs no file (the classical one)

    @property
    def display_name(self) -> str:
        if self.info is None:
            return f"{self.path.name} (unusable: {self.error})"
        return self.info.display_name


def backbone_file(name: str) -> BackboneFile:
    """The download address of an official DINOv2 backbone (``dinov2_vitb14``, ``..._reg4``)."""
    if name not in DINOV2_BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; choose one of: {', '.join(DINOV2_BACKBONES)}")
    filename = f"{name}_pretrain.pth"
    folder = name.removesuffix("_reg4")
    known = KNOWN_BACKBONE_FILES.get(name, {})
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return BackboneFile(
        name=name,
        url=f"{mirror.rstrip('/')}/{filename}"
        if mirror
        else DINOV2_URL.format(name=folder, file=filename),
        filename=filename,
        sha256=known.get("sha256"),
        size_bytes=known.get("size_bytes"),
    )


def backbone_url(name: str) -> str:
    return backbone_file(name).url


def manifests_dir() -> Path:
    return repo_or_package_dir("models")


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read one manifest file; ``ModelError`` if it is not valid JSON or lacks a key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"Model manifest {path} cannot be read: {exc}") from exc
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ModelError(f"Model manifest {path} lacks {', '.join(missing)}; fix or remove it.")
    known = {
        "name", "label", "preset", "description", "descriptor_dim", "image_size",
        "mean", "std", "backbone", "weights", "training_free",
    }  # fmt: skip
    return Manifest(
        name=str(data["name"]),
        label=str(data["label"]),
        preset=str(data["preset"]),
        description=str(data["description"]),
        descriptor_dim=int(data["descriptor_dim"]),
        image_size=int(data["image_size"]),
        mean=[float(v) for v in data.get("mean", (0.485, 0.456, 0.406))],
        std=[float(v) for v in data.get("std", (0.229, 0.224, 0.225))],
        backbone=data.get("backbone"),
        weights=str(data.get("weights", "")),
        training_free=bool(data.get("training_free", False)),
        path=path,
        extra={k: v for k, v in data.items() if k not in known},
    )


def list_manifests(folder: str | os.PathLike[str] | None = None) -> list[Manifest]:
    """Every manifest in ``models/`` (or ``folder``), sorted by name."""
    folder = Path(folder) if folder is not None else manifests_dir()
    if not folder.is_dir():
        log.warning("no model manifests at %s", folder)
        return []
    return sorted((load_manifest(p) for p in folder.glob("*.json")), key=lambda m: m.name)


def find_manifest(name: str) -> Manifest | None:
    """The manifest called ``name`` (or for preset ``name``), if there is one."""
    for manifest in list_manifests():
        if name in (manifest.name, manifest.preset):
            return manifest
    return None


def read_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The metadata of an ONNX model file (the engine's cheap ``read_model_info``)."""
    from sciceapp.engine.onnx_model import read_model_info

    return read_model_info(Path(path))


def list_local_models(data_dir: str | os.PathLike[str]) -> list[LocalModel]:
    """The ONNX files in the data folder's model folder, with metadata or the reason they fail."""
    found = []
    for path in sorted(models_dir(Path(data_dir)).glob("*.onnx")):
        try:
            found.append(LocalModel(path=path, info=read_info(path)))
        except ModelError as exc:
            found.append(LocalModel(path=path, info=None, error=str(exc)))
    return found


def builtin_models() -> list[LocalModel]:
    """The models that need no file: the classical, training-free kind."""
    from sciceapp.engine.classical_model import spec_info

    info = spec_info()
    return [LocalModel(path=info.path, info=info, builtin=True)]


def import_model(path: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> LocalModel:
    """Check an ONNX model file and copy it (atomically) into the data folder's model folder.

    Refuses a file the engine cannot use, and a different file that would replace one already
    there under the same name.
    """
    source = Path(path)
    info = read_info(source)
    target = models_dir(Path(data_dir)) / source.name
    externals = external_data(source)
    if target.exists():
        if read_info(target).sha256 == info.sha256:
            return LocalModel(path=target, info=read_info(target), external_files=externals)
        raise ModelError(
            f"A different model called {target.name} is already in {target.parent}. Rename "
            "the file you are importing, or remove the old one first."
        )
    for name in externals:  # the weights first: the model file appears only with its data
        copy_atomic(source.parent / name, target.parent / name)
    copy_atomic(source, target)
    return LocalModel(path=target, info=read_info(target), external_files=externals)


def external_data(model: Path) -> list[str]:
    """The external data files an ONNX model keeps its weights in (names relative to its
    folder), each checked to be a file inside that folder; ``ModelError`` otherwise."""
    from sciceapp.engine.onnx_proto import NotOnnxError, external_data_files

    try:
        names = external_data_files(model)
    except (NotOnnxError, OSError) as exc:
        raise ModelError(f"Cannot read the weights' locations in {model}: {exc}") from exc
    folder = model.parent.resolve()
    for name in names:
        where = (folder / name).resolve()
        if Path(name).is_absolute() or folder not in where.parents:
            raise ModelError(
                f"{model.name} keeps weights in {name!r}, outside its own folder; sciceapp "
                "reads no file outside a model's folder. Export the model again."
            )
        if not where.is_file():
            raise ModelError(
                f"{model.name} keeps its weights in {name}, which is not beside it in {folder}. "
                "Put that file next to the model (or export it again as one file)."
            )
    return names
