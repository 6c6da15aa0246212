"""Synthetic datasets and one trained teacher, built once per session (tests only read them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from training_support import (
    IMAGE_SIZE,
    TEACHER_STEPS,
    TRAIN_PLACES,
    VAL_PLACES,
    small_config,
    train_options,
)
from training_synthetic import make_gsv_cities, make_vpr_split


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
