"""Cluster test fixtures: the engine tests' torch-free toy model, and one local Ray (2 CPUs)
shared by a module's tests (starting Ray costs seconds on this machine)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_ENGINE_FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "conftest.py"
_spec = importlib.util.spec_from_file_location("engine_fixtures", _ENGINE_FIXTURES)
engine_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine_fixtures)
build_toy_model = engine_fixtures.build_toy_model
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
