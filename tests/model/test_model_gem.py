"""Regional GeM: the 14 regions in the spec's order and cuts, computed by hand."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sciceapp.model.gem import GeM, regions

# SCICEVPR.md: whole; 2x2 cut at 8; 3x3 cut at 5 and 11; cells row by row.
SPEC_REGIONS_16 = [
    (slice(0, 16), slice(0, 16)),
    (slice(0, 8), slice(0, 8)),
    (slice(0, 8), slice(8, 16)),
    (slice(8, 16), slice(0, 8)),
    (slice(8, 16), slice(8, 16)),
    (slice(0, 5), slice(0, 5)),
    (slice(0, 5), slice(5, 11)),
    (slice(0, 5), slice(11, 16)),
    (slice(5, 11), slice(0, 5)),
    (slice(5, 11), slice(5, 11)),
    (slice(5, 11), slice(11, 16)),
    (slice(11, 16), slice(0, 5)),
    (slice(11, 16), slice(5, 11)),
    (slice(11, 16), slice(11, 16)),
]


def test_region_list_at_16():
    got = [(slice(r0, r1), slice(c0, c1)) for (r0, r1), (c0, c1) in regions(16)]
    assert got == SPEC_REGIONS_16


def test_regional_gem_against_a_hand_computation():
    x = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * 3 - 1  # some < 0
    gem = GeM(grid=16, p=3.0)
    out = gem(x)
    assert out.shape == (2, 14, 4)
    for index, (rows, cols) in enumerate(SPEC_REGIONS_16):
        cell = x[:, :, rows, cols].clamp(min=1e-6)
        pooled = (cell**3).sum(dim=(-2, -1)) / cell[0, 0].numel()
        expected = F.normalize(pooled ** (1 / 3), dim=-1)
        assert torch.allclose(out[:, index], expected, atol=1e-6), index
    assert torch.allclose(out.norm(dim=-1), torch.ones(2, 14))


def test_p_is_one_learnable_parameter_starting_at_3():
    gem = GeM(grid=16)
    assert [name for name, _ in gem.named_parameters()] == ["p"]
    assert gem.p.shape == (1,) and gem.p.item() == 3.0 and gem.p.requires_grad
    x = torch.rand(1, 2, 16, 16) + 0.1
    gem(x).sum().backward()
    assert gem.p.grad is not None and gem.p.grad.abs().item() > 0
    assert not GeM(grid=16, learnable=False).p.requires_grad
