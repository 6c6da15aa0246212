"""A DINOv2-compatible Vision Transformer from plain PyTorch operations.

Parameter names equal those of the official checkpoints (``dinov2_vit{s,b,l,g}14[_reg4]``), so
those files load with strict key checking. One building block per module, as in the official
``layers/`` folder; the model itself is in `vision_transformer`.
"""

from sciceapp.model.vit.pos_embed import resample_pos_embed
from sciceapp.model.vit.vision_transformer import (
    DinoVisionTransformer,
    vit_base,
    vit_giant2,
    vit_large,
    vit_small,
)

__all__ = [
    "DinoVisionTransformer",
    "resample_pos_embed",
    "vit_base",
    "vit_giant2",
    "vit_large",
    "vit_small",
]
