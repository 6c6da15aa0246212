"""Writing our own checkpoints: atomically, and only with what ``weights_only=True`` reads back."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sciceapp.atomic import atomic_write
from sciceapp.errors import ModelError
from sciceapp.model.config import SciceConfig

FORMAT = "sciceapp-checkpoint/1"


def save_checkpoint(path: str | Path, network: nn.Module, **extra: Any) -> Path:
    """Write ``{"format", "config", "teacher", "model_state_dict", **extra}`` atomically
    (temporary file, fsync, rename). ``extra``: epoch, optimizer_state_dict, recalls, ...;
    only tensors and plain data, so the file loads with ``weights_only=True``."""
    path = Path(path)
    module = getattr(network, "module", network)  # DataParallel
    config = getattr(module, "config", None)
    if not isinstance(config, SciceConfig):
        raise ValueError("save_checkpoint needs a network made by sciceapp.model.build.")
    reserved = {"format", "config", "teacher", "model_state_dict"} & set(extra)
    if reserved:
        raise ValueError(f"Extra entries may not be named {sorted(reserved)}.")
    for key, value in extra.items():
        if not is_safe(value):
            raise ValueError(
                f"Extra entry {key!r} holds a {type(value).__name__}: only tensors, numbers, "
                "strings and lists/dicts of them load back with weights_only=True."
            )
    payload = {
        "format": FORMAT,
        "config": config.to_dict(),
        "teacher": bool(getattr(module, "teacher", False)),
        "model_state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        **extra,
    }
    try:
        with atomic_write(path) as stream:
            torch.save(payload, stream)
    except OSError as exc:
        raise ModelError(
            f"Could not write checkpoint {path}: {exc.strerror or exc}. Free some disk space or "
            "choose another folder; the previous checkpoint (if any) is unchanged."
        ) from None
    return path


def is_safe(value: Any) -> bool:
    if isinstance(value, torch.Tensor) or is_plain(value):
        return True
    if isinstance(value, Mapping):
        return all(is_safe(k) and is_safe(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(is_safe(item) for item in value)
    return False


def is_plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | type(None)) or (
        isinstance(value, list | tuple) and all(is_plain(item) for item in value)
    )
