"""Fixtures for the model tests: tiny networks and state dicts in the official layouts."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def images() -> torch.Tensor:
    """Six different normalised-looking images ``[6, 3, 224, 224]``."""
    return torch.randn(6, 3, 224, 224, generator=torch.Generator().manual_seed(7))
