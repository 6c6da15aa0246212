"""Loading weights: the authors' checkpoints, official DINOv2 files, our own format.

Every file is read with ``torch.load(..., weights_only=True)``: a checkpoint is a pickle, and
one that tries to run code is refused. Keys are checked strictly before anything is copied, so
a mismatch leaves the network untouched and the error names what is missing and unexpected.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sciceapp.engine.tensor_file import SAFETENSORS_SUFFIX, read_tensor_file
from sciceapp.errors import ModelError, WeightsMissingError
from sciceapp.model.build import build
from sciceapp.model.config import SciceConfig
from sciceapp.model.diagnose import describe_mismatch
from sciceapp.model.saving import FORMAT, is_plain, save_checkpoint

logger = logging.getLogger(__name__)

KINDS = ("authors", "dinov2-backbone", "sciceapp")
_BACKBONE_PREFIX = "backbone.dino_model."
_DINOV2_MARKERS = ("cls_token", "pos_embed", "patch_embed.proj.weight")
_HASH_CHUNK_BYTES = 1 << 20


@dataclass
class LoadReport:
    """What `load_checkpoint` loaded, from where, and what it left alone."""

    kind: str
    path: Path
    sha256: str
    loaded_keys: list[str]
    skipped_keys: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parts(self) -> list[str]:
        """Top-level parts that received weights (``backbone``, ``conv``, ``encoder``, ...)."""
        return sorted({key.split(".", 1)[0] for key in self.loaded_keys})

    def summary(self) -> str:
        text = (
            f"{self.path.name} ({self.kind}, sha256 {self.sha256[:12]}...): "
            f"{len(self.loaded_keys)} tensors into {', '.join(self.parts)}"
        )
        if self.skipped_keys:
            text += f"; {len(self.skipped_keys)} left as they were"
        return text


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_checkpoint(path: str | Path, expected_sha256: str | None = None) -> tuple[Any, str]:
    """``(object, sha256)`` of a checkpoint file, read safely; `ModelError` when it cannot be."""
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(
            f"Weights file {path} does not exist. Fetch it (`sciceapp model fetch`) or give the "
            "right path."
        )
    try:
        sha256 = file_sha256(path)
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if expected_sha256 and sha256 != expected_sha256.lower():
        raise ModelError(
            f"{path.name} has SHA-256 {sha256}, expected {expected_sha256}: the file is damaged "
            "or not the one expected. Download it again."
        )
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        # safetensors holds no code: read as numpy by the engine's reader, handed over as is
        arrays = read_tensor_file(path)
        return {key: torch.from_numpy(value) for key, value in arrays.items()}, sha256
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # arbitrary bytes fail in many ways inside the unpickler
        # torch's message suggests weights_only=False, which must never reach a user: the
        # tensors-only reader says what is wrong (code in the pickle, or damage) instead.
        raise _why_unreadable(path) from None
    return obj, sha256


def _why_unreadable(path: Path) -> ModelError:
    """The error for a file torch's weights-only loader refused, in our own words."""
    try:
        read_tensor_file(path)
    except ModelError as exc:
        return exc
    return ModelError(
        f"{path.name} is not a checkpoint PyTorch can read (it holds only tensors, but in a "
        "form this PyTorch does not know). Save it again with a current PyTorch."
    )


