"""The loss pieces against values worked out by hand from their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from sciceapp.training.losses import LossWeights, MultiSimilarity, distillation_loss

# 2-D unit vectors; labels 0, 0, 1, 1. Dot products:
# S01 = 0.6, S02 = 0.8, S03 = -1, S12 = 0.96, S13 = -0.6, S23 = -0.8
EMBEDDINGS = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [-1.0, 0.0]])
LABELS = torch.tensor([0, 0, 1, 1])


def _term(pos: list[float], neg: list[float], alpha=1.0, beta=50.0) -> float:
    return (1 / alpha) * math.log(1 + sum(math.exp(-alpha * s) for s in pos)) + (
        1 / beta
    ) * math.log(1 + sum(math.exp(beta * s) for s in neg))


def test_multi_similarity_loss_over_all_pairs():
    expected = (
        _term([0.6], [0.8, -1.0])
        + _term([0.6], [0.96, -0.6])
        + _term([-0.8], [0.8, 0.96])
        + _term([-0.8], [-1.0, -0.6])
    ) / 4
    loss = MultiSimilarity(mine=False)(EMBEDDINGS, LABELS)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_miner_keeps_only_hard_pairs():
    # epsilon 0.1: a negative is kept when S_an + 0.1 > the anchor's hardest positive,
    # a positive when S_ap - 0.1 < the anchor's hardest negative.
    ms = MultiSimilarity()
    a1, p, a2, n = ms.miner(EMBEDDINGS, LABELS)
    assert set(zip(a1.tolist(), p.tolist(), strict=True)) == {(0, 1), (1, 0), (2, 3), (3, 2)}
    assert set(zip(a2.tolist(), n.tolist(), strict=True)) == {
        (0, 2),
        (1, 2),
        (2, 0),
        (2, 1),
        (3, 1),
    }
    expected = (
        _term([0.6], [0.8])
        + _term([0.6], [0.96])
        + _term([-0.8], [0.8, 0.96])
        + _term([-0.8], [-0.6])
    ) / 4
    assert ms(EMBEDDINGS, LABELS).item() == pytest.approx(expected, rel=1e-5)


def test_miner_drops_easy_positive():
    # anchor 0's positive (S=0.99) is far more similar than its only negative (S=0): not mined
    e = torch.tensor([[1.0, 0.0], [0.99, math.sqrt(1 - 0.99**2)], [0.0, 1.0], [0.0, -1.0]])
    a1, p, a2, n = MultiSimilarity().miner(e, LABELS)
    assert (0, 1) not in set(zip(a1.tolist(), p.tolist(), strict=True))
    assert (0, 2) not in set(zip(a2.tolist(), n.tolist(), strict=True))


def test_distillation_loss_is_squared_error_per_image():
    student = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    teacher = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # (1 + 4) + (4 + 9) = 18 over a batch of 2
    assert distillation_loss(student, teacher).item() == pytest.approx(9.0)


def test_total_loss_weights():
    ms, distill = torch.tensor(2.0), torch.tensor(3.0)
    assert LossWeights().total(ms, distill).item() == pytest.approx(5.0)
    assert LossWeights(gamma=0.5, eta=2.0).total(ms, distill).item() == pytest.approx(7.0)
    assert LossWeights(gamma=0.5).total(ms).item() == pytest.approx(1.0)


def test_loss_has_gradients():
    generator = torch.Generator().manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(8, 16, generator=generator), dim=1)
    e.requires_grad_()
    MultiSimilarity()(e, torch.arange(4).repeat_interleave(2)).backward()
    assert e.grad is not None and e.grad.abs().sum() > 0
