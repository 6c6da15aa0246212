"""Which network an export builds and with which weights: a preset, a configuration or
one of our checkpoints (which records its network), loaded from the weight files given, or
random weights only when a demo model is asked for; its label, variant and normalisation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sciceapp.errors import ModelError, WeightsMissingError
from sciceapp.export import parity
from sciceapp.export.job import Steps

CUSTOM_LABEL = "custom SciceVPR"
TRAINING_FREE_LABEL = "training-free baseline"
TRAINING_FREE_ARCHITECTURE = "dinov2-gem"


@dataclass(frozen=True)
class Source:
    """The network to export and where its weights came from."""

    network: object
    variant: str
    label: str
    config: dict
    random_init: bool
    weights_sha256: dict[str, str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def build_source(
    preset: str | None,
    config: str | os.PathLike[str] | dict | None,
    checkpoint: str | os.PathLike[str] | None,
    backbone_weights: str | os.PathLike[str] | None,
    random_init: bool,
    seed: int | None,
    steps: Steps,
) -> Source:
    from sciceapp import model
    from sciceapp.engine.manifests import find_manifest

    checkpoint_read = None  # the checkpoint as read for its configuration: not read twice
    try:
        if preset is None and config is None:
            cfg, checkpoint_read = _config_from_checkpoint(model, checkpoint)
        else:
            cfg = model.get_config(preset if preset is not None else _config_arg(config))
    except ValueError as exc:
        raise ModelError(str(exc)) from exc
    # A configuration file that equals a preset is that preset (same label and variant).
    preset = preset if preset is not None else model.preset_name(cfg)
    manifest = find_manifest(preset) if preset is not None else None
    # The training-free baseline has no trained parts: the backbone file is all it needs.
    training_free = cfg.architecture == TRAINING_FREE_ARCHITECTURE
    weights = [Path(p) for p in (backbone_weights, checkpoint) if p is not None]
    # Only a full checkpoint (or the backbone, for a training-free network) gives real weights.
    has_real_weights = checkpoint is not None or (training_free and backbone_weights is not None)
    if not has_real_weights and not random_init:
        raise WeightsMissingError(_missing_weights_message(preset or "custom", training_free))
    for path in weights:
        if not path.is_file():
            raise WeightsMissingError(f"Weight file {path} does not exist; check the path.")

    network = model.build(cfg, teacher=False, seed=seed)
    hashes: dict[str, str] = {}
    # A checkpoint trained on a random-weight backbone (`sciceapp train --random-init`) holds
    # trained parts, but is no more accurate than its backbone: still a demo model.
    trained_on_random = False
    for path in weights:
        steps.next(f"loading {path.name}")
        read = checkpoint_read if path == Path(checkpoint or "") else None
        report = model.load_checkpoint(network, path, read=read)
        hashes[path.name] = report.sha256
        trained_on_random |= bool(report.extra.get("random_init"))
    if not weights:
        steps.next("random weights (demo, not accurate)")
    network.eval()
    if manifest is not None:
        label = manifest.label
    else:
        label = TRAINING_FREE_LABEL if training_free else CUSTOM_LABEL
    return Source(
        network=network,
        variant=preset if preset is not None else "custom",
        label=label,
        config=cfg.to_dict(),
        random_init=not has_real_weights or trained_on_random,
        weights_sha256=hashes,
        mean=tuple(manifest.mean) if manifest else parity.IMAGENET_MEAN,
        std=tuple(manifest.std) if manifest else parity.IMAGENET_STD,
    )


def _config_from_checkpoint(
    model: object, checkpoint: str | os.PathLike[str] | None
) -> tuple[object, object]:
    """Neither a preset nor a config file: only our own checkpoints say what network they hold.
    Returns the configuration and the checkpoint as read."""
    if checkpoint is None:
        raise ModelError("Say which network to export: --preset NAME or --config FILE.json.")
    if not Path(checkpoint).is_file():
        raise WeightsMissingError(f"Weight file {checkpoint} does not exist; check the path.")
    cfg, read = model.checkpoint_config(checkpoint)
    if cfg is None:
        raise ModelError(
            f"{Path(checkpoint).name} does not record its network (the authors' and DINOv2 "
            "files don't): add --preset NAME or --config FILE.json."
        )
    return cfg, read


def _config_arg(config: str | os.PathLike[str] | dict) -> str | dict:
    return config if isinstance(config, dict) else str(config)


def _missing_weights_message(name: str, training_free: bool) -> str:
    if training_free:
        return (
            f"{name} needs the official DINOv2 backbone: fetch it with `sciceapp model fetch` "
            "and add --backbone-weights FILE.pth (or add --random-init for a demo model that "
            "is not accurate)."
        )
    return (
        f"No trained weights for {name}: add --checkpoint CKPT (a SciceVPR checkpoint from "
        "`sciceapp train` or the authors' release), or --random-init for a demo model that "
        "is not accurate."
    )
