"""Checks that an ONNX file computes what it should: against PyTorch, or against another export."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

# An fp32 export must match PyTorch to within float rounding.
FP32_MAX_ABS_DIFF = 1e-4
FP32_MIN_COSINE = 0.99999
VERIFY_SEED = 20250227
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Agreement:
    """How close two sets of descriptors are: worst element and worst row."""

    max_abs_diff: float
    min_cosine: float


def random_images(
    count: int, image_size: int, mean: list[float], std: list[float], seed: int = VERIFY_SEED
) -> np.ndarray:
    """Uniform random pixels, normalised like real photos: float32 ``[count, 3, S, S]``."""
    rng = np.random.default_rng(seed)
    pixels = rng.random((count, 3, image_size, image_size), dtype=np.float32)
    mean_arr = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std_arr = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
    return (pixels - mean_arr) / std_arr


def compare(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    """``[B, D]`` vs ``[B, D]``: max absolute difference and minimum row-wise cosine."""
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    cosine = (ref * cand).sum(axis=1) / np.maximum(norms, 1e-12)
    return Agreement(max_abs_diff=float(np.abs(ref - cand).max()), min_cosine=float(cosine.min()))


def cpu_session(path: str | os.PathLike[str], threads: int | None = None):
    """An ONNX Runtime CPU session (all graph optimisations on)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path: str | os.PathLike[str], images: np.ndarray, batch_size: int = 4) -> np.ndarray:
    """Descriptors ``[B, D]`` of ``images`` ``[B, 3, S, S]`` from an ONNX file on the CPU."""
    session = cpu_session(path)
    parts = [
        session.run(["descriptors"], {"images": images[start : start + batch_size]})[0]
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts, axis=0)