def _classify(obj: Any, path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(kind, state_dict, extra)``. ``extra``: the checkpoint's other plain entries."""
    if not isinstance(obj, Mapping):
        raise ModelError(f"{path.name} holds a {type(obj).__name__}, not a checkpoint dictionary.")
    if obj.get("format") == FORMAT:
        state = obj.get("model_state_dict")
        kind = "sciceapp"
    elif isinstance(obj.get("model_state_dict"), Mapping):
        state, kind = obj["model_state_dict"], "authors"
    elif any(key in obj for key in _DINOV2_MARKERS):
        state, kind = obj, "dinov2-backbone"
    elif any(str(key).removeprefix("module.").startswith(_BACKBONE_PREFIX) for key in obj):
        state, kind = obj, "authors"  # a bare state_dict of the authors' network
    else:
        keys = ", ".join(list(map(str, obj))[:5])
        raise ModelError(
            f"{path.name} is a dictionary ({keys}, ...) but not a SciceVPR, Super-CricaVPR or "
            "DINOv2 checkpoint."
        )
    if not isinstance(state, Mapping) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise ModelError(f"{path.name}: its model weights are not a dictionary of tensors.")
    state = {str(key).removeprefix("module."): value for key, value in state.items()}
    extra = {key: value for key, value in obj.items() if key != "model_state_dict"}
    if kind == "dinov2-backbone":
        extra = {}
    return kind, state, extra


def _target(network: nn.Module, kind: str) -> tuple[nn.Module, str]:
    """The module a state dict goes into and the prefix its keys get in ``network``."""
    if kind == "dinov2-backbone" and hasattr(network, "backbone"):
        return network.backbone.dino_model, _BACKBONE_PREFIX
    return network, ""


def _check_values(state: Mapping[str, torch.Tensor], path: Path) -> None:
    bad = [
        key
        for key, value in state.items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    if bad:
        raise ModelError(
            f"{path.name} holds NaN or infinite weights ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}): the file is damaged. Get a fresh copy."
        )


def load_state(
    network: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    parts: Iterable[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Copy ``state`` into ``network`` after a strict check of names and shapes.

    ``parts`` limits both sides to those top-level modules (e.g. ``("backbone", "conv")``).
    Returns ``(loaded_keys, skipped_keys)``; raises `ModelError` naming what does not match.
    """
    own = network.state_dict()
    wanted = set(parts) if parts is not None else None
    skipped: list[str] = []
    if wanted is not None:
        skipped = [key for key in state if key.split(".", 1)[0] not in wanted]
        state = {key: value for key, value in state.items() if key.split(".", 1)[0] in wanted}
        own = {key: value for key, value in own.items() if key.split(".", 1)[0] in wanted}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(
        key for key in set(own) & set(state) if tuple(own[key].shape) != tuple(state[key].shape)
    )
    if missing or unexpected or wrong_shape:
        raise ModelError(
            describe_mismatch(
                source=source,
                network=network,
                state=state,
                own=own,
                missing=missing,
                unexpected=unexpected,
                wrong_shape=wrong_shape,
            )
        )
    network.load_state_dict(state, strict=wanted is None)
    return sorted(state), sorted(skipped)


def load_checkpoint(
    network: nn.Module,
    path: str | Path,
    *,
    parts: Iterable[str] | None = None,
    expected_sha256: str | None = None,
    read: tuple[Any, str] | None = None,
) -> LoadReport:
    """Load the authors' checkpoint, an official DINOv2 file (backbone only) or one of ours.

    Strict on every key of the target (the whole network, or only its backbone for a DINOv2
    file). ``parts`` loads only some top-level parts, e.g. ``("backbone", "conv")`` to start a
    student from a teacher checkpoint as stage 2 does. ``read`` is ``path`` as
    ``read_checkpoint`` already returned it. Appends the report to ``network.load_reports``
    and re-bakes a baked position table.
    """
    path = Path(path)
    obj, sha256 = read if read is not None else read_checkpoint(path, expected_sha256)
    return _apply(network, path, obj, sha256, parts)


def _apply(
    network: nn.Module, path: Path, obj: Any, sha256: str, parts: Iterable[str] | None
) -> LoadReport:
    kind, state, extra = _classify(obj, path)
    _check_values(state, path)
    if kind == "sciceapp":
        _check_our_header(network, extra, path)
    target, prefix = _target(network, kind)
    if prefix:
        if parts is not None and "backbone" not in set(parts):
            raise ModelError(
                f"{path.name} is a DINOv2 backbone file: it has only backbone weights."
            )
        parts = None
    loaded, skipped = load_state(target, state, source=f"{path.name} ({kind})", parts=parts)
    report = LoadReport(
        kind=kind,
        path=path,
        sha256=sha256,
        loaded_keys=[prefix + key for key in loaded],
        skipped_keys=[prefix + key for key in skipped],
        extra={key: value for key, value in extra.items() if is_plain(value)},
    )
    reports = getattr(network, "load_reports", None)
    if isinstance(reports, list):
        reports.append(report)
    vit = getattr(getattr(network, "backbone", None), "dino_model", network)
    if getattr(vit, "baked_image_size", None):
        vit.bake_pos_embed(vit.baked_image_size)  # the old table came from the old weights
    logger.info("Loaded %s", report.summary())
    return report


def _check_our_header(network: nn.Module, header: Mapping[str, Any], path: Path) -> None:
    config = getattr(network, "config", None)
    try:
        saved = SciceConfig.from_dict(header.get("config"))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path.name} has an invalid network configuration: {exc}") from None
    if config is not None and saved != config:
        raise ModelError(
            f"{path.name} was saved from a different network configuration "
            f"({_config_difference(saved, config)}). Build the network with "
            "`build_from_checkpoint`, or with the configuration stored in the file."
        )
    teacher = bool(header.get("teacher", False))
    if teacher != bool(getattr(network, "teacher", False)):
        saved_kind, own_kind = ("teacher", "student") if teacher else ("student", "teacher")
        raise ModelError(
            f"{path.name} holds a {saved_kind}, but the network is a {own_kind}: build it with "
            f"teacher={teacher}."
        )


def _config_difference(saved: SciceConfig, own: SciceConfig) -> str:
    a, b = saved.to_dict(), own.to_dict()
    a.update({f"backbone.{k}": v for k, v in a.pop("backbone").items()})
    b.update({f"backbone.{k}": v for k, v in b.pop("backbone").items()})
    diffs = [f"{key}: file {a[key]!r}, network {b[key]!r}" for key in a if a[key] != b.get(key)]
    return "; ".join(diffs[:4]) or "same values"


def _our_config(obj: Any, path: Path) -> SciceConfig | None:
    """The network configuration in a checkpoint object of ours; None for other kinds."""
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        return None
    try:
        return SciceConfig.from_dict(obj.get("config"))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path.name} has an invalid network configuration: {exc}") from None


def checkpoint_config(path: str | Path) -> tuple[SciceConfig | None, tuple[Any, str]]:
    """The network configuration stored in one of our checkpoints (None for other kinds: the
    authors' and DINOv2 files carry none), and the file as read, for ``load_checkpoint``'s
    ``read`` so that it is not read and hashed again."""
    path = Path(path)
    read = read_checkpoint(path)
    return _our_config(read[0], path), read


def build_from_checkpoint(path: str | Path, *, expected_sha256: str | None = None) -> nn.Module:
    """A network rebuilt from one of our checkpoints (its config and teacher flag), weights
    loaded; its ``random_init`` attribute says whether it was trained on a random backbone."""
    path = Path(path)
    obj, sha256 = read_checkpoint(path, expected_sha256)
    config = _our_config(obj, path)
    if config is None:
        raise ModelError(
            f"{path.name} is not a sciceapp checkpoint (no '{FORMAT}' format entry). For the "
            "authors' or DINOv2 files, build the network with a preset and use load_checkpoint."
        )
    network = build(config, teacher=bool(obj.get("teacher", False)))
    _apply(network, path, obj, sha256, None)
    # Trained on a random backbone: a demo, labelled as such by eval and export.
    network.random_init = bool(obj.get("random_init", False))
    return network


__all__ = [
    "FORMAT",
    "LoadReport",
    "build_from_checkpoint",
    "checkpoint_config",
    "load_checkpoint",
    "save_checkpoint",
]
