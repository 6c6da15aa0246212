"""The model layer: SciceVPR, its teacher and the DINOv2 + GeM baseline in PyTorch.

Public API (docs/DEVELOPING.md, contract 2): `PRESETS`, `SciceConfig`, `get_config`, `build`,
`trainable_parameters`, and the checkpoint functions `load_checkpoint`, `save_checkpoint`,
`build_from_checkpoint` with their `LoadReport`.

The names are resolved on first use, so that the torch-free parts (``sciceapp.model.config``,
``sciceapp.model.layout``) can be imported where PyTorch is not installed (the desktop app).
"""

import importlib
import logging
import sys
import types

logger = logging.getLogger(__name__)

_WHERE = {
    "build": "build",
    "trainable_parameters": "build",
    "FORMAT": "checkpoint",
    "LoadReport": "checkpoint",
    "build_from_checkpoint": "checkpoint",
    "checkpoint_config": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "IMAGENET_MEAN": "config",
    "IMAGENET_STD": "config",
    "PRESETS": "config",
    "SciceConfig": "config",
    "get_config": "config",
    "preset_name": "config",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Keeps ``build`` the function: importing the submodule ``sciceapp.model.build`` (which
    ``checkpoint`` does) makes the import system bind the module to the package's name."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
