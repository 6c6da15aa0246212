"""`build`: a network from a preset, dict, JSON path or config; what each training stage trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sciceapp.model.config import SciceConfig, get_config
from sciceapp.model.network import DinoGem, SciceVPR

STAGES = ("teacher", "student")


def build(
    config_or_preset: str | Path | dict[str, Any] | SciceConfig,
    teacher: bool = False,
    seed: int | None = None,
) -> SciceVPR | DinoGem:
    """The network, in eval mode, with random weights (``seed`` makes them reproducible
    without touching the global random state). ``network.load_reports`` stays empty until
    `load_checkpoint` loads something: an empty list means random weights."""
    config = get_config(config_or_preset)
    if config.architecture == "dinov2-gem" and teacher:
        raise ValueError("The dinov2-gem baseline has no teacher: build it with teacher=False.")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if config.architecture == "dinov2-gem":
            network: SciceVPR | DinoGem = DinoGem(config)
        else:
            network = SciceVPR(config, teacher=teacher)
    network.load_reports = []
    return network.eval()


def trainable_parameters(network: nn.Module, stage: str) -> list[nn.Parameter]:
    """Set ``requires_grad`` for a training stage and return the parameters to optimise.

    ``"teacher"`` (stage 1): conv, token mixers, GeM p, encoder. ``"student"`` (stage 2): token
    mixers, GeM p, encoder; the backbone and the 1x1 conv (copied from the teacher) stay frozen.
    """
    if stage not in STAGES:
        raise ValueError(f"Unknown training stage {stage!r}; choose one of {list(STAGES)}.")
    if not isinstance(network, SciceVPR):
        raise ValueError("Only SciceVPR networks have trainable parts (the baseline has none).")
    if (stage == "teacher") != network.teacher:
        kind = "teacher" if network.teacher else "student"
        raise ValueError(f"Stage {stage!r} trains the {stage}, but this network is a {kind}.")
    trained = {"tokenmix", "gem", "encoder"} | ({"conv"} if stage == "teacher" else set())
    chosen = []
    for name, param in network.named_parameters():
        wanted = name.split(".", 1)[0] in trained
        param.requires_grad_(wanted)
        if wanted:
            chosen.append(param)
    return chosen
