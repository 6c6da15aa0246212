"""Token mixers of SciceVPR's fusion: MLPs across the spatial positions of the fused map."""

from __future__ import annotations

import torch
from torch import nn

INIT_STD = 0.02


class TokenMixer(nn.Module):
    """``[B, C, P] -> [B, C, P]``: ``x + MLP_over_positions(LayerNorm_over_channels(x))``."""

    def __init__(self, *, channels: int, positions: int, ratio: float) -> None:
        super().__init__()
        hidden = int(positions * ratio)
        self.norm = nn.LayerNorm(channels)
        self.mix = nn.Sequential(
            nn.Linear(positions, hidden), nn.ReLU(), nn.Linear(hidden, positions)
        )
        for module in self.mix:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=INIT_STD)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.norm(x.transpose(1, 2)).transpose(1, 2)  # LayerNorm over C
        return x + self.mix(normed)
