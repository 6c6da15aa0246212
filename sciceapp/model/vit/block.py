"""One pre-norm transformer block with LayerScale, as DINOv2 has them."""

from __future__ import annotations

import torch
from torch import nn

from sciceapp.model.vit.attention import Attention
from sciceapp.model.vit.ffn import make_ffn
from sciceapp.model.vit.layer_scale import LayerScale

LAYER_NORM_EPS = 1e-6


class Block(nn.Module):
    """``[B, N, D] -> [B, N, D]``: ``x + ls1(attn(norm1(x)))``, then ``x + ls2(mlp(norm2(x)))``."""

    def __init__(
        self, *, dim: int, num_heads: int, ffn: str, mlp_ratio: float, layerscale_init: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim=dim, num_heads=num_heads)
        self.ls1 = LayerScale(dim=dim, init=layerscale_init)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = make_ffn(ffn, dim=dim, mlp_ratio=mlp_ratio)
        self.ls2 = LayerScale(dim=dim, init=layerscale_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))
