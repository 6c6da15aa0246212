"""Device choice and mixed precision: autocast only on CUDA (bf16 where supported, else fp16)."""

from __future__ import annotations

import contextlib
import logging

import torch

from sciceapp.errors import SciceappError

log = logging.getLogger(__name__)
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def select_device(name: str = "auto") -> torch.device:
    """``auto`` takes the GPU when there is one; asking for ``cuda`` without one is an error."""
    if name not in DEVICE_CHOICES:
        raise ValueError(f"Unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    if name == "cuda" and not torch.cuda.is_available():
        raise SciceappError(
            "--device cuda was asked for but PyTorch sees no CUDA GPU here; "
            "use --device cpu (slow) or check the GPU driver with `nvidia-smi`."
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    log.info("training device: %s", name)
    return torch.device(name)


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``device``: None (full precision) off CUDA."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    dtype = amp_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler that is active only for fp16 (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype(device) == torch.float16)
