"""The DINOv2 position table resampled to another token grid, in numpy (no torch).

The same arithmetic as PyTorch's bicubic ``interpolate`` (align_corners False), which the
official code and ``sciceapp.model.vit.pos_embed`` use: for the original models a scale
factor ``(grid + offset) / side`` with the cubic kernel's a = -0.75 and edge taps clamped; for
the ``_reg4`` models the output size directly, with antialiasing (PIL's a = -0.5 kernel,
stretched by the scale and normalised). tests/export checks both against PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

CUBIC_A = -0.75
ANTIALIAS_A = -0.5


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _plain_weights(side: int, out: int, scale_factor: float) -> np.ndarray:
    """``[out, side]`` weights of the bicubic resampling with a given scale factor."""
    step = np.float32(1.0 / scale_factor)
    real = step * (np.arange(out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    base = np.floor(real).astype(np.int64)
    t = (real - base).astype(np.float64)
    weights = np.zeros((out, side))
    for tap, distance in zip(range(-1, 3), (t + 1, t, 1 - t, 2 - t), strict=True):
        index = np.clip(base + tap, 0, side - 1)
        np.add.at(weights, (np.arange(out), index), _cubic(distance, CUBIC_A))
    return weights


def _antialias_weights(side: int, out: int) -> np.ndarray:
    """``[out, side]`` weights of the antialiased bicubic resampling to ``out`` samples."""
    scale = side / out
    support = 2.0 * scale if scale >= 1 else 2.0
    inv = 1.0 / scale if scale >= 1 else 1.0
    weights = np.zeros((out, side))
    for i in range(out):
        center = scale * (i + 0.5)
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), side)
        taps = np.arange(low, high)
        w = _cubic((taps - center + 0.5) * inv, ANTIALIAS_A)
        weights[i, low:high] = w / w.sum() if w.sum() else w
    return weights


def resample_pos_table(
    table: np.ndarray, grid: int, *, offset: float, antialias: bool
) -> np.ndarray:
    """``[1, 1 + M*M, D] -> [1, 1 + grid*grid, D]`` float32 (class-token entry kept)."""
    tokens = table.shape[1] - 1
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(f"The position table has {tokens} patch entries, not a square grid.")
    table = table.astype(np.float32)
    if side == grid:
        return table
    if offset:
        scale_factor = (grid + offset) / side
        if math.floor(side * scale_factor) != grid:
            raise ValueError(f"Resampling {side} by {scale_factor} does not give {grid}.")
        weights = _plain_weights(side, grid, scale_factor)
    elif antialias:
        weights = _antialias_weights(side, grid)
    else:
        weights = _plain_weights(side, grid, grid / side)
    patch = table[0, 1:].reshape(side, side, -1).astype(np.float64)  # [rows, cols, D]
    resampled = np.einsum("ir,jc,rcd->ijd", weights, weights, patch)
    out = resampled.reshape(grid * grid, -1).astype(np.float32)
    return np.concatenate([table[:, :1], out[None]], axis=1)
