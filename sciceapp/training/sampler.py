"""Place-balanced batches: P distinct places per batch, every place once per epoch."""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch


class PlaceBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields lists of ``places_per_batch`` place indices (a shuffled partition of all places).

    The order depends only on (seed, epoch), so ``start_batch`` can skip the batches a resumed
    run has already trained on. A last, smaller batch keeps every place in the epoch (it is
    dropped with ``drop_last``); a lone leftover place joins the batch before it instead,
    since a batch of one place has no negatives to learn from.
    """

    def __init__(
        self, num_places: int, places_per_batch: int, seed: int = 0, drop_last: bool = False
    ) -> None:
        if num_places < 2:
            raise ValueError("Place-balanced batches need at least 2 places.")
        self.num_places = num_places
        self.places_per_batch = min(places_per_batch, num_places)
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start_batch = start_batch

    def batches(self) -> list[list[int]]:
        order = list(range(self.num_places))
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        size = self.places_per_batch
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        if len(batches) > 1 and len(batches[-1]) < size:
            if self.drop_last:
                batches.pop()
            elif len(batches[-1]) == 1:
                batches[-2].extend(batches.pop())
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.start_batch :]

    def __len__(self) -> int:
        return len(self.batches()) - self.start_batch


def flatten_batch(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[P, 4, 3, S, S], [P, 4] -> [P*4, 3, S, S], [P*4]`` (a place's images stay adjacent)."""
    return images.flatten(0, 1), labels.flatten()
