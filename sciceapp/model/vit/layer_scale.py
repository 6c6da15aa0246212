"""LayerScale: a learned per-channel factor ``gamma`` on each residual branch."""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """``[..., D] -> [..., D]``, multiplied by ``gamma`` (``init`` everywhere at first)."""

    def __init__(self, *, dim: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma
