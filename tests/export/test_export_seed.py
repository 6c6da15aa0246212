"""A random-weight (demo) export is reproducible: the seed defaults to a fixed value and is
recorded in the model's metadata."""

from __future__ import annotations

import inspect

from sciceapp.cli import build_parser
from sciceapp.engine.onnx_proto import read_metadata_props
from sciceapp.export import export_onnx


def test_the_seed_has_a_fixed_default_and_is_recorded(tiny_onnx_model, tmp_path):
    args = build_parser().parse_args(
        ["model", "export", "--preset", "tiny", "--random-init", "-o", str(tmp_path / "m.onnx")]
    )
    assert args.seed == 0
    assert inspect.signature(export_onnx).parameters["seed"].default == 0
    assert read_metadata_props(tiny_onnx_model)["sciceapp.seed"] == "0"
