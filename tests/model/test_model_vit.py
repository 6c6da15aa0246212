"""The DINOv2 ViT: official key layout, multi-layer output, position-table resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_support import official_dinov2_state

from sciceapp.model import build
from sciceapp.model.vit import DinoVisionTransformer, resample_pos_embed
from sciceapp.model.vit.ffn import swiglu_hidden


def _shapes(state):
    return {key: tuple(value.shape) for key, value in state.items()}


def test_key_names_and_shapes_match_the_official_layout():
    vit = DinoVisionTransformer(embed_dim=96, depth=3, num_heads=6)
    assert _shapes(vit.state_dict()) == _shapes(official_dinov2_state(width=96, depth=3))


def test_register_variant_matches_the_reg4_layout():
    vit = DinoVisionTransformer(embed_dim=96, depth=2, num_heads=6, num_register_tokens=4)
    assert _shapes(vit.state_dict()) == _shapes(
        official_dinov2_state(width=96, depth=2, registers=4)
    )


def test_swiglu_variant_matches_the_giant_layout():
    # ViT-g/14's checkpoint: mlp.w12 is [8192, 1536] and mlp.w3 [1536, 4096].
    assert swiglu_hidden(1536, 4) == 4096
    vit = DinoVisionTransformer(embed_dim=96, depth=2, num_heads=6, ffn="swiglu")
    expected = official_dinov2_state(width=96, depth=2, swiglu=True, ffn_hidden=256)
    assert _shapes(vit.state_dict()) == _shapes(expected)


def test_official_state_loads_strictly_and_changes_the_output():
    vit = DinoVisionTransformer(embed_dim=96, depth=3, num_heads=6).eval()
    x = torch.randn(1, 3, 224, 224)
    before = vit(x)
    state = official_dinov2_state(width=96, depth=3, seed=3)
    vit.load_state_dict(state, strict=True)
    assert torch.equal(vit.blocks[2].mlp.fc2.weight, state["blocks.2.mlp.fc2.weight"])
    assert not torch.allclose(before, vit(x))


def test_intermediate_layers_shapes_and_selection():
    vit = DinoVisionTransformer(embed_dim=96, depth=4, num_heads=6, num_register_tokens=4).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        last_two = vit.get_intermediate_layers(x, 2, reshape=True)
        listed = vit.get_intermediate_layers(x, [2, 3], reshape=True)
        flat = vit.get_intermediate_layers(x, [3], return_class_token=True, norm=False)
    assert [tuple(t.shape) for t in last_two] == [(2, 96, 16, 16)] * 2
    for a, b in zip(last_two, listed, strict=True):
        assert torch.equal(a, b)
    patches, cls = flat[0]
    assert patches.shape == (2, 256, 96) and cls.shape == (2, 96)  # registers dropped
    # reshape puts token r * 16 + c at row r, column c; norm=True is the final LayerNorm
    assert torch.allclose(vit.norm(patches)[:, 16 * 3 + 5], last_two[1][:, :, 3, 5], atol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        vit.get_intermediate_layers(x, [4])


def _cubic_weights(t: float, a: float = -0.75) -> list[float]:
    """Keys' cubic convolution weights for the 4 neighbours at offset t in [0, 1)."""

    def w(d: float) -> float:
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        if d < 2:
            return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
        return 0.0

    return [w(t + 1), w(t), w(1 - t), w(2 - t)]


def _bicubic_matrix(size_in: int, size_out: int, scale: float) -> np.ndarray:
    """Rows: output positions; source coordinate (o + 0.5) / scale - 0.5, borders clamped."""
    m = np.zeros((size_out, size_in))
    for o in range(size_out):
        src = (o + 0.5) / scale - 0.5
        base = math.floor(src)
        for k, weight in enumerate(_cubic_weights(src - base)):
            m[o, min(max(base - 1 + k, 0), size_in - 1)] += weight
    return m


def test_resampling_37_to_16_matches_a_hand_computed_bicubic():
    dim = 5
    table = torch.randn(1, 1 + 37 * 37, dim, generator=torch.Generator().manual_seed(1))
    out = resample_pos_embed(table, 16, offset=0.1, antialias=False)
    assert out.shape == (1, 1 + 16 * 16, dim)
    assert torch.equal(out[:, 0], table[:, 0])
    m = _bicubic_matrix(37, 16, (16 + 0.1) / 37)  # the official scale factor, not 16/37
    grid = table[0, 1:].double().numpy().reshape(37, 37, dim)
    expected = np.einsum("ri,ijd,cj->rcd", m, grid, m).reshape(256, dim)
    assert np.abs(out[0, 1:].double().numpy() - expected).max() < 1e-5
    # With the exact output size the numbers differ: the +0.1 is not cosmetic.
    by_size = _bicubic_matrix(37, 16, 16 / 37)
    other = np.einsum("ri,ijd,cj->rcd", by_size, grid, by_size).reshape(256, dim)
    assert np.abs(other - expected).max() > 1e-3


def test_register_backbones_resample_to_the_exact_size_with_antialias():
    table = torch.randn(1, 1 + 37 * 37, 3)
    out = resample_pos_embed(table, 16, offset=0.0, antialias=True)
    grid = table[:, 1:].reshape(1, 37, 37, 3).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(16, 16), mode="bicubic", antialias=True)
    assert torch.allclose(out[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 256, 3))


def test_baked_table_removes_interpolation_and_keeps_the_output(monkeypatch, images):
    network = build("tiny", seed=0)
    x = images[:2]
    with torch.no_grad():
        before = network(x)
    network.prepare_for_export()
    assert network.backbone.dino_model.baked_pos_embed.shape == (1, 257, 96)

    def refuse(*args, **kwargs):
        raise AssertionError("interpolate called after baking")

    monkeypatch.setattr(F, "interpolate", refuse)
    with torch.no_grad():
        after = network(x)
    assert torch.equal(before, after)
    assert "baked_pos_embed" not in network.state_dict()
