"""Multi-level regional GeM: 14 region vectors (whole map, 2x2 grid, 3x3 grid).

GeM (Radenovic et al.): ``mean(clamp(x, eps)^p)^(1/p)`` over the spatial positions, one
learnable ``p`` shared by every region. The mean is taken over the two spatial axes rather
than with ``avg_pool2d`` with a shape-dependent kernel, which is the same function and exports
to ONNX.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GEM_EPS = 1e-6


def region_cuts(grid: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Row/column spans of the 2x2 and the 3x3 grids on a ``grid x grid`` map.

    At 16: 2x2 cut at 8; 3x3 cut at 5 and 11 (spans 0:5, 5:11, 11:16).
    """
    half = grid // 2
    third, two_thirds = round(grid / 3), round(2 * grid / 3)
    halves = [(0, half), (half, grid)]
    thirds = [(0, third), (third, two_thirds), (two_thirds, grid)]
    return halves, thirds


def regions(grid: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The 14 regions as ``((row0, row1), (col0, col1))``, in descriptor order.

    Whole map; the 2x2 cells row by row; the 3x3 cells row by row.
    """
    halves, thirds = region_cuts(grid)
    out = [((0, grid), (0, grid))]
    out += [(rows, cols) for rows in halves for cols in halves]
    out += [(rows, cols) for rows in thirds for cols in thirds]
    return out


class GeM(nn.Module):
    """``[B, C, grid, grid] -> [B, 14, C]``: the regional GeM vectors, each L2-normalised.

    The regions are fixed at construction (no shape-dependent Python in ``forward``, so both
    ONNX exporters see the same graph).
    """

    def __init__(self, *, grid: int, p: float = 3.0, learnable: bool = True) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.ones(1) * p, requires_grad=learnable)
        self.grid = grid
        self.regions = regions(grid)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C]``: GeM over the whole map (not normalised)."""
        return x.clamp(min=GEM_EPS).pow(self.p).mean(dim=(-2, -1)).pow(1.0 / self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        powered = x.clamp(min=GEM_EPS).pow(self.p)  # shared by the overlapping regions
        means = [
            powered[:, :, r0:r1, c0:c1].mean(dim=(-2, -1)) for (r0, r1), (c0, c1) in self.regions
        ]
        pooled = torch.stack(means, dim=1).pow(1.0 / self.p)  # [B, 14, C]
        return F.normalize(pooled, p=2, dim=-1)
