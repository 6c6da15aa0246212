"""Random-weight files in the official layouts, written at test time (no weights can be
downloaded here): DINOv2 backbones as ``torch.save`` or safetensors writes them, and the
authors' SciceVPR checkpoints (``model_state_dict``, ``module.`` keys)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sciceapp.model.config import get_config
from sciceapp.model.layout import backbone_shapes, head_shapes, official_backbone


def random_state(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Random float32 tensors of ``shapes``: LayerNorm weights near 1, LayerScale near 0.1 (as
    in trained DINOv2 files), everything else small, so every part moves the output."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in shapes.items():
        if name.endswith("gamma"):
            value = 0.1 + 0.05 * rng.standard_normal(shape)
        elif "norm" in name and name.endswith("weight"):
            value = 1 + 0.1 * rng.standard_normal(shape)
        elif name == "gem.p":
            value = np.full(shape, 2.8)
        else:
            value = 0.05 * rng.standard_normal(shape)
        state[name] = value.astype(np.float32)
    return state


def official_backbone_state(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    return random_state(backbone_shapes(official_backbone(name)), seed)


def save_torch(state: dict[str, np.ndarray], path: Path, *, wrap: str | None = None) -> Path:
    import torch

    tensors = {key: torch.from_numpy(value) for key, value in state.items()}
    torch.save({wrap: tensors, "epoch_num": 1, "recalls": [90.0, 95.0]} if wrap else tensors, path)
    return path


def save_safetensors(state: dict[str, np.ndarray], path: Path) -> Path:
    from safetensors.numpy import save_file

    save_file(state, str(path))
    return path


def authors_student_state(preset: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A SciceVPR student in the authors' layout: ``module.backbone.dino_model.*`` and the
    head under ``module.``."""
    config = get_config(preset)
    backbone = random_state(backbone_shapes(config.backbone), seed)
    head = random_state(head_shapes(config), seed + 1)
    state = {f"module.backbone.dino_model.{k}": v for k, v in backbone.items()}
    return {**state, **{f"module.{k}": v for k, v in head.items()}}
