"""Constants and helpers the training tests share (a module of its own: pytest's
``conftest`` name is taken by every test folder).

The network is the ``tiny`` preset made smaller still for speed: 112 px (an 8x8 token
grid) and a 4-block backbone fusing all 4 blocks.
"""

from __future__ import annotations

import copy
from pathlib import Path

TRAIN_PLACES = 24
# validation queries and database are new photos of the training places (never trained on)
VAL_PLACES = range(TRAIN_PLACES)
TEST_CONFIG = {
    "backbone": {"embed_dim": 96, "depth": 4, "num_heads": 6},
    "image_size": 112,
    "fused_layers": [0, 1, 2, 3],
    "fusion_dim": 96,
    "encoder_heads": 4,
    "encoder_ff_dim": 256,
}
IMAGE_SIZE = TEST_CONFIG["image_size"]
PLACES_PER_BATCH = 8
TEACHER_STEPS = 30
TEACHER_LR = 1e-3


def small_config() -> dict:
    return copy.deepcopy(TEST_CONFIG)


def train_options(gsv_root: Path, vpr_root: Path | None, out: Path, **changes):
    """Options for a short CPU run on the synthetic data (validation on ``vpr_root``)."""
    from sciceapp.training.trainer import TrainOptions

    values = dict(
        dataset_root=gsv_root,
        output_dir=out,
        epochs=100,
        lr=TEACHER_LR,
        places_per_batch=PLACES_PER_BATCH,
        val_dataset_root=vpr_root,
        val_dataset="synth" if vpr_root is not None else None,
        device="cpu",
        random_init=True,
    )
    return TrainOptions(**{**values, **changes})
