"""Losses of the SciceVPR recipe: multi-similarity (with its miner) and distillation.

Multi-similarity loss: Wang et al., "Multi-Similarity Loss with General Pair Weighting for
Deep Metric Learning" (CVPR 2019), here through pytorch-metric-learning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pytorch_metric_learning import distances, losses, miners

MS_ALPHA = 1.0
MS_BETA = 50.0
MS_BASE = 0.0
MINER_EPSILON = 0.1


class MultiSimilarity(torch.nn.Module):
    """Mined multi-similarity loss: ``([B, D], [B]) -> scalar``."""

    def __init__(
        self,
        alpha: float = MS_ALPHA,
        beta: float = MS_BETA,
        base: float = MS_BASE,
        epsilon: float = MINER_EPSILON,
        mine: bool = True,
    ) -> None:
        super().__init__()
        self.miner = (
            miners.MultiSimilarityMiner(epsilon=epsilon, distance=distances.CosineSimilarity())
            if mine
            else None
        )
        self.loss = losses.MultiSimilarityLoss(
            alpha=alpha, beta=beta, base=base, distance=distances.DotProductSimilarity()
        )

    def forward(self, descriptors: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # similarities of near-identical descriptors need full precision, also under autocast
        with torch.autocast(descriptors.device.type, enabled=False):
            descriptors = descriptors.float()
            pairs = self.miner(descriptors, labels) if self.miner is not None else None
            return self.loss(descriptors, labels, pairs)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Sum of squared differences over the batch divided by the batch size: ``[B,D],[B,D] -> scalar``."""
    with torch.autocast(student.device.type, enabled=False):
        return (student.float() - teacher.float()).pow(2).sum() / student.shape[0]


@dataclass
class LossWeights:
    """Total loss L = gamma * L_MS + eta * L_D."""

    gamma: float = 1.0
    eta: float = 1.0

    def total(self, ms: torch.Tensor, distill: torch.Tensor | None = None) -> torch.Tensor:
        loss = self.gamma * ms
        if distill is not None:
            loss = loss + self.eta * distill
        return loss
