"""The names and shapes of every weight of a network, from its configuration alone (no torch).

The structural check of a downloaded backbone, the torch-free ONNX builder and the torch-free
import of the authors' checkpoints all compare a file against these tables; the PyTorch
networks of this package have exactly these ``state_dict`` entries (tests/model checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sciceapp.model.config import BackboneConfig, SciceConfig, get_config

Shape = tuple[int, ...]

# The official DINOv2 backbones (facebookresearch/dinov2 hub names) and their shapes; the
# ``_reg4`` ones add 4 register tokens.
OFFICIAL_BACKBONES: dict[str, dict[str, Any]] = {
    "dinov2_vits14": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "dinov2_vitb14": {"embed_dim": 768, "depth": 12, "num_heads": 12},
    "dinov2_vitl14": {"embed_dim": 1024, "depth": 24, "num_heads": 16},
    "dinov2_vitg14": {"embed_dim": 1536, "depth": 40, "num_heads": 24, "ffn": "swiglu"},
}
for _name in list(OFFICIAL_BACKBONES):
    OFFICIAL_BACKBONES[f"{_name}_reg4"] = {**OFFICIAL_BACKBONES[_name], "num_register_tokens": 4}
del _name


def official_backbone(name: str) -> BackboneConfig:
    """The backbone configuration of an official file name (``dinov2_vitb14``, ``..._reg4``)."""
    if name not in OFFICIAL_BACKBONES:
        raise ValueError(
            f"Unknown backbone {name!r}; choose one of: {', '.join(OFFICIAL_BACKBONES)}"
        )
    return get_config({"backbone": OFFICIAL_BACKBONES[name]}).backbone


def ffn_hidden(bb: BackboneConfig) -> int:
    """Hidden width of a block's feed-forward part (SwiGLU: the official rounded width)."""
    if bb.ffn == "swiglu":
        return (int(int(bb.embed_dim * bb.mlp_ratio) * 2 / 3) + 7) // 8 * 8
    return int(bb.embed_dim * bb.mlp_ratio)


def backbone_shapes(bb: BackboneConfig) -> dict[str, Shape]:
    """Every tensor of an official DINOv2 file, by its name in that file."""
    d, hidden = bb.embed_dim, ffn_hidden(bb)
    shapes: dict[str, Shape] = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 1 + bb.pos_grid**2, d),
        "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, bb.patch_size, bb.patch_size),
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
    }
    if bb.num_register_tokens:
        shapes["register_tokens"] = (1, bb.num_register_tokens, d)
    if bb.ffn == "swiglu":
        ffn = {"mlp.w12.weight": (2 * hidden, d), "mlp.w12.bias": (2 * hidden,),
               "mlp.w3.weight": (d, hidden), "mlp.w3.bias": (d,)}  # fmt: skip
    else:
        ffn = {"mlp.fc1.weight": (hidden, d), "mlp.fc1.bias": (hidden,),
               "mlp.fc2.weight": (d, hidden), "mlp.fc2.bias": (d,)}  # fmt: skip
    for i in range(bb.depth):
        block = {
            "norm1.weight": (d,), "norm1.bias": (d,),
            "attn.qkv.weight": (3 * d, d), "attn.qkv.bias": (3 * d,),
            "attn.proj.weight": (d, d), "attn.proj.bias": (d,),
            "ls1.gamma": (d,), "norm2.weight": (d,), "norm2.bias": (d,), "ls2.gamma": (d,),
            **ffn,
        }  # fmt: skip
        shapes.update({f"blocks.{i}.{key}": shape for key, shape in block.items()})
    return shapes


def head_shapes(config: SciceConfig) -> dict[str, Shape]:
    """The SciceVPR student's parts after the backbone, by their names in the authors' files
    (without ``module.``): 1x1 conv, token mixers, GeM p, the encoder layers."""
    if config.architecture == "dinov2-gem":
        return {}
    c = config.fusion_dim
    in_channels = config.backbone.embed_dim * len(config.fused_layers)
    positions = config.grid_size**2
    hidden = int(positions * config.token_mixer_ratio)
    shapes: dict[str, Shape] = {"conv.weight": (c, in_channels, 1, 1), "conv.bias": (c,),
                                "gem.p": (1,)}  # fmt: skip
    for k in range(config.token_mixers):
        shapes.update({
            f"tokenmix.{k}.norm.weight": (c,), f"tokenmix.{k}.norm.bias": (c,),
            f"tokenmix.{k}.mix.0.weight": (hidden, positions), f"tokenmix.{k}.mix.0.bias": (hidden,),
            f"tokenmix.{k}.mix.2.weight": (positions, hidden), f"tokenmix.{k}.mix.2.bias": (positions,),
        })  # fmt: skip
    ff = config.encoder_ff_dim
    for j in range(config.encoder_layers):
        shapes.update({
            f"encoder.layers.{j}.self_attn.in_proj_weight": (3 * c, c),
            f"encoder.layers.{j}.self_attn.in_proj_bias": (3 * c,),
            f"encoder.layers.{j}.self_attn.out_proj.weight": (c, c),
            f"encoder.layers.{j}.self_attn.out_proj.bias": (c,),
            f"encoder.layers.{j}.linear1.weight": (ff, c), f"encoder.layers.{j}.linear1.bias": (ff,),
            f"encoder.layers.{j}.linear2.weight": (c, ff), f"encoder.layers.{j}.linear2.bias": (c,),
            f"encoder.layers.{j}.norm1.weight": (c,), f"encoder.layers.{j}.norm1.bias": (c,),
            f"encoder.layers.{j}.norm2.weight": (c,), f"encoder.layers.{j}.norm2.bias": (c,),
        })  # fmt: skip
    return shapes


def mismatch(shapes: Mapping[str, Shape], state: Mapping[str, Any], *, source: str) -> str | None:
    """None when ``state`` (name -> array) has exactly ``shapes``; else what differs, in words."""
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    wrong = sorted(
        f"{key} {tuple(state[key].shape)} instead of {shapes[key]}"
        for key in set(shapes) & set(state)
        if tuple(state[key].shape) != tuple(shapes[key])
    )
    if not (missing or unexpected or wrong):
        return None
    parts = []
    for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            parts.append(f"{label}: {', '.join(names[:3])}{more}")
    return f"{source} does not have the expected weights ({'; '.join(parts)})"
