"""Cluster test fixtures: the torch-free toy model (tests/toy_models.py), and one local Ray
(2 CPUs) shared by a module's tests (starting Ray costs seconds on this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_models import build_toy_model

RAY_CPUS = 2


@pytest.fixture
def toy_model(tmp_path: Path) -> Path:
    return build_toy_model(tmp_path / "toy.onnx")


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for the tests of one module; ``cluster index`` uses it as is."""
    import ray  # the dev extra includes the cluster extra: a missing Ray is a failure

    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
