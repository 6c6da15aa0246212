"""Synthetic datasets and one trained teacher, built once per session (tests only read them).

The network is the ``tiny`` preset made smaller still for speed: 112 px (an 8x8 token
grid) and a 4-block backbone fusing all 4 blocks.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from synthetic import make_gsv_cities, make_vpr_split

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


@pytest.fixture(scope="session")
def gsv_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_gsv_cities(tmp_path_factory.mktemp("gsv"), places=TRAIN_PLACES)


@pytest.fixture(scope="session")
def vpr_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synth`` with ``val`` and ``test`` splits: fresh photos of the training places."""
    root = tmp_path_factory.mktemp("vpr")
    make_vpr_split(root, "synth", "val", VAL_PLACES)
    make_vpr_split(root, "synth", "test", VAL_PLACES)
    return root


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


@dataclass
class TrainedTeacher:
    report: object  # TrainReport
    untrained_recall1: float
    initial_state: dict[str, torch.Tensor]
    output_dir: Path


@pytest.fixture(scope="session")
def trained_teacher(gsv_root, vpr_root, tmp_path_factory) -> TrainedTeacher:
    from sciceapp.engine.evaluation import evaluate, read_split
    from sciceapp.model import build
    from sciceapp.training.describe import torch_describer
    from sciceapp.training.stages import TeacherStage
    from sciceapp.training.trainer import fit

    network = build(small_config(), teacher=True, seed=0)
    initial = {k: v.clone() for k, v in network.state_dict().items()}
    split = read_split(vpr_root, "synth", "val")
    describe = torch_describer(network, IMAGE_SIZE, 16, torch.device("cpu"))
    untrained = evaluate(describe, split).recalls[1]
    out = tmp_path_factory.mktemp("teacher")
    options = train_options(gsv_root, vpr_root, out, max_steps=TEACHER_STEPS)
    report = fit(TeacherStage(network), options, IMAGE_SIZE)
    return TrainedTeacher(report, untrained, initial, out)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny tensors on a shared 2-core machine: one thread is many times faster than two
    fighting over cores with every other process."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
