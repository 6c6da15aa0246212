"""Shared model fixtures (tiny ONNX models built at test time). Owned by the export work.

Loaded by tests/conftest.py as a pytest plugin, so engine, GUI and export tests share one
export per test session instead of paying for torch.export in every test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SEED = 0


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` preset with random weights (seed 0), exported once: fp32, 1344-d, 224 px.

    Read-only for tests: copy it before changing it. Its metadata says ``random_init`` true.
    """
    from sciceapp.export import export_onnx

    path = tmp_path_factory.mktemp("tiny-model") / "tiny.onnx"
    export_onnx(path, preset="tiny", random_init=True, seed=TINY_SEED)
    return path
