"""Image to patch tokens: one strided convolution (``patch_embed.proj``)."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """``[B, 3, H, W] -> [B, (H/p)*(W/p), D]`` with a p x p convolution of stride p."""

    def __init__(self, *, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)
