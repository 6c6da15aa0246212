"""The DINOv2 ViT (Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision").

Written from plain operations; parameter names, shapes and the initialisation follow the
official model so that its ``*_pretrain.pth`` files load strictly. Keyword-only factories
(`vit_small` ... `vit_giant2`) sit over one private builder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sciceapp.model.vit.block import LAYER_NORM_EPS, Block
from sciceapp.model.vit.patch_embed import PatchEmbed
from sciceapp.model.vit.pos_embed import resample_pos_embed

INIT_STD = 0.02
TOKEN_INIT_STD = 1e-6


class DinoVisionTransformer(nn.Module):
    """``[B, 3, S, S]`` images to tokens ``[B, 1 + R + (S/p)^2, D]`` per block.

    ``R`` register tokens sit between the class token and the patch tokens, as in the official
    ``_reg4`` models.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        depth: int,
        num_heads: int,
        patch_size: int = 14,
        pos_grid: int = 37,
        num_register_tokens: int = 0,
        ffn: str = "mlp",
        mlp_ratio: float = 4.0,
        interpolate_offset: float = 0.1,
        interpolate_antialias: bool = False,
        layerscale_init: float = 1.0,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.interpolate_offset = interpolate_offset
        self.interpolate_antialias = interpolate_antialias
        self.patch_embed = PatchEmbed(patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pos_grid * pos_grid, embed_dim))
        if num_register_tokens:
            self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
        else:
            self.register_tokens = None
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # unused here; kept for the keys
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                ffn=ffn,
                mlp_ratio=mlp_ratio,
                layerscale_init=layerscale_init,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=LAYER_NORM_EPS)
        # A resampled table for one grid size, set by `bake_pos_embed` (not saved in state_dict).
        self.register_buffer("baked_pos_embed", None, persistent=False)
        self.baked_image_size: int | None = None
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=INIT_STD)
        nn.init.normal_(self.cls_token, std=TOKEN_INIT_STD)
        if self.register_tokens is not None:
            nn.init.normal_(self.register_tokens, std=TOKEN_INIT_STD)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=INIT_STD)
                nn.init.zeros_(module.bias)

    def pos_embed_for(self, grid: int) -> torch.Tensor:
        """The position table for a ``grid x grid`` token grid: ``[1, 1 + grid^2, D]``."""
        baked = self.baked_pos_embed
        if baked is not None and baked.shape[1] == 1 + grid * grid:
            return baked
        return resample_pos_embed(
            self.pos_embed,
            grid,
            offset=self.interpolate_offset,
            antialias=self.interpolate_antialias,
        )

    def bake_pos_embed(self, image_size: int) -> None:
        """Store the table resampled for ``image_size`` px as a constant (no resize op at export).

        Call again after loading other weights; `unbake_pos_embed` goes back to resampling.
        """
        if image_size % self.patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of {self.patch_size}.")
        with torch.no_grad():
            self.baked_pos_embed = None
            table = self.pos_embed_for(image_size // self.patch_size).detach().clone()
        self.baked_pos_embed = table
        self.baked_image_size = image_size

    def unbake_pos_embed(self) -> None:
        self.baked_pos_embed = None
        self.baked_image_size = None

    def prepare_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W] -> [B, 1 + R + HW/p^2, D]`` with positions added (square images)."""
        batch, _, height, width = x.shape
        if height != width or height % self.patch_size:
            raise ValueError(
                f"Images must be square with a side that is a multiple of {self.patch_size} px, "
                f"got {height}x{width}."
            )
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.expand(batch, -1, -1), tokens), dim=1)
        tokens = tokens + self.pos_embed_for(height // self.patch_size)
        if self.register_tokens is not None:
            registers = self.register_tokens.expand(batch, -1, -1)
            tokens = torch.cat((tokens[:, :1], registers, tokens[:, 1:]), dim=1)
        return tokens

    def get_intermediate_layers(
        self,
        x: torch.Tensor,
        n: int | Sequence[int] = 1,
        *,
        reshape: bool = False,
        return_class_token: bool = False,
        norm: bool = True,
    ) -> tuple:
        """Outputs of the last ``n`` blocks (an int) or of the blocks listed in ``n``.

        Each output: patch tokens ``[B, HW, D]``, or ``[B, D, H, W]`` with ``reshape``; through
        the final LayerNorm with ``norm``; paired with the class token ``[B, D]`` with
        ``return_class_token``. Blocks after the last one asked for are not run.
        """
        depth = len(self.blocks)
        wanted = list(range(depth - n, depth)) if isinstance(n, int) else list(n)
        if not wanted or min(wanted) < 0 or max(wanted) >= depth:
            raise ValueError(f"Block indices {wanted} are outside 0..{depth - 1}.")
        grid = x.shape[-1] // self.patch_size
        tokens = self.prepare_tokens(x)
        kept: dict[int, torch.Tensor] = {}
        for index, block in enumerate(self.blocks[: max(wanted) + 1]):
            tokens = block(tokens)
            if index in wanted:
                kept[index] = tokens
        outputs = []
        for index in wanted:
            out = self.norm(kept[index]) if norm else kept[index]
            cls = out[:, 0]
            patches = out[:, 1 + self.num_register_tokens :]
            if reshape:
                # [B, HW, D] -> [B, D, H, W]
                patches = patches.reshape(-1, grid, grid, self.embed_dim).permute(0, 3, 1, 2)
                patches = patches.contiguous()
            outputs.append((patches, cls) if return_class_token else patches)
        return tuple(outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S] -> [B, D]``: the normalised class token of the last block."""
        tokens = self.prepare_tokens(x)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def _build(*, embed_dim: int, depth: int, num_heads: int, **kwargs) -> DinoVisionTransformer:
    return DinoVisionTransformer(embed_dim=embed_dim, depth=depth, num_heads=num_heads, **kwargs)


def vit_small(**kwargs) -> DinoVisionTransformer:
    """ViT-S/14: 384 wide, 12 blocks, 6 heads."""
    return _build(embed_dim=384, depth=12, num_heads=6, **kwargs)


def vit_base(**kwargs) -> DinoVisionTransformer:
    """ViT-B/14: 768 wide, 12 blocks, 12 heads."""
    return _build(embed_dim=768, depth=12, num_heads=12, **kwargs)


def vit_large(**kwargs) -> DinoVisionTransformer:
    """ViT-L/14: 1024 wide, 24 blocks, 16 heads."""
    return _build(embed_dim=1024, depth=24, num_heads=16, **kwargs)


def vit_giant2(**kwargs) -> DinoVisionTransformer:
    """ViT-g/14: 1536 wide, 40 blocks, 24 heads, SwiGLU feed-forward."""
    kwargs.setdefault("ffn", "swiglu")
    return _build(embed_dim=1536, depth=40, num_heads=24, **kwargs)
