"""The two feed-forward kinds of DINOv2 blocks: GELU MLP (``fc1``/``fc2``) and SwiGLU (giant)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Mlp(nn.Module):
    """``[..., D] -> [..., D]`` through ``hidden`` GELU units."""

    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def swiglu_hidden(dim: int, mlp_ratio: float) -> int:
    """The official fused SwiGLU width: 2/3 of ``dim * mlp_ratio``, rounded up to a multiple of 8."""
    return (int(int(dim * mlp_ratio) * 2 / 3) + 7) // 8 * 8


class SwiGLU(nn.Module):
    """``[..., D] -> [..., D]``: ``w3(silu(a) * b)`` where ``a, b`` are the halves of ``w12(x)``."""

    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * value)


def make_ffn(kind: str, *, dim: int, mlp_ratio: float) -> nn.Module:
    if kind == "mlp":
        return Mlp(dim=dim, hidden=int(dim * mlp_ratio))
    if kind == "swiglu":
        return SwiGLU(dim=dim, hidden=swiglu_hidden(dim, mlp_ratio))
    raise ValueError(f"Unknown feed-forward kind {kind!r}; choose 'mlp' or 'swiglu'.")
