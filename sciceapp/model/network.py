"""SciceVPR (student), Super-CricaVPR (teacher) and the training-free DINOv2 + GeM baseline.

Wan et al., "SciceVPR: Stable Cross-Image Correlation Enhanced Model for Visual Place
Recognition" (arXiv 2502.20676). Module names give the authors' checkpoint keys once their
``module.`` prefix is stripped: ``backbone.dino_model.*``, ``conv.*``, ``tokenmix.<k>.*``,
``gem.p``, ``encoder.layers.<j>.*``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sciceapp.model.config import NUM_REGIONS, SciceConfig
from sciceapp.model.gem import GeM
from sciceapp.model.token_mixer import TokenMixer
from sciceapp.model.vit import DinoVisionTransformer

ENCODER_DROPOUT = 0.1
# Official checkpoints are trained with LayerScale and loaded over this value; it only shapes
# random-weight networks (see docs/model.md for why 1.0 and not DINOv2's training value 1e-5).
LAYERSCALE_INIT = 1.0


class DinoBackbone(nn.Module):
    """``[B, 3, S, S] -> [B, D * len(layers), S/p, S/p]``: chosen blocks, normed, concatenated."""

    def __init__(self, config: SciceConfig) -> None:
        super().__init__()
        bb = config.backbone
        self.layers = tuple(config.fused_layers)
        self.dino_model = DinoVisionTransformer(
            embed_dim=bb.embed_dim,
            depth=bb.depth,
            num_heads=bb.num_heads,
            patch_size=bb.patch_size,
            pos_grid=bb.pos_grid,
            num_register_tokens=bb.num_register_tokens,
            ffn=bb.ffn,
            mlp_ratio=bb.mlp_ratio,
            interpolate_offset=bb.interpolate_offset,
            interpolate_antialias=bb.interpolate_antialias,
            layerscale_init=LAYERSCALE_INIT,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.dino_model.get_intermediate_layers(x, self.layers, reshape=True, norm=True)
        return torch.cat(maps, dim=1)


class _Network(nn.Module):
    """What every network here shares: config, backbone, descriptor size, export preparation."""

    config: SciceConfig
    backbone: DinoBackbone
    teacher: bool = False

    @property
    def descriptor_dim(self) -> int:
        return self.config.descriptor_dim

    def prepare_for_export(self) -> _Network:
        """Eval mode, and the position table resampled once for ``image_size`` and stored as a
        constant, so an exported graph holds no interpolation. Call after loading weights."""
        self.eval()
        self.backbone.dino_model.bake_pos_embed(self.config.image_size)
        return self


class SciceVPR(_Network):
    """``[B, 3, S, S] -> [B, 14 * fusion_dim]``, L2-normalised.

    Student (``teacher=False``): every regional vector goes through the encoder on its own
    (sequence length 1), so an image's descriptor never depends on the rest of the batch.
    Teacher (``teacher=True``, Super-CricaVPR): for each region index the vectors of all B
    images form one sequence, so the images of a batch attend to each other.
    """

    def __init__(self, config: SciceConfig, *, teacher: bool = False) -> None:
        super().__init__()
        self.config = config
        self.teacher = teacher
        dim = config.fusion_dim
        in_channels = config.backbone.embed_dim * len(config.fused_layers)
        self.backbone = DinoBackbone(config)
        self.conv = nn.Conv2d(in_channels, dim, kernel_size=1)
        self.relu = nn.ReLU()
        positions = config.grid_size**2
        self.tokenmix = nn.Sequential(
            *(
                TokenMixer(channels=dim, positions=positions, ratio=config.token_mixer_ratio)
                for _ in range(config.token_mixers)
            )
        )
        self.gem = GeM(grid=config.grid_size, p=config.gem_p, learnable=True)
        layer = nn.TransformerEncoderLayer(
            d_model=dim,
            nhead=config.encoder_heads,
            dim_feedforward=config.encoder_ff_dim,
            dropout=ENCODER_DROPOUT,
            activation="gelu",
            batch_first=False,
        )
        depth = config.teacher_encoder_layers if teacher else config.encoder_layers
        self.encoder = nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)

    def regional_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S] -> [B, 14, C]``: fused, mixed and pooled, before the encoder."""
        fused = self.relu(self.conv(self.backbone(x)))  # [B, C, g, g]
        batch, channels, grid, _ = fused.shape
        mixed = self.tokenmix(fused.flatten(2))  # [B, C, g*g]
        return self.gem(mixed.reshape(batch, channels, grid, grid))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        regional = self.regional_features(x)  # [B, 14, C]
        batch, regions, channels = regional.shape
        if self.teacher:
            # sequence = the B images, batch = the 14 regions (batch_first=False)
            encoded = self.encoder(regional)
        else:
            # sequence of length 1, batch = B * 14 vectors
            encoded = self.encoder(regional.reshape(1, batch * regions, channels))
        return F.normalize(encoded.reshape(batch, regions * channels), p=2, dim=-1)


class DinoGem(_Network):
    """Training-free baseline ``[B, 3, S, S] -> [B, 14 * D * len(layers)]``: the chosen blocks'
    normed patch tokens through the 14-region GeM with a fixed p, concatenated, L2-normalised."""

    def __init__(self, config: SciceConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = DinoBackbone(config)
        self.gem = GeM(grid=config.grid_size, p=config.gem_p, learnable=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        regional = self.gem(self.backbone(x))  # [B, 14, C]
        return F.normalize(
            regional.reshape(regional.shape[0], NUM_REGIONS * regional.shape[2]), dim=-1
        )
