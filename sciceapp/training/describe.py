"""Descriptors from a PyTorch network for a list of image paths, in order, in fixed batches.

The batches hold only the paths given, in the order given: a cross-image network (the
teacher) therefore mixes queries only with queries, and batch size and order are exactly
what the caller chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sciceapp.engine.evaluation import Describer
from sciceapp.progress import CancelToken, ProgressFn
from sciceapp.training.device import autocast
from sciceapp.training.gsv_cities import load_rgb
from sciceapp.training.transforms import eval_transform


class _PathImages(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[Path], image_size: int) -> None:
        self.paths = list(paths)
        self.transform = eval_transform(image_size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(load_rgb(self.paths[index]))


def torch_describer(
    network: torch.nn.Module,
    image_size: int,
    batch_size: int,
    device: torch.device,
    num_workers: int = 0,
) -> Describer:
    """A describer for :func:`sciceapp.engine.evaluation.evaluate`: paths -> float32 ``[N, D]``."""

    def describe(
        paths: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        loader = torch.utils.data.DataLoader(
            _PathImages(paths, image_size),
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
        )
        was_training = network.training
        network.eval()
        out: list[np.ndarray] = []
        done = 0
        try:
            with torch.no_grad():
                for images in loader:
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    with autocast(device):
                        descriptors = network(images.to(device))
                    out.append(descriptors.float().cpu().numpy())
                    done += len(images)
                    if progress is not None:
                        progress(done, len(paths), "describing images")
        finally:
            network.train(was_training)
        return np.concatenate(out).astype(np.float32, copy=False)

    return describe
