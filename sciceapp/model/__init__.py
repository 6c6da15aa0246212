"""The model layer: SciceVPR, its teacher and the DINOv2 + GeM baseline in PyTorch.

Public API (docs/DEVELOPING.md, contract 2): `PRESETS`, `SciceConfig`, `get_config`, `build`,
`trainable_parameters`, and the checkpoint functions `load_checkpoint`, `save_checkpoint`,
`build_from_checkpoint` with their `LoadReport`.
"""

import logging

from sciceapp.model.build import build, trainable_parameters
from sciceapp.model.checkpoint import (
    FORMAT,
    LoadReport,
    build_from_checkpoint,
    checkpoint_config,
    load_checkpoint,
    save_checkpoint,
)
from sciceapp.model.config import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    SciceConfig,
    get_config,
    preset_name,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT",
    "LoadReport",
    "build_from_checkpoint",
    "checkpoint_config",
    "load_checkpoint",
    "save_checkpoint",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "SciceConfig",
    "build",
    "get_config",
    "preset_name",
    "trainable_parameters",
]
