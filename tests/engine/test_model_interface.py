"""One check of a model's interface (``model_info.info_from_props``) guards every command that
loads a model; and a descriptor with NaN never enters an index."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sciceapp.cli import main
from sciceapp.engine.index import VectorIndex
from sciceapp.engine.library import Library
from sciceapp.engine.pipeline import INVALID_DESCRIPTOR
from sciceapp.errors import ModelError

BAD_NORMALISATION = [
    {"sciceapp.mean": "[NaN, 0.456, 0.406]"},
    {"sciceapp.std": "[0.229, NaN, 0.225]"},
    {"sciceapp.mean": "[Infinity, 0.456, 0.406]"},
    {"sciceapp.std": "[0.229, 0.224, -Infinity]"},
    {"sciceapp.std": "[0.229, 0.224, 1e-30]"},
    {"sciceapp.mean": "[1e9, 0.456, 0.406]"},
    {"sciceapp.image_size": "100000"},
]


@pytest.mark.parametrize("override", BAD_NORMALISATION, ids=lambda o: json.dumps(o))
def test_a_model_with_unusable_normalisation_is_refused_by_every_command(
    tmp_path, model_builder, toy_model, make_photos, override, capsys
):
    bad = model_builder(tmp_path / "bad.onnx", model_builder.meta(**override))
    photo = make_photos(1)[0]
    with pytest.raises(ModelError, match="sciceapp.mean|sciceapp.std|image_size"):
        Library().create_collection("x", bad)
    # A collection whose model file was replaced by the bad one (same name, same path).
    Library().create_collection("c", toy_model)
    toy_model.write_bytes(bad.read_bytes())
    for argv in (
        ["collection", "create", "y", "--model", str(bad)],
        ["model", "info", str(bad)],
        ["model", "import", str(bad)],
        ["collection", "add", "c", str(photo), "-q"],
        ["locate", "-c", "c", str(photo), "-q"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "not a usable sciceapp model" in err or "not the one collection" in err, argv


def _nan_for_black_model(path, metadata, model_builder):
    """The toy model, but normalising by dividing by the L2 norm: a black photo with mean 0
    gives 0 / 0 = NaN (what a damaged or badly exported model does to some inputs)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(model_builder(path, metadata)))
    kept = [node for node in model.graph.node if node.op_type != "LpNormalization"]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    model.graph.node.append(helper.make_node("ReduceL2", ["flat"], ["norm"], axes=[1]))
    model.graph.node.append(helper.make_node("Div", ["flat", "norm"], ["descriptors"]))
    onnx.save(model, str(path))
    return path


def test_photos_whose_descriptor_is_nan_are_skipped_not_indexed(
    tmp_path, model_builder, make_photos
):
    plain = model_builder.meta(**{"sciceapp.mean": "[0, 0, 0]", "sciceapp.std": "[1, 1, 1]"})
    model = _nan_for_black_model(tmp_path / "nan.onnx", plain, model_builder)
    photos = make_photos(2)
    black = photos[0].parent / "black.jpg"
    Image.new("RGB", (64, 48)).save(black)
    collection = Library().create_collection("c", model)
    report = collection.add(photos + [black])
    assert report.added == 2
    assert report.skipped == [(str(black), INVALID_DESCRIPTOR)]
    assert np.isfinite(collection.index().stored_vectors()[1]).all()
    assert collection.index().ntotal == 2


def test_the_index_itself_refuses_nan():
    index = VectorIndex(4, "flat")
    with pytest.raises(ValueError, match="NaN"):
        index.add([1], np.array([[np.nan, 0, 0, 1]], np.float32))
    assert index.ntotal == 0
