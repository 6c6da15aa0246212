"""The torch-free tables and arithmetic agree with the PyTorch networks they describe."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sciceapp.export.pos_table import resample_pos_table
from sciceapp.model import build, get_config
from sciceapp.model.layout import (
    OFFICIAL_BACKBONES,
    backbone_shapes,
    head_shapes,
    mismatch,
    official_backbone,
)
from sciceapp.model.vit import DinoVisionTransformer
from sciceapp.model.vit.pos_embed import resample_pos_embed


@pytest.mark.parametrize("name", sorted(OFFICIAL_BACKBONES))
def test_backbone_table_is_the_networks_state_dict(name):
    bb = dataclasses.replace(official_backbone(name), depth=2)  # two blocks say it all
    network = DinoVisionTransformer(
        embed_dim=bb.embed_dim, depth=2, num_heads=bb.num_heads,
        num_register_tokens=bb.num_register_tokens, ffn=bb.ffn,
    )  # fmt: skip
    assert mismatch(backbone_shapes(bb), network.state_dict(), source=name) is None


@pytest.mark.parametrize("preset", ["tiny", "scicevpr-b"])
def test_head_table_is_the_students_state_dict(preset):
    state = build(preset).state_dict()
    head = {k: v for k, v in state.items() if not k.startswith("backbone.")}
    assert mismatch(head_shapes(get_config(preset)), head, source=preset) is None


def test_mismatch_names_what_differs():
    shapes = {"a": (2,), "b": (3, 3), "c": (1,)}
    text = mismatch(shapes, {"a": np.zeros(2), "b": np.zeros((3, 4)), "z": np.zeros(1)}, source="f")
    assert "missing: c" in text and "unexpected: z" in text and "b (3, 4) instead of (3, 3)" in text


@pytest.mark.parametrize(("offset", "antialias"), [(0.1, False), (0.0, True), (0.0, False)])
@pytest.mark.parametrize("grid", [16, 12, 5])
def test_numpy_position_resampling_equals_pytorchs(offset, antialias, grid):
    table = torch.randn(1, 1 + 37 * 37, 16, generator=torch.Generator().manual_seed(grid))
    expected = resample_pos_embed(table, grid, offset=offset, antialias=antialias).numpy()
    got = resample_pos_table(table.numpy(), grid, offset=offset, antialias=antialias)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 2e-5
