"""Resampling the learned position table to another token grid, as the official code does it.

Official checkpoints hold a table for a 37 x 37 grid (518 px). For a g x g grid the patch part is
resampled bicubically. Without register tokens the official code passes a *scale factor*
(g + 0.1) / 37 per axis and no antialiasing (the 0.1 guards against the output size rounding
down); PyTorch then uses that scale factor, not g / 37, to map output to input coordinates, so
the result differs slightly from asking for size g. The ``_reg4`` models ask for the size
directly, with antialiasing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def resample_pos_embed(
    pos_embed: torch.Tensor, grid: int, *, offset: float, antialias: bool
) -> torch.Tensor:
    """``[1, 1 + M*M, D] -> [1, 1 + grid*grid, D]`` (class-token entry kept as is)."""
    tokens = pos_embed.shape[1] - 1
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(f"The position table has {tokens} patch entries, not a square grid.")
    if side == grid:
        return pos_embed
    dtype = pos_embed.dtype
    table = pos_embed.float()
    dim = table.shape[-1]
    patch = table[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)  # [1, D, M, M]
    if offset:
        scale = (grid + offset) / side
        patch = F.interpolate(
            patch, scale_factor=(scale, scale), mode="bicubic", antialias=antialias
        )
    else:
        patch = F.interpolate(patch, size=(grid, grid), mode="bicubic", antialias=antialias)
    if patch.shape[-2:] != (grid, grid):
        raise ValueError(
            f"Resampling gave a {tuple(patch.shape[-2:])} grid, expected {grid}x{grid}."
        )
    patch = patch.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat((table[:, :1], patch), dim=1).to(dtype)
