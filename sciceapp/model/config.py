"""Network configuration: one dataclass, the presets in one table, defaults merged in one place.

The JSON layout is the one of SCICEVPR.md ("Configuration"). Two keys are ours on top of it:
``architecture`` (``"scicevpr"``, or ``"dinov2-gem"`` for the training-free baseline) and
``teacher_encoder_layers`` (the depth of the cross-image encoder of the teacher, 2 in the paper).
The backbone also takes ``interpolate_offset`` / ``interpolate_antialias``, which default to
what the official DINOv2 code uses for that kind of backbone (0.1 / no antialias without
register tokens, 0.0 / antialias with them).
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_REGIONS = 14
ARCHITECTURES = ("scicevpr", "dinov2-gem")
FFN_KINDS = ("mlp", "swiglu")

_BASE_BACKBONE = {
    "embed_dim": 768,
    "depth": 12,
    "num_heads": 12,
    "patch_size": 14,
    "pos_grid": 37,
    "num_register_tokens": 0,
    "ffn": "mlp",
    "mlp_ratio": 4,
}

# Every key of a configuration with its default (the base variant). A dict or JSON file only
# needs the keys it changes; `_merge` fills in the rest.
DEFAULTS: dict[str, Any] = {
    "architecture": "scicevpr",
    "backbone": _BASE_BACKBONE,
    "image_size": 224,
    "fused_layers": [8, 9, 10, 11],
    "fusion_dim": 768,
    "token_mixers": 2,
    "token_mixer_ratio": 1,
    "encoder_layers": 1,
    "teacher_encoder_layers": 2,
    "encoder_heads": 16,
    "encoder_ff_dim": 2048,
    "gem_p": 3.0,
}

PRESETS: dict[str, dict[str, Any]] = {
    "scicevpr-b": {},
    "scicevpr-l": {
        "backbone": {"embed_dim": 1024, "depth": 24, "num_heads": 16},
        "fused_layers": [20, 21, 22, 23],
        "fusion_dim": 1024,
    },
    "tiny": {
        "backbone": {"embed_dim": 96, "depth": 12, "num_heads": 6},
        "fusion_dim": 96,
        "encoder_heads": 4,
        "encoder_ff_dim": 256,
    },
    "dinov2-gem-b": {
        "architecture": "dinov2-gem",
        "fused_layers": [11],
        "fusion_dim": 768,
        "token_mixers": 0,
        "encoder_layers": 0,
        "teacher_encoder_layers": 0,
        "encoder_heads": 0,
        "encoder_ff_dim": 0,
    },
    # The same baseline on ViT-S/14 (384 wide): a quarter of the compute, for slow machines.
    "dinov2-gem-s": {
        "architecture": "dinov2-gem",
        "backbone": {"embed_dim": 384, "depth": 12, "num_heads": 6},
        "fused_layers": [11],
        "fusion_dim": 384,
        "token_mixers": 0,
        "encoder_layers": 0,
        "teacher_encoder_layers": 0,
        "encoder_heads": 0,
        "encoder_ff_dim": 0,
    },
}


@dataclass(frozen=True)
class BackboneConfig:
    """The DINOv2 ViT: ``embed_dim`` wide, ``depth`` blocks, trained on a ``pos_grid`` squared grid."""

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    pos_grid: int
    num_register_tokens: int
    ffn: str
    mlp_ratio: float
    interpolate_offset: float
    interpolate_antialias: bool


@dataclass(frozen=True)
class SciceConfig:
    """Everything that fixes a network's shape. ``descriptor_dim`` = 14 x ``fusion_dim``."""

    backbone: BackboneConfig
    image_size: int
    fused_layers: tuple[int, ...]
    fusion_dim: int
    token_mixers: int
    token_mixer_ratio: float
    encoder_layers: int
    teacher_encoder_layers: int
    encoder_heads: int
    encoder_ff_dim: int
    gem_p: float
    architecture: str = "scicevpr"

    @property
    def grid_size(self) -> int:
        """Patch tokens per side at ``image_size`` (16 at 224 px with patch 14)."""
        return self.image_size // self.backbone.patch_size

    @property
    def descriptor_dim(self) -> int:
        return NUM_REGIONS * self.fusion_dim

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what `get_config` reads back)."""
        out = asdict(self)
        out["fused_layers"] = list(self.fused_layers)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SciceConfig:
        return _from_merged(_merge(data))


def _merge(data: dict[str, Any]) -> dict[str, Any]:
    """Fill in every missing key from DEFAULTS; unknown keys raise ValueError."""
    if not isinstance(data, dict):
        raise ValueError(
            f"A network configuration must be a JSON object, not {type(data).__name__}."
        )
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown configuration key(s) {unknown}; allowed keys: {sorted(DEFAULTS)}."
        )
    merged = copy.deepcopy(DEFAULTS)
    for key, value in data.items():
        if key == "backbone":
            if not isinstance(value, dict):
                raise ValueError("'backbone' must be a JSON object of backbone settings.")
            merged["backbone"] = {**merged["backbone"], **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"'{name}' must be an integer >= {minimum}, got {value!r}.")
    return value


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"'{name}' must be a positive number, got {value!r}.")
    return float(value)


def _backbone_from(data: dict[str, Any]) -> BackboneConfig:
    allowed = set(_BASE_BACKBONE) | {"interpolate_offset", "interpolate_antialias"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"Unknown backbone key(s) {unknown}; allowed: {sorted(allowed)}.")
    embed_dim = _int("backbone.embed_dim", data["embed_dim"], 1)
    num_heads = _int("backbone.num_heads", data["num_heads"], 1)
    if embed_dim % num_heads:
        raise ValueError(
            f"backbone.embed_dim ({embed_dim}) must be divisible by backbone.num_heads ({num_heads})."
        )
    if data["ffn"] not in FFN_KINDS:
        raise ValueError(f"backbone.ffn must be one of {list(FFN_KINDS)}, got {data['ffn']!r}.")
    registers = _int("backbone.num_register_tokens", data["num_register_tokens"], 0)
    # The official code resamples with a +0.1 scale-factor kludge and no antialiasing for the
    # original models, and with an exact output size and antialiasing for the _reg4 models.
    offset = data.get("interpolate_offset", 0.0 if registers else 0.1)
    antialias = data.get("interpolate_antialias", bool(registers))
    if isinstance(offset, bool) or not isinstance(offset, int | float) or offset < 0:
        raise ValueError(f"backbone.interpolate_offset must be a number >= 0, got {offset!r}.")
    if not isinstance(antialias, bool):
        raise ValueError(
            f"backbone.interpolate_antialias must be true or false, got {antialias!r}."
        )
    return BackboneConfig(
        embed_dim=embed_dim,
        depth=_int("backbone.depth", data["depth"], 1),
        num_heads=num_heads,
        patch_size=_int("backbone.patch_size", data["patch_size"], 1),
        pos_grid=_int("backbone.pos_grid", data["pos_grid"], 1),
        num_register_tokens=registers,
        ffn=data["ffn"],
        mlp_ratio=_positive("backbone.mlp_ratio", data["mlp_ratio"]),
        interpolate_offset=float(offset),
        interpolate_antialias=antialias,
    )


def _from_merged(data: dict[str, Any]) -> SciceConfig:
    backbone = _backbone_from(data["backbone"])
    architecture = data["architecture"]
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"'architecture' must be one of {list(ARCHITECTURES)}, got {architecture!r}."
        )
    image_size = _int("image_size", data["image_size"], 1)
    if image_size % backbone.patch_size:
        raise ValueError(
            f"image_size ({image_size}) must be a multiple of backbone.patch_size ({backbone.patch_size})."
        )
    if image_size // backbone.patch_size < 3:
        raise ValueError("image_size must give at least a 3x3 token grid for the 3x3 regions.")
    layers = data["fused_layers"]
    if not isinstance(layers, list | tuple) or not layers:
        raise ValueError("'fused_layers' must be a non-empty list of block indices.")
    for index in layers:
        _int("fused_layers[]", index, 0)
        if index >= backbone.depth:
            raise ValueError(
                f"fused_layers {list(layers)} name block {index}, but the backbone has only "
                f"{backbone.depth} blocks (0..{backbone.depth - 1})."
            )
    if len(set(layers)) != len(layers):
        raise ValueError(f"fused_layers {list(layers)} repeats a block.")
    config = SciceConfig(
        backbone=backbone,
        image_size=image_size,
        fused_layers=tuple(layers),
        fusion_dim=_int("fusion_dim", data["fusion_dim"], 1),
        token_mixers=_int("token_mixers", data["token_mixers"], 0),
        token_mixer_ratio=_positive("token_mixer_ratio", data["token_mixer_ratio"]),
        encoder_layers=_int("encoder_layers", data["encoder_layers"], 0),
        teacher_encoder_layers=_int("teacher_encoder_layers", data["teacher_encoder_layers"], 0),
        encoder_heads=_int("encoder_heads", data["encoder_heads"], 0),
        encoder_ff_dim=_int("encoder_ff_dim", data["encoder_ff_dim"], 0),
        gem_p=_positive("gem_p", data["gem_p"]),
        architecture=architecture,
    )
    _check_head(config)
    return config


def _check_head(config: SciceConfig) -> None:
    if config.architecture == "dinov2-gem":
        expected = config.backbone.embed_dim * len(config.fused_layers)
        if config.fusion_dim != expected:
            raise ValueError(
                f"The dinov2-gem baseline pools the backbone tokens directly: fusion_dim must be "
                f"embed_dim x len(fused_layers) = {expected}, got {config.fusion_dim}."
            )
        if config.token_mixers or config.encoder_layers or config.teacher_encoder_layers:
            raise ValueError(
                "The dinov2-gem baseline has no token mixers and no encoder: set them to 0."
            )
        return
    if config.encoder_layers < 1 or config.teacher_encoder_layers < 1:
        raise ValueError("encoder_layers and teacher_encoder_layers must be >= 1 for SciceVPR.")
    if config.encoder_heads < 1 or config.fusion_dim % config.encoder_heads:
        raise ValueError(
            f"fusion_dim ({config.fusion_dim}) must be divisible by encoder_heads "
            f"({config.encoder_heads})."
        )
    if config.encoder_ff_dim < 1:
        raise ValueError("encoder_ff_dim must be >= 1.")
    positions = config.grid_size**2
    if int(positions * config.token_mixer_ratio) < 1:
        raise ValueError(f"token_mixer_ratio {config.token_mixer_ratio} leaves no hidden units.")


def get_config(source: str | Path | dict[str, Any] | SciceConfig) -> SciceConfig:
    """A preset name, a dict of keys, a path to a JSON file, or a config (returned as is).

    Unknown preset names raise ValueError listing the presets.
    """
    if isinstance(source, SciceConfig):
        return source
    if isinstance(source, dict):
        return SciceConfig.from_dict(source)
    if isinstance(source, str) and source in PRESETS:
        return SciceConfig.from_dict(PRESETS[source])
    path = Path(source)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"Configuration file {path} does not exist.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"Configuration file {path} is not readable JSON: {exc}") from None
        return SciceConfig.from_dict(data)
    raise ValueError(
        f"Unknown preset {str(source)!r}; choose one of {sorted(PRESETS)} or give a JSON file."
    )


def preset_name(config: SciceConfig) -> str | None:
    """The preset this configuration equals, or None for a custom one."""
    for name in PRESETS:
        if get_config(name) == config:
            return name
    return None
