"""Official DINOv2 state dicts at tiny widths, written from the published key layout."""

from __future__ import annotations

import torch

PATCH = 14


def official_dinov2_state(
    *,
    width: int,
    depth: int,
    grid: int = 37,
    registers: int = 0,
    ffn_hidden: int | None = None,
    swiglu: bool = False,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """A state dict with the key names and shapes of the official ``dinov2_*_pretrain.pth``
    files, written out by hand (not taken from our model) and filled with random numbers."""
    gen = torch.Generator().manual_seed(seed)
    hidden = ffn_hidden or 4 * width

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.05

    state = {
        "cls_token": rand(1, 1, width),
        "pos_embed": rand(1, 1 + grid * grid, width),
        "mask_token": rand(1, width),
        "patch_embed.proj.weight": rand(width, 3, PATCH, PATCH),
        "patch_embed.proj.bias": rand(width),
        "norm.weight": 1 + rand(width),
        "norm.bias": rand(width),
    }
    if registers:
        state["register_tokens"] = rand(1, registers, width)
    for i in range(depth):
        b = f"blocks.{i}."
        state |= {
            b + "norm1.weight": 1 + rand(width),
            b + "norm1.bias": rand(width),
            b + "attn.qkv.weight": rand(3 * width, width),
            b + "attn.qkv.bias": rand(3 * width),
            b + "attn.proj.weight": rand(width, width),
            b + "attn.proj.bias": rand(width),
            b + "ls1.gamma": rand(width),
            b + "norm2.weight": 1 + rand(width),
            b + "norm2.bias": rand(width),
            b + "ls2.gamma": rand(width),
        }
        if swiglu:
            state |= {
                b + "mlp.w12.weight": rand(2 * hidden, width),
                b + "mlp.w12.bias": rand(2 * hidden),
                b + "mlp.w3.weight": rand(width, hidden),
                b + "mlp.w3.bias": rand(width),
            }
        else:
            state |= {
                b + "mlp.fc1.weight": rand(hidden, width),
                b + "mlp.fc1.bias": rand(hidden),
                b + "mlp.fc2.weight": rand(width, hidden),
                b + "mlp.fc2.bias": rand(width),
            }
    return state
