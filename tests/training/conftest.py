"""Synthetic datasets for the training tests, built once per session (they are read only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import make_gsv_cities, make_vpr_split

TRAIN_PLACES = 16
VAL_PLACES = range(1000, 1016)


@pytest.fixture(scope="session")
def gsv_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_gsv_cities(tmp_path_factory.mktemp("gsv"), places=TRAIN_PLACES)


@pytest.fixture(scope="session")
def vpr_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synth`` with a ``val`` and a ``test`` split of places never seen in training."""
    root = tmp_path_factory.mktemp("vpr")
    make_vpr_split(root, "synth", "val", VAL_PLACES)
    make_vpr_split(root, "synth", "test", VAL_PLACES, seed=0)
    return root
