"""`model import` of a model whose weights live in external data files copies them too (or
refuses, saying why), instead of copying only the .onnx and calling it imported."""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper
from toy_models import save_model, toy_metadata

from sciceapp.cli import main
from sciceapp.engine.onnx_model import Embedder

SIZE, DIM = 8, 12


def _external_model(folder, location="weights.bin"):
    """images [B,3,8,8] -> mean over pixels [B,3] -> MatMul [3,12] (external) -> L2-normalised."""
    weights = numpy_helper.from_array(np.arange(36, dtype=np.float32).reshape(3, DIM) + 1, "w")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], ["raw"]),
        helper.make_node("LpNormalization", ["raw"], ["descriptors"], axis=1, p=2),
    ]
    meta = toy_metadata(**{
        "sciceapp.variant": "custom", "sciceapp.label": "external test", "sciceapp.config": "{}",
        "sciceapp.descriptor_dim": str(DIM), "sciceapp.image_size": str(SIZE),
        "sciceapp.mean": "[0.5, 0.5, 0.5]", "sciceapp.std": "[0.5, 0.5, 0.5]",
    })  # fmt: skip
    path = folder / "ext.onnx"
    save_model(path, nodes, SIZE, DIM, meta, initializer=[weights], save_as_external_data=True,
               location=location, size_threshold=0)  # fmt: skip
    return path


def test_import_copies_the_external_weights_and_the_copy_runs(tmp_path, data_dir, capsys):
    source = _external_model(tmp_path)
    assert main(["model", "import", str(source)]) == 0
    assert "with its external weights weights.bin" in capsys.readouterr().out
    imported = data_dir / "models" / "ext.onnx"
    assert (data_dir / "models" / "weights.bin").read_bytes() == (
        tmp_path / "weights.bin"
    ).read_bytes()
    out = Embedder(imported).embed(np.ones((1, 3, SIZE, SIZE), np.float32))
    assert out.shape == (1, DIM) and np.isfinite(out).all()


def test_import_refuses_a_model_whose_weights_are_missing(tmp_path, data_dir, capsys):
    source = _external_model(tmp_path)
    (tmp_path / "weights.bin").unlink()
    assert main(["model", "import", str(source)]) == 2
    assert "weights.bin, which is not beside it" in capsys.readouterr().err
    assert not (data_dir / "models" / "ext.onnx").exists()
